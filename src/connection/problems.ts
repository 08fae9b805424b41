import type { BrokerError } from '../errors.js';
import type { ProtocolVersion } from '../model.js';

/** Properties of a refusing CONNACK or a server DISCONNECT (MQTT 5). */
export interface RefusalProperties {
  reasonString?: string;
  serverReference?: string;
}

/** [MQTT-3.1.4-1] a 3.1.1 CONNECT that does not conform is closed without CONNACK; 5.0 always answers. */
export function answersConnect(version: ProtocolVersion, error: BrokerError): boolean {
  if (version === 5) return true;
  return !['ERR_PROTOCOL', 'ERR_MALFORMED_PACKET', 'ERR_TOPIC_NAME_INVALID'].includes(error.code);
}

/**
 * The Reason String (allowed on CONNACK and DISCONNECT whatever Request Problem Information says
 * [MQTT-3.1.2-29]), kept well under the client's limit, and a Server Reference for a redirection [MQTT-4.11].
 */
export function refusalProperties(version: ProtocolVersion, maxPacketSize: number, error: BrokerError): RefusalProperties | undefined {
  if (version !== 5) return undefined;
  const properties: RefusalProperties = {};
  if (error.serverReference !== undefined) properties.serverReference = error.serverReference;
  if (maxPacketSize >= 512) {
    const text = error.reasonString ?? error.message;
    properties.reasonString = text.length > 100 ? `${text.slice(0, 100)}…` : text;
  }
  return properties;
}

/**
 * A Reason String for an acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK): only
 * to an MQTT 5 client that did not turn off problem information [MQTT-3.1.2-29], and only when the
 * packet stays within the client's Maximum Packet Size [MQTT-3.4.2-2] (`size` is the packet without it).
 */
export function ackProblem(
  client: { protocolVersion: ProtocolVersion; problemInformation: boolean; maxOutboundPacketSize: number },
  text: string,
  size: number,
): { reasonString: string } | undefined {
  if (client.protocolVersion !== 5 || !client.problemInformation) return undefined;
  // property id (1) + length (2) + text, and up to 3 more bytes of Remaining Length / Property Length
  if (size + 6 + Buffer.byteLength(text) > client.maxOutboundPacketSize) return undefined;
  return { reasonString: text };
}
