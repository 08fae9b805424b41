/** Builders for the packets the broker sends, shaped for each protocol level. */
import type {
  AuthPacket,
  ConnackPacket,
  DisconnectPacket,
  PubackPacket,
  PubcompPacket,
  PubrecPacket,
  PubrelPacket,
  SubackPacket,
  UnsubackPacket,
  ProtocolVersion,
} from './codec.js';
import { toV4ConnackCode } from './reason-codes.js';

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

/** PUBACK with a reason code (omitted on the wire for 3.1.1 by the encoder). */
export function pubackPacket(messageId: number, reasonCode: number): PubackPacket {
  return { cmd: 'puback', messageId, reasonCode };
}

export function pubrecPacket(messageId: number, reasonCode: number): PubrecPacket {
  return { cmd: 'pubrec', messageId, reasonCode };
}

export function pubrelPacket(messageId: number, reasonCode: number): PubrelPacket {
  return { cmd: 'pubrel', messageId, reasonCode };
}

export function pubcompPacket(messageId: number, reasonCode: number): PubcompPacket {
  return { cmd: 'pubcomp', messageId, reasonCode };
}

/** SUBACK: granted QoS or failure code per filter; 3.1.1 only knows 0x80 as failure. */
export function subackPacket(version: ProtocolVersion, messageId: number, codes: number[]): SubackPacket {
  const granted = version === 5 ? codes : codes.map((c) => (c >= 0x80 ? 0x80 : c));
  return { cmd: 'suback', messageId, granted };
}

/** UNSUBACK: reason codes exist only in MQTT 5. */
export function unsubackPacket(version: ProtocolVersion, messageId: number, codes: number[]): UnsubackPacket {
  return { cmd: 'unsuback', messageId, granted: version === 5 ? codes : [] };
}

/** DISCONNECT sent by the server (MQTT 5 only). */
export function disconnectPacket(reasonCode: number, properties?: DisconnectPacket['properties']): DisconnectPacket {
  return { cmd: 'disconnect', reasonCode, properties };
}

/** AUTH sent by the server: continue (0x18) or the success of a re-authentication (0x00) [MQTT-3.15]. */
export function authPacket(reasonCode: number, method: string, data: Buffer | undefined): AuthPacket {
  const properties: NonNullable<AuthPacket['properties']> = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = data;
  return { cmd: 'auth', reasonCode, properties };
}
