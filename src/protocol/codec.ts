/**
 * The codec: with mqtt-packet-internals.ts (the one module that reaches into mqtt-packet's private
 * parser), the only module that imports mqtt-packet. It parses bytes into packets and encodes
 * packets into bytes for one protocol level.
 */
import mqttPacket from 'mqtt-packet';
import type * as P from 'mqtt-packet';
import { BrokerError } from '../errors.js';
import { connectDecoded, createParser, currentPacket, expectVersion, PROPERTY_TABLES, readPosition, useMqtt31Headers, type Parser, type ParserSink } from './mqtt-packet-internals.js';
import { readProperties } from './properties.js';
import { encodePlainPublish } from './publish-frame.js';

export type {
  Packet,
  QoS,
  IConnectPacket as ConnectPacket,
  IConnackPacket as ConnackPacket,
  IPublishPacket as PublishPacket,
  IPubackPacket as PubackPacket,
  IPubrecPacket as PubrecPacket,
  IPubrelPacket as PubrelPacket,
  IPubcompPacket as PubcompPacket,
  ISubscribePacket as SubscribePacket,
  ISubackPacket as SubackPacket,
  ISubscription as SubscriptionRequest,
  IUnsubscribePacket as UnsubscribePacket,
  IUnsubackPacket as UnsubackPacket,
  IDisconnectPacket as DisconnectPacket,
  IAuthPacket as AuthPacket,
  UserProperties,
} from 'mqtt-packet';

export type { ProtocolVersion } from '../model.js';
import type { ProtocolVersion } from '../model.js';

/**
 * What a Decoder reports to: the connection itself (methods on its prototype rather than an object
 * of closures per connection: about 150 bytes of every idle connection's heap).
 */
export interface DecoderEvents {
  /** A whole packet that passed the codec's checks. */
  packetDecoded(packet: P.Packet): void;
  /** Bytes that are not a valid packet; nothing more is decoded after this. */
  decodeFailed(err: Error): void;
}

// mqtt-packet pre-allocates a 2-byte Buffer for each of the 65,536 packet identifiers on first
// use (6 MB of heap) to save an allocation per acknowledgement; the broker encodes a packet once
// for all subscribers who can share it, so the cache buys little and costs a lot of memory.
mqttPacket.writeToStream.cacheNumbers = false;

/** The parser's property reader: properties.ts's stricter one, with mqtt-packet's tables. */
function strictParseProperties(this: Parser): Record<string, unknown> | false {
  return readProperties(this, PROPERTY_TABLES);
}

const NEEDS_PACKET_ID = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'unsubscribe']);

/**
 * The checks mqtt-packet leaves out; returns what is wrong with a decoded packet, or undefined.
 * `end` is how far the parser read: mqtt-packet reads two-byte fields and properties past the
 * Remaining Length (into the next packet, or yielding -1) instead of failing.
 */
function violation(packet: P.Packet, end: number): BrokerError | undefined {
  if (end > (packet.length ?? 0)) return malformed('fields run past the Remaining Length');
  // The Remaining Length counts the bytes of the packet's fields (MQTT 3.1.1 section 2.2.3, 5.0
  // section 2.1.4); only a PUBLISH ends in a payload that takes whatever is left. Bytes after the
  // last field of any other packet (a CONNECT, an acknowledgement, a PINGREQ...) make it malformed.
  if (end < (packet.length ?? 0) && packet.cmd !== 'publish') return malformed('bytes after the last field');
  if (NEEDS_PACKET_ID.has(packet.cmd) || (packet.cmd === 'publish' && packet.qos > 0)) {
    const id = (packet as { messageId?: number }).messageId ?? -1;
    if (id < 1) return malformed('Packet Identifier 0 or missing'); // [MQTT-2.3.1-1]
  }
  // MQTT 5 properties were checked as they were read (properties.ts)
  if (packet.cmd !== 'connect') return undefined;
  if ((packet.will?.qos ?? 0) > 2) return malformed('Will QoS 3'); // [MQTT-3.1.2-14]
  if (packet.protocolVersion === 4 && packet.password !== undefined && packet.username === undefined) {
    return malformed('Password Flag without User Name Flag'); // [MQTT-3.1.2-22] (5.0 allows it)
  }
  return undefined;
}

function malformed(detail: string): BrokerError {
  return new BrokerError('ERR_MALFORMED_PACKET', detail);
}


export class Decoder implements ParserSink {
  readonly #parser: Parser;
  readonly #events: DecoderEvents;

