import { BrokerError } from '../errors.js';
import type { PubackPacket, PubcompPacket, PubrecPacket } from '../protocol/codec.js';
import { ACK_SIZE } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AcceptedConnection } from '../connection/connection.js';
import { storeFailed } from '../broker/stats.js';
import type { BrokerContext } from './context.js';

/** An acknowledgement that waits for a commit. */
export type CommitAck = PubackPacket | PubrecPacket | PubcompPacket;

/**
 * Sends an acknowledgement once the store has committed everything written for it: with a durable
 * store, PUBACK/PUBREC go out after the message, its deliveries and the inbound QoS 2 id are
 * committed, PUBCOMP after the release is (see CommitGate). Commits complete in order, so
 * acknowledgements keep the order of the packets they answer [MQTT-4.6.0-2] [MQTT-4.6.0-3].
 */
export function sendAfterCommit(ctx: BrokerContext, conn: AcceptedConnection, ack: CommitAck, barrier?: Promise<void>): void {
  if (barrier) {
    // A bridge barrier ('block' overflow policy) withholds the acknowledgement until its log stream has space
    Promise.all([ctx.store.flush(), barrier]).then(
      () => conn.send(ack),
      (err: unknown) => refuseUnstored(ctx, conn, ack, err),
    );
  } else if (ctx.gate === undefined) {
    conn.send(ack);
  } else {
    ctx.gate.ack(conn, ack);
  }
}

/** What could not be stored is never acknowledged: MQTT 5 gets 0x80, 3.1.1 is disconnected. */
export function refuseUnstored(ctx: BrokerContext, conn: AcceptedConnection, ack: CommitAck, err: unknown): void {
  storeFailed(ctx.stats, ctx.logger, err, { clientId: conn.clientId, packet: ack.cmd, packetId: ack.messageId }, 'store commit failed; not acknowledged');
  if (ack.cmd === 'pubrec') conn.session.releaseInbound(ack.messageId as number); // a failed PUBREC ends the exchange
  if (conn.protocolVersion === 5 && ack.cmd !== 'pubcomp') {
    conn.send({ ...ack, reasonCode: ReasonCode.UnspecifiedError, properties: conn.problem('the message could not be stored', ACK_SIZE) });
  } else {
    conn.abort(new BrokerError('ERR_STORE_WRITE', 'cannot store the message', { cause: err }));
  }
}
