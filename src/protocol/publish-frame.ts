/**
 * The bytes of a PUBLISH without properties, written directly: the packet every QoS 0 fan-out
 * sends. mqtt-packet's generate builds an EventEmitter to collect a dozen small writes, logs each
 * through `debug` and copies them into one Buffer: encode() of a 64-byte QoS 0 PUBLISH back to
 * back took 925 ns that way and takes 356 ns here. Anything else (properties, values outside the
 * cases below) is left to mqtt-packet, and the tests compare the two byte for byte.
 */
import type { PublishPacket } from './codec.js';

/** The largest Remaining Length a Variable Byte Integer holds (MQTT 5 section 1.5.5). */
const MAX_REMAINING_LENGTH = 268_435_455;

/** The Fixed Header type of PUBLISH (3) in the upper four bits of the first byte. */
const PUBLISH_TYPE = 0x30;

/**
 * `packet` encoded for `version`, or undefined when it is not a plain PUBLISH this function
 * writes (one with properties, a non-Buffer payload, a bad QoS or packet id, an oversize topic).
 * `utf8`, when given, is the Topic Name already encoded (a caller that sends one topic again and
 * again keeps it: encoding a string is a call into C++, about 1.2 µs with cold caches).
 */
export function encodePlainPublish(packet: PublishPacket, version: number, utf8?: Uint8Array): Buffer | undefined {
  const { topic, payload, qos, messageId } = packet;
  if (packet.properties !== undefined || typeof topic !== 'string' || !Buffer.isBuffer(payload)) return undefined;
  if (qos !== 0 && qos !== 1 && qos !== 2) return undefined;
  if (qos > 0 && !(Number.isInteger(messageId) && (messageId as number) >= 0 && (messageId as number) <= 0xffff)) return undefined;
  const topicBytes = utf8 === undefined ? Buffer.byteLength(topic) : utf8.length;
  if (topicBytes > 0xffff) return undefined;
  // Topic Name, Packet Identifier (QoS 1/2), Property Length 0 (MQTT 5) and payload
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + payload.length;
  if (remaining > MAX_REMAINING_LENGTH) return undefined;
  const out = Buffer.allocUnsafe(1 + varIntSize(remaining) + remaining);
  out[0] = PUBLISH_TYPE | (packet.dup ? 0x08 : 0) | (qos << 1) | (packet.retain ? 0x01 : 0);
  let at = writeVarInt(out, 1, remaining);
  at = out.writeUInt16BE(topicBytes, at);
  if (utf8 === undefined) out.write(topic, at, topicBytes, 'utf8');
  else out.set(utf8, at);
  at += topicBytes;
  if (qos > 0) at = out.writeUInt16BE(messageId as number, at);
  if (version === 5) out[at++] = 0;
  out.set(payload, at); // TypedArray set rather than Buffer.copy, which calls into C++
  return out;
}

/** Bytes of a Variable Byte Integer holding `n` (MQTT 5 section 1.5.5). */
function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Writes `n` as a Variable Byte Integer at `at`; returns the offset after it. */
function writeVarInt(out: Buffer, at: number, n: number): number {
  let rest = n;
  do {
    const digit = rest % 128;
    rest = Math.floor(rest / 128);
    out[at++] = rest > 0 ? digit | 0x80 : digit;
  } while (rest > 0);
  return at;
}
