/**
 * The one module that reaches into mqtt-packet's private parser internals. The codec replaces
 * parts of mqtt-packet's Parser for speed, memory and strictness: its parse loop (`parse`,
 * `_states`, `_stateCounter`, `_resetState`), its input buffer (`_list`, a ByteList instead of a
 * BufferListStream), its string reader (`_parseString`: strict UTF-8, and the last topic reused),
 * its property reader (`_parseProperties`, handed in from properties.ts), after a 3.1 CONNECT its
 * header reader (`_parseHeader`), and the CONNECT it keeps as `settings`. None of that is
 * mqtt-packet's public API, so it is written against one version, MQTT_PACKET_VERSION (pinned
 * in package.json): `shapeProblems()` lists every way an installed mqtt-packet differs from it,
 * and test/unit/mqtt-packet-internals.test.ts fails with that list after an upgrade.
 */
import mqttPacket from 'mqtt-packet';
import type * as P from 'mqtt-packet';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { ByteList } from './byte-list.js';

/** The mqtt-packet version this module is written against (package.json pins it exactly). */
export const MQTT_PACKET_VERSION = '9.0.2';

declare const opaque: unique symbol;
/** An mqtt-packet Parser; outside this module only its events and the functions below reach it. */
export interface Parser {
  readonly [opaque]: true;
  parse(buf: Buffer): number;
}

/** The packet a parser is reading (or has just decoded): its type, Remaining Length (-1 before it is known) and CONNECT fields. */
export interface PacketInProgress {
  cmd?: string;
  length: number;
  clientId?: string;
  protocolVersion?: number;
}

