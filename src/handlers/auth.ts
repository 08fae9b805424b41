import { BrokerError } from '../errors.js';
import type { AuthOutcome, Credentials } from '../hooks.js';
import type { AuthPacket } from '../protocol/codec.js';
import { authPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AcceptedConnection, Connection } from '../connection/connection.js';
import type { OpenExchange } from '../connection/authentication.js';
import type { BrokerContext } from './context.js';

/**
 * AUTH from an accepted client [MQTT-4.12.1]: 0x19 starts a re-authentication, 0x18 continues the
 * one the broker asked to continue. (AUTH before CONNACK belongs to the CONNECT: handleConnectAuth.)
 */
export async function handleAuth(ctx: BrokerContext, conn: AcceptedConnection, packet: AuthPacket): Promise<void> {
  const exchange = exchangeOf(conn, packet);
  const outcome = await authenticationStep(ctx, conn, exchange, credentialsOf(conn, exchange, packet));
  if (outcome === undefined) return;
  // Re-authentication succeeded: AUTH 0x00 with the method [MQTT-4.12.0-5]; the new username and expiry apply
  conn.client.reauthenticated(outcome.username);
  conn.expireAt(outcome.expiresAt);
  conn.send(authPacket(ReasonCode.Success, conn.authentication?.method as string, outcome.data, outcome.userProperties));
}

/**
 * Checks an AUTH against the connection's Authentication Method and returns the exchange it
 * continues (0x18, answering the broker's AUTH 0x18) or starts (0x19, a re-authentication).
 */
export function exchangeOf(conn: Connection, packet: AuthPacket): OpenExchange {
  const auth = conn.authentication;
  // [MQTT-4.12.0-7] AUTH belongs to enhanced authentication only: the CONNECT must have set a method
  if (auth?.method === undefined) throw new BrokerError('ERR_PROTOCOL', 'AUTH without an Authentication Method in CONNECT');
  // [MQTT-4.12.0-5] [MQTT-4.12.1-1] every AUTH carries the method of the CONNECT
  if (packet.properties?.authenticationMethod !== auth.method) throw new BrokerError('ERR_PROTOCOL', 'AUTH with a different Authentication Method');
  const reason = packet.reasonCode ?? ReasonCode.Success;
  if (reason === ReasonCode.ContinueAuthentication) {
    // [MQTT-4.12.0-3] the client answers the broker's AUTH 0x18 with AUTH 0x18
    if (!auth.exchange) throw new BrokerError('ERR_PROTOCOL', 'AUTH 0x18 without an exchange in progress');
    auth.exchange.value.step++;
    return auth.exchange;
  }
  if (reason === ReasonCode.ReAuthenticate) {
    // Re-authentication starts only once connected, and not while another exchange is open
    if (conn.phase !== 'connected' || auth.exchange) throw new BrokerError('ERR_PROTOCOL', 'AUTH 0x19 during an exchange');
    return { value: { state: undefined, step: 0, reauthentication: true }, resumeAt: 0, connect: undefined };
  }
  // [MQTT-3.15.2-1] a client sends only 0x18 or 0x19
  throw new BrokerError('ERR_PROTOCOL', `AUTH reason code 0x${reason.toString(16)} from a client`);
}

/** The credentials an AUTH packet carries to the plugins. */
export function credentialsOf(conn: Connection, exchange: OpenExchange, packet: AuthPacket): Credentials {
  return {
    username: conn.info?.username ?? exchange.connect?.info.username,
    password: undefined,
    method: packet.properties?.authenticationMethod,
    data: packet.properties?.authenticationData,
    exchange: exchange.value,
  };
}

/**
 * Runs one step of an authentication exchange through the plugins. Returns the outcome when it
 * succeeded, for the caller to finish (the CONNECT, or a re-authentication); undefined when the
 * broker asked the client to continue (AUTH 0x18 sent) or the connection closed meanwhile.
 * A refusal throws the error the connection ends with.
 */
export async function authenticationStep(ctx: BrokerContext, conn: Connection, exchange: OpenExchange, credentials: Credentials): Promise<AuthOutcome | undefined> {
  const auth = conn.authentication;
  const info = exchange.connect?.info ?? conn.info;
  if (!auth || !info) throw new BrokerError('ERR_INTERNAL', 'authentication without a client');
  const method = auth.method;
  auth.exchange = undefined;
  const outcome = await ctx.hooks.authenticate(info, credentials, exchange.resumeAt);
  if (conn.closed) return undefined;
  if (outcome.outcome === 'fail') throw refusal(outcome, method, exchange); // [MQTT-4.12.0-4]
  if (outcome.outcome === 'continue') {
    // [MQTT-4.12.0-6] no AUTH to a client that did not choose a method
    if (method === undefined) throw new BrokerError('ERR_INTERNAL', 'a plugin continued authentication without an Authentication Method');
    auth.exchange = { ...exchange, resumeAt: outcome.resumeAt };
    conn.send(authPacket(ReasonCode.ContinueAuthentication, method, outcome.data, outcome.userProperties)); // [MQTT-4.12.0-2] [MQTT-4.12.0-5]
    return undefined;
  }
  // A method no plugin answered is not supported [MQTT-4.12.0-1]
  if (method !== undefined && !outcome.handled) throw new BrokerError('ERR_BAD_AUTH_METHOD', method);
  return outcome;
}

/** The error a refused step ends with: CONNACK while connecting, DISCONNECT on re-authentication [MQTT-4.12.1-2]. */
function refusal(outcome: AuthOutcome, method: string | undefined, exchange: OpenExchange): BrokerError {
  const details = { reasonCode: outcome.reasonCode, reasonString: outcome.reasonString, serverReference: outcome.serverReference };
  if (outcome.serverReference !== undefined && exchange.connect) {
    return new BrokerError('ERR_REDIRECTED', outcome.serverReference, details); // [MQTT-4.11] 0x9C unless the plugin chose 0x9D
  }
  if (method === undefined && exchange.connect) {
    // Without a user name there is no bad user name or password to report: the client is not
    // authorized (3.1.1 return code 5, 5.0 0x87), as Mosquitto answers; a plugin's own code still wins
    const anonymous = exchange.connect.info.username === undefined;
    return new BrokerError(anonymous ? 'ERR_NOT_AUTHORIZED' : 'ERR_BAD_CREDENTIALS', anonymous ? 'no user name' : undefined, details);
  }
  return new BrokerError('ERR_AUTH_FAILED', undefined, details);
}
