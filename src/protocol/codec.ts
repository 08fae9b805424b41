/**
 * The codec: the only module that imports mqtt-packet.
 * It parses bytes into packets and encodes packets into bytes for one protocol level.
 */
import mqttPacket from 'mqtt-packet';
import type * as P from 'mqtt-packet';
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import { BrokerError } from '../errors.js';
import { ByteList } from './byte-list.js';
import { readProperties, type PropertyParser, type PropertyTables } from './properties.js';
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

/** mqtt-packet's Parser._resetState (after an error), with a ByteList as in the constructor. */
function resetState(this: RawParser): void {
  this.packet = new (this.packet.constructor as new () => RawParser['packet'])();
  this.error = null;
  this._list = new ByteList();
  this._stateCounter = 0;
}

/**
 * mqtt-packet's Parser.parse, line for line, without its `debug` calls. A disabled `debug` still
 * costs a call, a rest-argument array and an `enabled` getter, and this loop makes 10 of the 22
 * calls a one-chunk PUBLISH costs; without them Decoder.write of a 64-byte PUBLISH back to back
 * takes 1.15 µs instead of 1.45. The steps it runs are mqtt-packet's own (with
 * DEBUG=mqtt-packet:parser they still log; only this loop's progress lines are gone).
 */
function parse(this: RawParser, buf: Buffer): number {
  if (this.error) this._resetState();
  this._list.append(buf);
  const steps = this as unknown as Record<string, () => boolean>;
  while ((this.packet.length !== -1 || this._list.length > 0) && (steps[this._states[this._stateCounter] as string] as () => boolean)() && !this.error) {
    this._stateCounter++;
    if (this._stateCounter >= this._states.length) this._stateCounter = 0;
  }
  return this._list.length;
}

/** mqtt-packet's property tables, for the stricter property reader (properties.ts). */
const PROPERTY_TABLES = createRequire(import.meta.url)('mqtt-packet/constants.js') as PropertyTables;

function strictParseProperties(this: RawParser): Record<string, unknown> | false {
  return readProperties(this, PROPERTY_TABLES);
}

