/** Builders for the packets the broker sends, shaped for each protocol level. */
import type { ProtocolVersion } from '../model.js';
import type { AuthPacket, ConnackPacket, DisconnectPacket, PubackPacket, PubcompPacket, PubrecPacket, PubrelPacket, SubackPacket, UnsubackPacket } from './codec.js';
import { toV4ConnackCode } from './reason-codes.js';

/** The Reason String an acknowledgement may carry (see Connection.problem). */
export type Problem = { reasonString: string } | undefined;

/** CONNACK properties the broker may advertise (MQTT 5). */
export type ConnackProperties = NonNullable<ConnackPacket['properties']>;

/** CONNACK: `reasonCode` is an MQTT 5 code, translated for 3.1 / 3.1.1. */
export function connackPacket(
  version: ProtocolVersion,
  reasonCode: number,
  sessionPresent: boolean,
  properties?: ConnackProperties,
): ConnackPacket {
  if (version === 5) return { cmd: 'connack', reasonCode, sessionPresent, properties };
  // [MQTT-3.2.2-4] session present is 0 when the return code is non-zero
  const returnCode = toV4ConnackCode(reasonCode);
  // MQTT 3.1 has no Session Present flag: that byte is reserved
  return { cmd: 'connack', returnCode, sessionPresent: version === 4 && returnCode === 0 && sessionPresent };
}

/** Bytes of a PUBACK/PUBREC/PUBREL/PUBCOMP with a reason code and no properties. */
export const ACK_SIZE = 6;

/** PUBACK with a reason code (omitted on the wire for 3.1.1 by the encoder). */
export function pubackPacket(messageId: number, reasonCode: number, properties?: Problem): PubackPacket {
  return { cmd: 'puback', messageId, reasonCode, properties };
}

export function pubrecPacket(messageId: number, reasonCode: number, properties?: Problem): PubrecPacket {
  return { cmd: 'pubrec', messageId, reasonCode, properties };
}

export function pubrelPacket(messageId: number, reasonCode: number, properties?: Problem): PubrelPacket {
  return { cmd: 'pubrel', messageId, reasonCode, properties };
}

export function pubcompPacket(messageId: number, reasonCode: number, properties?: Problem): PubcompPacket {
  return { cmd: 'pubcomp', messageId, reasonCode, properties };
}

/** SUBACK: granted QoS or failure code per filter; 3.1.1 only knows 0x80 as failure. */
export function subackPacket(version: ProtocolVersion, messageId: number, codes: number[], properties?: Problem): SubackPacket {
  if (version !== 5) return { cmd: 'suback', messageId, granted: codes.map((c) => (c >= 0x80 ? 0x80 : c)) };
  return { cmd: 'suback', messageId, granted: codes, properties };
}

/** UNSUBACK: reason codes exist only in MQTT 5. */
export function unsubackPacket(version: ProtocolVersion, messageId: number, codes: number[], properties?: Problem): UnsubackPacket {
  if (version !== 5) return { cmd: 'unsuback', messageId, granted: [] };
  return { cmd: 'unsuback', messageId, granted: codes, properties };
}

/** DISCONNECT sent by the server (MQTT 5 only). */
export function disconnectPacket(reasonCode: number, properties?: DisconnectPacket['properties']): DisconnectPacket {
  return { cmd: 'disconnect', reasonCode, properties };
}

/** AUTH sent by the server: continue (0x18) or the success of a re-authentication (0x00) [MQTT-3.15]. */
export function authPacket(reasonCode: number, method: string, data: Buffer | undefined, userProperties?: Record<string, string | string[]>): AuthPacket {
  const properties: NonNullable<AuthPacket['properties']> = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = data;
  if (userProperties !== undefined) properties.userProperties = userProperties;
  return { cmd: 'auth', reasonCode, properties };
}
