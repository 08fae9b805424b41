import { BrokerError } from '../errors.js';
import type { DisconnectPacket } from '../protocol/codec.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AcceptedConnection } from '../connection/connection.js';
import type { BrokerContext } from './context.js';

/** PINGREQ: answer PINGRESP [MQTT-3.12.4-1]. */
export function handlePingreq(_ctx: BrokerContext, conn: AcceptedConnection): void {
  conn.send({ cmd: 'pingresp' });
}

/** DISCONNECT from a client [MQTT-3.14]: a normal one discards the will; 0x04 keeps it. */
export function handleDisconnect(ctx: BrokerContext, conn: AcceptedConnection, packet: DisconnectPacket): void {
  const session = conn.session;
  const requested = packet.properties?.sessionExpiryInterval;
  if (requested !== undefined) {
    // MQTT 5 section 3.14.2.2.2: an expiry of 0 at CONNECT cannot be raised at DISCONNECT (Protocol Error)
    if (session.expiryInterval === 0 && requested !== 0) {
      throw new BrokerError('ERR_PROTOCOL', 'Session Expiry Interval raised from 0 at DISCONNECT');
    }
    session.expireAfter(Math.min(requested, ctx.options.maxSessionExpiryInterval));
  }
  const reason = packet.reasonCode ?? ReasonCode.Success;
  // [MQTT-3.14.4-3] only DISCONNECT 0x00 discards the will; 0x04 and error codes keep it [MQTT-3.1.2-10]
  if (reason === ReasonCode.Success) ctx.wills.discard(session);
  conn.end(`client disconnected (0x${reason.toString(16).padStart(2, '0')})`);
}
