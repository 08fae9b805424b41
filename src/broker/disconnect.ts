import type { Connection } from '../connection/connection.js';
import type { BrokerContext } from '../handlers/context.js';

/**
 * What happens when a connection is over, whatever ended it (DISCONNECT, a protocol error, a
 * lost socket, a takeover, shutdown): the session is detached, its will applies unless a normal
 * DISCONNECT discarded it [MQTT-3.1.2-8], its expiry starts, its record is saved, and observers hear
 * of it. `shuttingDown`: the broker is closing, so no expiry timer starts.
 */
export function connectionEnded(ctx: BrokerContext, conn: Connection, shuttingDown: boolean): void {
  const { connections, sessions, hooks, logger } = ctx;
  // A refused client has no accepted identity: its line carries what its CONNECT claimed
  const claimed = conn.info ?? (conn.claimed && { id: conn.claimed.clientId, username: conn.claimed.username });
  const fields = {
    clientId: claimed?.id || conn.clientId || undefined,
    username: claimed?.username,
    address: conn.remoteAddress,
    listener: conn.listener,
    reason: conn.closeReason,
    code: conn.closeCode,
  };
  if (!conn.isAccepted()) {
    // A refusal (bad credentials, protocol error) is worth an info line; a bare probe is not
    if (conn.closeCode) logger.info(fields, 'connection refused');
    else logger.debug(fields, 'connection closed before CONNECT');
    return;
  }
  if (connections.get(conn.clientId) === conn) {
    connections.delete(conn.clientId);
    const session = conn.session;
    session.detach();
    // A close by the server, shutdown included, is not a DISCONNECT: the will applies [MQTT-3.1.2-8]
    ctx.wills.connectionEnded(session, conn.info);
    if (!shuttingDown) sessions.scheduleExpiry(session);
    if (sessions.get(session.clientId) === session) ctx.journal.saveSession(session);
  }
  logger.info(fields, 'client disconnected');
  if (!conn.disconnectNotified) hooks.notify('onDisconnected', conn.info, conn.closeReason);
}
