/**
 * The codec: the only module that imports mqtt-packet.
 * It parses bytes into packets and encodes packets into bytes for one protocol level.
 */
import mqttPacket from 'mqtt-packet';
import type * as P from 'mqtt-packet';
import { isUtf8 } from 'node:buffer';

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

/** MQTT protocol levels: 3 = 3.1, 4 = 3.1.1, 5 = 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

/** Callbacks a Decoder reports to. */
export interface DecoderEvents {
  packet(packet: P.Packet): void;
  error(err: Error): void;
}

interface RawParser {
  on(event: 'packet', fn: (packet: P.Packet) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  parse(buf: Buffer): number;
  packet: { length: number; cmd?: string };
  settings: { protocolVersion?: number };
  _parseString(): string | null;
  _parseNum(): number;
  _pos: number;
  _list: { length: number; slice(start: number, end: number): Buffer; toString(enc: 'utf8', start: number, end: number): string };
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
  const result = this._list.toString('utf8', start, end);
  if (result.includes('\uFFFD') && !isUtf8(this._list.slice(start, end))) return null;
  if (result.includes('\u0000')) return null;
  this._pos = end;
  return result;
}

/** Streaming decoder for one connection. */
export class Decoder {
  readonly #parser: RawParser;

  constructor(events: DecoderEvents) {
    this.#parser = mqttPacket.parser({}) as unknown as RawParser;
    this.#parser._parseString = strictParseString;
    this.#parser.on('packet', events.packet);
    this.#parser.on('error', events.error);
  }

  /** Feeds bytes; packets are reported synchronously through the events. */
  write(chunk: Buffer): void {
    this.#parser.parse(chunk);
  }

  /** Remaining length of the packet being received, or -1 when its header is not complete yet. */
  get pendingLength(): number {
    return this.#parser.packet.length;
  }

  /** The protocol level negotiated by the CONNECT seen so far (undefined before it). */
  get protocolVersion(): number | undefined {
    return this.#parser.settings.protocolVersion;
  }
}

/** Encodes a packet for the given protocol level. */
export function encode(packet: P.Packet, protocolVersion: ProtocolVersion): Buffer {
  return mqttPacket.generate(packet, { protocolVersion });
}
