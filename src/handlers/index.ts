import { BrokerError } from '../errors.js';
import type { Packet } from '../protocol/codec.js';
import type { Connection } from '../connection/connection.js';
import type { BrokerContext } from './context.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './acks.js';
import { handleConnect, handleConnectAuth } from './connect.js';
import { handlePublish } from './publish.js';
import { handleAuth } from './auth.js';
import { handleDisconnect, handlePingreq } from './session-control.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';

/** Routes one packet to its handler; packets a server never receives are protocol errors. */
export function dispatch(ctx: BrokerContext, conn: Connection, packet: Packet): void | Promise<void> {
  if (packet.cmd === 'connect') return handleConnect(ctx, conn, packet);
  if (conn.phase !== 'connected' || !conn.isAccepted()) return dispatchBeforeConnack(ctx, conn, packet);
  switch (packet.cmd) {
    case 'publish':
      return handlePublish(ctx, conn, packet);
    case 'puback':
      return handlePuback(ctx, conn, packet);
    case 'pubrec':
      return handlePubrec(ctx, conn, packet);
    case 'pubrel':
      return handlePubrel(ctx, conn, packet);
    case 'pubcomp':
      return handlePubcomp(ctx, conn, packet);
    case 'subscribe':
      return handleSubscribe(ctx, conn, packet);
    case 'unsubscribe':
      return handleUnsubscribe(ctx, conn, packet);
    case 'pingreq':
      return handlePingreq(ctx, conn);
    case 'disconnect':
      return handleDisconnect(ctx, conn, packet);
    case 'auth':
      if (conn.protocolVersion !== 5) break;
      return handleAuth(ctx, conn, packet);
    default:
      break;
  }
  throw new BrokerError('ERR_PROTOCOL', `unexpected ${packet.cmd} from a client`);
}

/**
 * Before CONNACK only an enhanced authentication exchange may go on: AUTH or DISCONNECT
 * [MQTT-3.1.2-30]; anything else, like anything before CONNECT, is a protocol error [MQTT-3.1.0-1].
 */
function dispatchBeforeConnack(ctx: BrokerContext, conn: Connection, packet: Packet): void | Promise<void> {
  if (conn.authentication?.exchange) {
    if (packet.cmd === 'auth') return handleConnectAuth(ctx, conn, packet);
    if (packet.cmd === 'disconnect') return conn.end('client disconnected during authentication');
  }
  throw new BrokerError('ERR_PROTOCOL', `${packet.cmd} before CONNACK`);
}
