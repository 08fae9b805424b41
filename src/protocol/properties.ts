/**
 * MQTT 5 properties (section 2.2.2) as the decoder reads them: mqtt-packet's own loop, with the
 * checks it leaves out. mqtt-packet notices a repeated property only when its first value is
 * truthy (two Payload Format Indicators of 0 pass, the second winning), turns every Byte
 * property into a boolean (a Request Problem Information of 2 becomes true), keeps properties it
 * failed to read, and reads a Property Length that is not there from the bytes that follow.
 */
import { BrokerError } from '../errors.js';
import { currentPacket, failWith, hasFailed, readByType, readByte, readPosition, readVarByteNum, type Parser, type PropertyTables } from './mqtt-packet-internals.js';

const ACK_PROPERTIES = ['reasonString', 'userProperties'];
const MESSAGE_PROPERTIES = ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties'];

/** The properties each packet a client sends may carry (MQTT 5 section 2.2.2.2); a Will's are under 'will'. */
const ALLOWED_PROPERTIES: Readonly<Record<string, ReadonlySet<string>>> = {
  connect: new Set([
    'sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum', 'requestResponseInformation',
    'requestProblemInformation', 'userProperties', 'authenticationMethod', 'authenticationData',
  ]),
  will: new Set([...MESSAGE_PROPERTIES, 'willDelayInterval']),
  // A Subscription Identifier is a PUBLISH property, but one from a client is a Protocol Error (handlers/publish.ts)
  publish: new Set([...MESSAGE_PROPERTIES, 'topicAlias', 'subscriptionIdentifier']),
  puback: new Set(ACK_PROPERTIES),
  pubrec: new Set(ACK_PROPERTIES),
  pubrel: new Set(ACK_PROPERTIES),
  pubcomp: new Set(ACK_PROPERTIES),
  subscribe: new Set(['subscriptionIdentifier', 'userProperties']),
  unsubscribe: new Set(['userProperties']),
  disconnect: new Set(['sessionExpiryInterval', 'reasonString', 'userProperties', 'serverReference']),
  auth: new Set(['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']),
};

/**
 * Reads a property block at the parser's position, as mqtt-packet's Parser._parseProperties does
 * (same result shape), or reports the first fault and returns false:
 * - a Malformed Packet: no Property Length where one is due, a block that runs past the Remaining
 *   Length or ends inside a property, an unknown identifier, a property its packet type does not
 *   carry, or a value that cannot be read (e.g. ill-formed UTF-8 [MQTT-1.5.4-1]);
 * - a Protocol Error: a property other than User Property given twice (section 2.2.2.2), or a
 *   Byte property other than 0 or 1.
 */
export function readProperties(parser: Parser, tables: PropertyTables): Record<string, unknown> | false {
  const packet = currentPacket(parser);
  if (readPosition(parser) >= packet.length) {
    // Only DISCONNECT and AUTH may end before their Property Length (sections 3.14.2.2.1, 3.15.2.2.1)
    if (packet.cmd === 'disconnect' || packet.cmd === 'auth') return {};
    return fail(parser, malformed('no Property Length'));
  }
  const length = readVarByteNum(parser);
  if (length === false) return fail(parser, malformed('Property Length cannot be read'));
  if (length === 0) return {}; // most packets: nothing more to check
  const end = readPosition(parser) + length;
  if (end > packet.length) return fail(parser, malformed('properties run past the Remaining Length'));
  // mqtt-packet reads a CONNECT's Will Properties after its client id, the CONNECT's own before it
  const kind = packet.cmd === 'connect' && packet.clientId !== undefined ? 'will' : (packet.cmd ?? '');
  const allowed = ALLOWED_PROPERTIES[kind];
  const result: Record<string, unknown> = {};
  while (readPosition(parser) < end) {
    const id = readByte(parser) as number;
    const name = tables.propertiesCodes[id];
    if (name === undefined) return fail(parser, malformed(`unknown property 0x${id.toString(16)}`));
    if (allowed && !allowed.has(name)) return fail(parser, malformed(`${name} is not a property of ${kind.toUpperCase()}`));
    if (name === 'userProperties') {
      if (!addUserProperty(result, readByType(parser, 'pair'))) return fail(parser, malformed('User Property cannot be read'));
      continue;
    }
    // Only User Property may appear more than once in a packet from a client (section 2.2.2.2)
    if (name in result) return fail(parser, new BrokerError('ERR_PROTOCOL', `${name} more than once`));
    const type = tables.propertiesTypes[name] as string;
    let value: unknown;
    if (type === 'byte') {
      // Every Byte property is a flag whose only values are 0 and 1: "a Protocol Error to have a value
      // other than 0 or 1" for Request Problem / Response Information (sections 3.1.2.11.6-7); a
      // Payload Format Indicator is forwarded unaltered [MQTT-3.3.2-4], so 2 cannot pass on as 1
      const byte = readByte(parser);
      if (byte !== undefined && byte > 1) return fail(parser, new BrokerError('ERR_PROTOCOL', `${name} ${byte} (only 0 and 1 are defined)`));
      value = byte === undefined ? null : byte === 1;
    } else {
      value = readByType(parser, type);
    }
    // mqtt-packet's readers answer null (string, binary), -1 (integer) or false (Variable Byte Integer) for a value cut short
    if (value === null || value === undefined || value === -1 || (type === 'var' && value === false)) return fail(parser, malformed(`${name} cannot be read`));
    result[name] = value;
  }
  if (readPosition(parser) !== end) return fail(parser, malformed('a property runs past the Property Length'));
  return result;
}

/** Adds one User Property as mqtt-packet does (a repeated name collects its values in an array); false if it could not be read. */
function addUserProperty(result: Record<string, unknown>, pair: unknown): boolean {
  const { name, value } = pair as { name: string | null; value: string | null };
  if (name === null || value === null) return false;
  const all = (result.userProperties ??= Object.create(null)) as Record<string, string | string[]>;
  const existing = all[name];
  if (existing === undefined) all[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else all[name] = [existing, value];
  return true;
}

/** Reports a fault once (the parser stops at its first error); false is what mqtt-packet's own reader returns then. */
function fail(parser: Parser, err: BrokerError): false {
  if (!hasFailed(parser)) failWith(parser, err);
  return false;
}

function malformed(detail: string): BrokerError {
  return new BrokerError('ERR_MALFORMED_PACKET', detail);
}