interface RawParser extends PropertyParser {
  on(event: 'packet', fn: (packet: P.Packet) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  parse(buf: Buffer): number;
  _states: readonly string[];
  /** What the parser reads to parse later packets: the protocol level and bridge mode of the CONNECT. */
  settings: { readonly protocolVersion?: number; readonly bridgeMode?: boolean };
  _stateCounter: number;
  _resetState(): void;
  _parseHeader(): boolean;
  _parseString(): string | null;
  _parseNum(): number;
  _parseProperties(): Record<string, unknown> | false;
  _list: ByteList;
  /** The Topic Name of the last PUBLISH and its bytes (see strictParseString). */
  _lastTopic: string | undefined;
  _lastTopicBytes: Uint8Array;
}

/**
 * Strict UTF-8: mqtt-packet decodes strings leniently (invalid bytes become U+FFFD),
 * but an MQTT string with ill-formed UTF-8 or U+0000 is a malformed packet
 * [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-1.5.4-1] [MQTT-1.5.4-2].
 */
function strictParseString(this: RawParser): string | null {
  const length = this._parseNum();
  const start = this._pos;
  const end = start + length;
  if (length === -1 || end > this._list.length || end > this.packet.length) return null;
  // A client publishes to the same topics again and again. When a PUBLISH's Topic Name (its first
  // field, at offset 2) has the bytes of the previous one, the string decoded and checked then is
  // reused: decoding alone costs about 1.8 µs at 1000 msg/s with cold caches, a comparison in JS
  // next to nothing, and the same string object needs no new hash in the topic tree's maps.
  const isTopic = this.packet.cmd === 'publish' && start === 2;
  if (isTopic && this._lastTopic !== undefined && this._list.matches(start, end, this._lastTopicBytes)) {
    this._pos = end;
    return this._lastTopic;
  }
  const result = this._list.toString('utf8', start, end);
  if (result.includes('\uFFFD') && !isUtf8(this._list.slice(start, end))) return null;
  if (result.includes('\u0000')) return null;
  if (isTopic) {
    this._lastTopic = result;
    // A copy in memory of its own: a view would keep the whole chunk alive, a pooled Buffer a whole
    // 8 KB pool slab (one per connection, idle ones included)
    this._lastTopicBytes = new Uint8Array(this._list.slice(start, end));
  }
  this._pos = end;
  return result;
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

/**
 * MQTT 3.1 sets DUP on a PUBREL, SUBSCRIBE or UNSUBSCRIBE it resends (3.1 section 2.1, "DUP flag"),
 * where 3.1.1 fixed those flags to 0010 [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]: a 3.1 client
 * that reconnects sends 0x6A and expects PUBCOMP. After a level-3 CONNECT these three bytes are read
 * as the packets they are (QoS 1, DUP set, as mqtt-packet would without its 3.1.1 check); anything
 * else, other levels included, goes to mqtt-packet's Parser._parseHeader.
 */
const RESENT_WITH_DUP_31: Readonly<Record<number, 'pubrel' | 'subscribe' | 'unsubscribe'>> = { 0x6a: 'pubrel', 0x8a: 'subscribe', 0xaa: 'unsubscribe' };

function parseHeader31(this: RawParser): boolean {
  const cmd = RESENT_WITH_DUP_31[this._list.readUInt8(0)];
  if (cmd === undefined) return (Object.getPrototypeOf(this) as RawParser)._parseHeader.call(this);
  Object.assign(this.packet, { cmd, qos: 1, dup: true, retain: false });
  this._list.consume(1);
  return true;
}

/**
 * The parser's steps, shared: mqtt-packet gives every parser an array of its own with the same
 * four names, and the parse loop only reads it.
 */
const PARSER_STATES: readonly string[] = Object.freeze(['_parseHeader', '_parseLength', '_parsePayload', '_newPacket']);

/** The last Topic Name's bytes before the first PUBLISH (see strictParseString); empty, so never written. */
const NO_BYTES = new Uint8Array(0);

/**
 * mqtt-packet keeps the whole CONNECT packet (client id, credentials, will) as its parser's
 * settings for the life of the connection, but reads only these two fields from it afterwards;
 * one frozen object per combination is shared by all connections.
 */
const PARSER_SETTINGS = [3, 4, 5].flatMap((protocolVersion) => [false, true].map((bridgeMode) => Object.freeze({ protocolVersion, bridgeMode })));

function parserSettings(packet: P.IConnectPacket): RawParser['settings'] {
  const bridgeMode = (packet as { bridgeMode?: boolean }).bridgeMode === true; // set by the parser, not in its types
  return PARSER_SETTINGS.find((s) => s.protocolVersion === packet.protocolVersion && s.bridgeMode === bridgeMode) ?? { protocolVersion: packet.protocolVersion, bridgeMode };
}

/** Streaming decoder for one connection. */
export class Decoder {
  readonly #parser: RawParser;

  constructor(events: DecoderEvents) {
    this.#parser = mqttPacket.parser({}) as unknown as RawParser;
    this.#parser._parseString = strictParseString;
    this.#parser._parseProperties = strictParseProperties;
    this.#parser._lastTopic = undefined;
    this.#parser._lastTopicBytes = NO_BYTES;
    this.#parser._states = PARSER_STATES;
    // mqtt-packet buffers input in a BufferListStream, a full Duplex stream per connection that is
    // never piped; the plain BufferList it extends has the same reading methods and costs a fraction
    // of the memory (an idle connection's footprint, see bench 'idle'). ByteList is that BufferList
    // with fast reads (see byte-list.ts).
    this.#parser._list = new ByteList();
    this.#parser._resetState = resetState;
    this.#parser.parse = parse;
    this.#parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') this.#parser.settings = parserSettings(packet);
      const problem = violation(packet, this.#parser._pos);
      if (problem !== undefined) {
        events.decodeFailed(problem);
        return;
      }
      // Only a 3.1 connection pays for the extra header check (an own property, like _parseString)
      if (packet.cmd === 'connect' && packet.protocolVersion === 3) this.#parser._parseHeader = parseHeader31;
      events.packetDecoded(packet);
    });
    this.#parser.on('error', (err) => events.decodeFailed(err));
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
    const packet = this.#parser.packet as { cmd?: string; protocolVersion?: number };
    return packet.cmd === 'connect' ? packet.protocolVersion : undefined;
  }

  /** Whole size (fixed header included) of the packet being received, or -1 when its header is not complete yet. */
  get pendingSize(): number {
    const length = this.#parser.packet.length;
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