  /** `protocolVersion` is for a client (the MQTT bridge), which knows its level before any packet; a server's Decoder learns it from the CONNECT. */
  constructor(events: DecoderEvents, protocolVersion?: ProtocolVersion) {
    this.#events = events;
    this.#parser = createParser(strictParseProperties, this);
    if (protocolVersion !== undefined) expectVersion(this.#parser, protocolVersion);
  }

  /** From the parser: a decoded packet, checked for what mqtt-packet leaves out. */
  packet(packet: P.Packet): void {
    if (packet.cmd === 'connect') connectDecoded(this.#parser, packet);
    const problem = violation(packet, readPosition(this.#parser));
    if (problem !== undefined) {
      this.#events.decodeFailed(problem);
      return;
    }
    if (packet.cmd === 'connect' && packet.protocolVersion === 3) useMqtt31Headers(this.#parser);
    this.#events.packetDecoded(packet);
  }

  /** From the parser: its one error. */
  error(err: Error): void {
    this.#events.decodeFailed(err);
  }

  /** Feeds bytes; packets are reported synchronously through the events. */
  write(chunk: Buffer): void {
    this.#parser.parse(chunk);
  }

  /**
   * The protocol level of a CONNECT that failed to decode, once its level byte was read (so the
   * refusal can be a CONNACK of that level), or undefined.
   */
  get connectVersion(): number | undefined {
    const packet = currentPacket(this.#parser);
    return packet.cmd === 'connect' ? packet.protocolVersion : undefined;
  }

  /** Whole size (fixed header included) of the packet being received, or -1 when its header is not complete yet. */
  get pendingSize(): number {
    const length = currentPacket(this.#parser).length;
    return length < 0 ? -1 : packetSize(length);
  }
}

/** The size of a packet with this Remaining Length: type byte, length field and body (MQTT 5 Maximum Packet Size counts all three). */
export function packetSize(remainingLength: number): number {
  const lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remainingLength;
}

/** Encodes a packet for the given protocol level. */
export function encode(packet: P.Packet, protocolVersion: ProtocolVersion): Buffer {
  if (isPlainAck(packet)) return withPacketId(ACK_TEMPLATES[packet.cmd], packet.messageId as number, false);
  if (packet.cmd === 'publish') return encodePlainPublish(packet, protocolVersion) ?? mqttPacket.generate(packet, { protocolVersion });
  return mqttPacket.generate(packet, { protocolVersion });
}

type Ack = P.IPubackPacket | P.IPubrecPacket | P.IPubrelPacket | P.IPubcompPacket;

/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP with reason 0 and no properties are the same four bytes at
 * every protocol level (MQTT 5 omits a 0 reason code), packet id aside: mqtt-packet encodes each
 * once, here, and acknowledgements copy it (one per QoS 1/2 message, so this is a hot path).
 */
const ACK_TEMPLATES = {
  puback: mqttPacket.generate({ cmd: 'puback', messageId: 1, reasonCode: 0 }, { protocolVersion: 5 }),
  pubrec: mqttPacket.generate({ cmd: 'pubrec', messageId: 1, reasonCode: 0 }, { protocolVersion: 5 }),
  pubrel: mqttPacket.generate({ cmd: 'pubrel', messageId: 1, reasonCode: 0 }, { protocolVersion: 5 }),
  pubcomp: mqttPacket.generate({ cmd: 'pubcomp', messageId: 1, reasonCode: 0 }, { protocolVersion: 5 }),
} as const;

function isPlainAck(packet: P.Packet): packet is Ack {
  const { cmd } = packet;
  if (cmd !== 'puback' && cmd !== 'pubrec' && cmd !== 'pubrel' && cmd !== 'pubcomp') return false;
  const ack = packet as Ack;
  return (ack.reasonCode ?? 0) === 0 && ack.properties === undefined;
}

/**
 * A copy of an encoded PUBLISH (QoS 1/2) or acknowledgement with another packet id and DUP flag:
 * the only bytes in which the encodings of one message for several subscribers differ.
 */
export function withPacketId(encoded: Buffer, packetId: number, dup: boolean): Buffer {
  const out = Buffer.allocUnsafe(encoded.length);
  encoded.copy(out);
  let offset = 2;
  while (((encoded[offset - 1] as number) & 0x80) !== 0) offset++; // past the Remaining Length
  // A PUBLISH has its Topic Name before the packet id; an acknowledgement starts with it
  if ((encoded[0] as number) >> 4 === 3) {
    offset += 2 + encoded.readUInt16BE(offset);
    out[0] = dup ? (encoded[0] as number) | 0x08 : (encoded[0] as number) & ~0x08;
  }
  out.writeUInt16BE(packetId, offset);
  return out;
}