/** The private members of mqtt-packet 9.0.2's Parser that this module reads, writes or replaces. */
interface RawParser {
  on(event: 'packet', fn: (packet: P.Packet) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  parse(buf: Buffer): number;
  packet: PacketInProgress;
  error: Error | null;
  /** Read position inside the packet being read (past the fixed header). */
  _pos: number;
  _states: readonly string[];
  _stateCounter: number;
  /** What the parser reads to parse later packets: the protocol level and bridge mode of the CONNECT. */
  settings: { readonly protocolVersion?: number; readonly bridgeMode?: boolean };
  _list: ByteList;
  _resetState(): void;
  _parseHeader(): boolean;
  _parseString(): string | null;
  _parseNum(): number;
  _parseVarByteNum(): number | false;
  _parsePayload(): boolean;
  _parseMessageId(): boolean;
  _parseByte(): number | undefined;
  _parseByType(type: string): unknown;
  _parseProperties(): Record<string, unknown> | false;
  _emitError(err: Error): void;
  emit(event: string, arg: unknown): boolean;
  /** Where the parser's 'packet' and 'error' events go (see createParser); Midge's own. */
  _sink: ParserSink;
  /** The Topic Name of the last PUBLISH and its bytes (see strictParseString); Midge's own. */
  _lastTopic: string | undefined;
  _lastTopicBytes: Uint8Array;
}

function raw(parser: Parser): RawParser {
  return parser as unknown as RawParser;
}

/** mqtt-packet's property tables (constants.js): identifier → name, name → wire type. */
export interface PropertyTables {
  readonly propertiesCodes: Readonly<Record<number, string>>;
  readonly propertiesTypes: Readonly<Record<string, string>>;
}

const require = createRequire(import.meta.url);

/** mqtt-packet's property tables, for the stricter property reader (properties.ts). */
export const PROPERTY_TABLES = require('mqtt-packet/constants.js') as PropertyTables;

/**
 * Reads one MQTT 5 property block at the parser's position, through the functions below (it
 * replaces `_parseProperties`). One function shared by every parser: a closure per parser would
 * add to every idle connection's heap.
 */
export type PropertyReader = (this: Parser) => Record<string, unknown> | false;

/** A parser for one connection with Midge's replacements installed, `readProperties` among them. */
export function createParser(readProperties: PropertyReader, sink: ParserSink): Parser {
  const parser = mqttPacket.parser({}) as unknown as RawParser;
  // Events go to the sink through one shared function: a listener closure per event per
  // connection (with its context) was about 150 bytes of every idle connection's heap
  parser._sink = sink;
  parser.emit = emitToSink;
  parser._parseString = strictParseString;
  parser._parseProperties = readProperties as unknown as RawParser['_parseProperties'];
  parser._lastTopic = undefined;
  parser._lastTopicBytes = NO_BYTES;
  parser._states = PARSER_STATES;
  // mqtt-packet buffers input in a BufferListStream, a full Duplex stream per connection that is
  // never piped; the plain BufferList it extends has the same reading methods and costs a fraction
  // of the memory (an idle connection's footprint, see bench 'idle'). ByteList is that BufferList
  // with fast reads (see byte-list.ts).
  parser._list = new ByteList();
  parser._resetState = resetState;
  parser.parse = parse;
  return parser as unknown as Parser;
}

/**
 * The three steps every packet passes through (`_parseLength`, `_parsePayload` for a PUBLISH,
 * `_newPacket`), as mqtt-packet 9.0.2 writes them but without their `debug` calls. A disabled
 * `debug` still allocates its rest-argument array: a heap allocation profile of fan-in QoS 0
 * (bench/profiles/README.md) put 35% of all the bytes the broker allocated in these calls, which
 * fills the young generation faster, so more short-lived socket data is caught alive by a scavenge
 * and promoted. The parse loop calls them directly (no property per parser: see the idle connection's heap).
 */
function parseLength(this: RawParser): boolean {
  const result = readVarByteNumFull(this);
  if (result !== false) {
    this.packet.length = result.value;
    this._list.consume(result.bytes);
  }
  return result !== false;
}

/** mqtt-packet's `_parseVarByteNum(true)` without its two `debug` calls. */
function readVarByteNumFull(p: RawParser): { bytes: number; value: number } | false {
  const list = p._list;
  let bytes = 0;
  let mul = 1;
  let value = 0;
  let done = false;
  const padding = p._pos ? p._pos : 0;
  while (bytes < 4 && padding + bytes < list.length) {
    const current = list.readUInt8(padding + bytes++);
    value += mul * (current & 0x7f);
    mul *= 0x80;
    if ((current & 0x80) === 0) {
      done = true;
      break;
    }
    if (list.length <= bytes) break;
  }
  if (!done && bytes === 4 && list.length >= bytes) p._emitError(new Error('Invalid variable byte integer'));
  if (padding) p._pos += bytes;
  return done ? { bytes, value } : false;
}

/** A PUBLISH's payload step without `debug`; every other packet type goes to mqtt-packet's own. */
function parsePayload(this: RawParser): boolean {
  const packet = this.packet as PacketInProgress & { qos?: number; topic?: string | null; properties?: unknown; payload?: Buffer; messageId?: number };
  if (packet.cmd !== 'publish') return (Object.getPrototypeOf(this) as RawParser)._parsePayload.call(this);
  if (packet.length !== 0 && this._list.length < packet.length) return false;
  this._pos = 0;
  // mqtt-packet's _parsePublish
  packet.topic = this._parseString();
  if (packet.topic === null) {
    this._emitError(new Error('Cannot parse topic'));
    return true;
  }
  if ((packet.qos as number) > 0 && !this._parseMessageId()) return true;
  if (this.settings.protocolVersion === 5) {
    const properties = this._parseProperties();
    if (Object.getOwnPropertyNames(properties).length) packet.properties = properties;
  }
  packet.payload = this._list.slice(this._pos, packet.length);
  return true;
}

function newPacket(this: RawParser): boolean {
  if (this.packet) {
    this._list.consume(this.packet.length);
    this.emit('packet', this.packet);
  }
  this.packet = new (this.packet.constructor as new () => RawParser['packet'])();
  this._pos = 0;
  return true;
}

/** What a parser reports to: each decoded packet, and its one error (it stops at its first). */
export interface ParserSink {
  packet(packet: P.Packet): void;
  error(err: Error): void;
}

/** mqtt-packet's Parser emits 'packet' and 'error' only; both go straight to the parser's sink. */
function emitToSink(this: RawParser, event: string, arg: unknown): boolean {
  if (event === 'packet') this._sink.packet(arg as P.Packet);
  else if (event === 'error') this._sink.error(arg as Error);
  return true;
}

/** How far into the current packet the parser has read (past its fixed header). */
export function readPosition(parser: Parser): number {
  return raw(parser)._pos;
}

/** The packet being read (a decoded one until the next starts). */
export function currentPacket(parser: Parser): Readonly<PacketInProgress> {
  return raw(parser).packet;
}

/** True once the parser has reported an error (it stops at its first). */
export function hasFailed(parser: Parser): boolean {
  return raw(parser).error !== null;
}

/** Reports `err` as the parser's error ('error' event); the parser stops. */
export function failWith(parser: Parser, err: Error): void {
  raw(parser)._emitError(err);
}

/** Reads a Variable Byte Integer at the read position; false when it cannot be read. */
export function readVarByteNum(parser: Parser): number | false {
  return raw(parser)._parseVarByteNum();
}

/** Reads one byte at the read position; undefined when none is left. */
export function readByte(parser: Parser): number | undefined {
  return raw(parser)._parseByte();
}

/** Reads a property value of mqtt-packet wire type `type` ('pair', 'int16', 'var', 'string'...); see mqtt-packet's _parseByType. */
export function readByType(parser: Parser, type: string): unknown {
  return raw(parser)._parseByType(type);
}

/**
 * mqtt-packet keeps the whole CONNECT packet (client id, credentials, will) as its parser's
 * settings for the life of the connection, but reads only these two fields from it afterwards;
 * one frozen object per combination is shared by all connections.
 */
const PARSER_SETTINGS = [3, 4, 5].flatMap((protocolVersion) => [false, true].map((bridgeMode) => Object.freeze({ protocolVersion, bridgeMode })));

/** After a CONNECT is decoded: the parser keeps only what it reads later packets with (and, for 3.1, reads their headers as 3.1 does). */
export function connectDecoded(parser: Parser, packet: P.IConnectPacket): void {
  const bridgeMode = (packet as { bridgeMode?: boolean }).bridgeMode === true; // set by the parser, not in its types
  raw(parser).settings =
    PARSER_SETTINGS.find((s) => s.protocolVersion === packet.protocolVersion && s.bridgeMode === bridgeMode) ?? { protocolVersion: packet.protocolVersion, bridgeMode };
}

/** A client's parser: it reads packets as protocol level `protocolVersion` (a server's learns the level from the CONNECT). */
export function expectVersion(parser: Parser, protocolVersion: number): void {
  raw(parser).settings = PARSER_SETTINGS.find((s) => s.protocolVersion === protocolVersion && !s.bridgeMode) ?? { protocolVersion, bridgeMode: false };
}

/** After a valid 3.1 CONNECT: read the headers of 3.1's resent PUBREL, SUBSCRIBE and UNSUBSCRIBE (see parseHeader31). */
export function useMqtt31Headers(parser: Parser): void {
  // Only a 3.1 connection pays for the extra header check (an own property, like _parseString)
  raw(parser)._parseHeader = parseHeader31;
}

/** mqtt-packet's Parser._resetState (after an error), with a ByteList as in createParser. */
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
 * takes 1.15 µs instead of 1.45. Its steps (see step) are mqtt-packet's header reader and copies of
 * its length, PUBLISH payload and new-packet steps without `debug` (see parseLength); with
 * DEBUG=mqtt-packet:parser the other packets' steps still log.
 */
function parse(this: RawParser, buf: Buffer): number {
  if (this.error) this._resetState();
  this._list.append(buf);
  while ((this.packet.length !== -1 || this._list.length > 0) && step(this) && !this.error) {
    this._stateCounter++;
    if (this._stateCounter >= this._states.length) this._stateCounter = 0;
  }
  return this._list.length;
}

/** The parser's step `_stateCounter` (`_states`): its header reader (3.1's, see useMqtt31Headers) and the three above. */
function step(p: RawParser): boolean {
  switch (p._stateCounter) {
    case 0:
      return p._parseHeader();
    case 1:
      return parseLength.call(p);
    case 2:
      return parsePayload.call(p);
    default:
      return newPacket.call(p);
  }
}

/**
 * The parser's steps, shared: mqtt-packet gives every parser an array of its own with the same
 * four names, and the parse loop only reads it.
 */
const PARSER_STATES: readonly string[] = Object.freeze(['_parseHeader', '_parseLength', '_parsePayload', '_newPacket']);

/** The last Topic Name's bytes before the first PUBLISH (see strictParseString); empty, so never written. */
const NO_BYTES = new Uint8Array(0);

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

// ---------------------------------------------------------------------------------------------
// The shape this module relies on

/**
 * SHA-256 (first 16 hex digits) of the source of each Parser method that this module replaces
 * or copies, as in mqtt-packet 9.0.2: a change in one means its replacement must be ported again.
 */
const REPLACED_METHODS: Readonly<Record<string, string>> = {
  parse: '3fa119fb5f7f827e',
  _resetState: '1af4a4bc644f2b54',
  _parseString: 'f58ced4eb3fad1c2',
  _parseProperties: 'b16155c959f9e43f',
  _parseHeader: '5d1568ef08ae0379',
  _parseLength: '44f6fccca6ad26fd',
  _parsePayload: '253adee34606c455',
  _parsePublish: '0261de13b0df91b2',
  _newPacket: '1ae296c884c9f97d',
  _parseVarByteNum: '3545910ba62ac13d',
};

/** Parser methods this module calls or whose results it relies on. */
const USED_METHODS = ['_parseLength', '_parsePayload', '_newPacket', '_parseNum', '_parseVarByteNum', '_parseByte', '_parseByType', '_emitError'];

/** BufferList reads the parser makes (ByteList serves them; see byte-list.ts). */
const LIST_METHODS = ['append', 'consume', 'readUInt8', 'readUInt16BE', 'readUInt32BE', 'slice', 'toString'];

/**
 * Every way the installed mqtt-packet differs from the one this module is written against
 * (empty when it matches): its version, the private members used, the source of the methods
 * replaced, the initial state of a parser and the property tables.
 */
export function shapeProblems(): string[] {
  const problems: string[] = [];
  const installed = (require('mqtt-packet/package.json') as { version: string }).version;
  if (installed !== MQTT_PACKET_VERSION) problems.push(`version ${installed} is installed, not ${MQTT_PACKET_VERSION}`);
  const proto = (require('mqtt-packet/parser.js') as { prototype: Record<string, unknown> }).prototype;
  for (const [name, digest] of Object.entries(REPLACED_METHODS)) {
    const method = proto[name];
    if (typeof method !== 'function') problems.push(`Parser.prototype.${name} is gone`);
    else if (createHash('sha256').update(method.toString()).digest('hex').slice(0, 16) !== digest) problems.push(`Parser.prototype.${name} has changed (its replacement here copies ${MQTT_PACKET_VERSION}'s)`);
  }
  for (const name of USED_METHODS) if (typeof proto[name] !== 'function') problems.push(`Parser.prototype.${name} is gone`);
  const fresh = mqttPacket.parser({}) as unknown as Record<string, unknown>;
  if (JSON.stringify(fresh._states) !== JSON.stringify(PARSER_STATES)) problems.push(`a parser's _states are ${JSON.stringify(fresh._states)}, not ${JSON.stringify(PARSER_STATES)}`);
  if (fresh._stateCounter !== 0) problems.push('a new parser has no _stateCounter of 0');
  if (fresh.error !== null) problems.push('a new parser has no error of null');
  if ((fresh.packet as { length?: unknown } | undefined)?.length !== -1) problems.push('a new parser has no packet of length -1');
  if (typeof fresh.settings !== 'object' || fresh.settings === null) problems.push('a new parser has no settings object');
  const list = fresh._list as Record<string, unknown> | undefined;
  if (!Array.isArray(list?._bufs)) problems.push('a parser\'s _list is not a bl BufferList (no _bufs)');
  for (const name of LIST_METHODS) if (typeof list?.[name] !== 'function') problems.push(`a parser's _list has no ${name}()`);
  const userProperty = PROPERTY_TABLES.propertiesCodes?.[0x26];
  if (userProperty !== 'userProperties' || PROPERTY_TABLES.propertiesTypes?.userProperties !== 'pair') problems.push('constants.js has no propertiesCodes/propertiesTypes tables as in 9.0.2');
  return problems;
}
