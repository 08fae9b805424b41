import { BrokerError } from '../errors.js';
import type { PubackPacket, PubcompPacket, PubrecPacket } from '../protocol/codec.js';
import { ACK_SIZE } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AcceptedConnection } from '../connection/connection.js';
import { storeFailed } from '../broker/stats.js';
import type { BrokerContext } from './context.js';

/** An acknowledgement that waits for a commit. */
export type CommitAck = PubackPacket | PubrecPacket | PubcompPacket;

/** Per connection: the acknowledgements waiting on a barrier, and the promise the last of them settles. */
interface Waiting {
  last: Promise<void>;
  count: number;
}

/** Connections with an acknowledgement held by a barrier; their later acknowledgements queue behind it. */
const waiting = new WeakMap<AcceptedConnection, Waiting>();

/**
 * Sends an acknowledgement once the store has committed everything written for it: with a durable
 * store, PUBACK/PUBREC go out after the message, its deliveries and the inbound QoS 2 id are
 * committed, PUBCOMP after the release is (see CommitGate). Commits complete in order, so
 * acknowledgements keep the order of the packets they answer [MQTT-4.6.0-2] [MQTT-4.6.0-3]; one
 * withheld by a barrier (flow control, a 'block' overflow policy, the cluster's append) has every
 * later acknowledgement of its connection wait behind it, so none overtakes it.
 */
export function sendAfterCommit(ctx: BrokerContext, conn: AcceptedConnection, ack: CommitAck, barrier?: Promise<void>): void {
  const queue = waiting.get(conn);
  if (barrier === undefined && queue === undefined) {
    if (ctx.gate === undefined) conn.send(ack);
    else ctx.gate.ack(conn, ack);
    return;
  }
  const entry = queue ?? { last: Promise.resolve(), count: 0 };
  if (queue === undefined) waiting.set(conn, entry);
  entry.count++;
  entry.last = Promise.all([ctx.store.flush(), barrier, entry.last]).then(
    () => conn.send(ack),
    (err: unknown) => refuseUnstored(ctx, conn, ack, err),
  ).finally(() => {
    if (--entry.count === 0 && waiting.get(conn) === entry) waiting.delete(conn);
  });
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
