import { randomBytes } from 'node:crypto';
import { BrokerError } from '../errors.js';
import type { ClientInfo, ProtocolVersion, WillRecord } from '../model.js';
import type { AuthOutcome } from '../hooks.js';
import type { PendingConnect } from '../connection/authentication.js';
import { authenticationStep, credentialsOf, exchangeOf } from './auth.js';
import type { AuthPacket, ConnectPacket } from '../protocol/codec.js';
import { connackPacket, type ConnackProperties } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { exceedsTopicLimits, isValidTopicName } from '../protocol/topic.js';
import { NEVER_EXPIRES } from '../broker/session-registry.js';
import { isPayloadFormatValid, messagePropertiesOf } from '../broker/message.js';
import type { Connection } from '../connection/connection.js';
import { AcceptedClient } from '../connection/client.js';
import { OutboundAliases } from '../connection/outbound-aliases.js';
import type { BrokerContext } from './context.js';

/** CONNECT [MQTT-3.1]: validate, authenticate (possibly over several AUTH packets), then finish in completeConnect. */
export async function handleConnect(ctx: BrokerContext, conn: Connection, packet: ConnectPacket): Promise<void> {
  if (conn.phase !== 'new') throw new BrokerError('ERR_PROTOCOL', 'second CONNECT'); // [MQTT-3.1.0-2]
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  conn.beginConnect(
    version,
    { maxPacketSize: packet.properties?.maximumPacketSize ?? Number.POSITIVE_INFINITY, problemInformation: packet.properties?.requestProblemInformation !== false },
    { clientId: packet.clientId, username: conn.certificateUsername ?? packet.username },
  );
  checkProtocolName(packet, version);
  // Cluster mode without NATS: nothing could be stored or routed (5.0: 0x88, 3.1.1: return code 3)
  if (ctx.cluster?.connected === false) throw new BrokerError('ERR_SERVER_UNAVAILABLE', 'the cluster engine (NATS) is unreachable');
  const assignedClientId = packet.clientId === '' ? assignClientId(ctx, packet, version) : undefined;
  const clientId = assignedClientId ?? packet.clientId;
  if (Buffer.byteLength(clientId) > ctx.options.maxClientIdLength) throw new BrokerError('ERR_CLIENT_ID_TOO_LONG', `over ${ctx.options.maxClientIdLength} bytes`);
  // `$bridge/<name>` is the local session of an MQTT bridge (src/mqtt-bridge): no client may take it over
  if (clientId.startsWith('$bridge/')) throw new BrokerError('ERR_CLIENT_ID_INVALID', 'reserved for MQTT bridges');
  const will = willOf(packet, ctx.options.validatePayloadFormat);
  if (will && exceedsTopicLimits(will.topic, ctx.options.maxTopicLength, ctx.options.maxTopicLevels)) throw new BrokerError('ERR_TOPIC_LIMIT', 'will topic');
  checkConnectProperties(packet);

  const info: ClientInfo = {
    id: clientId,
    username: conn.certificateUsername ?? packet.username,
    protocolVersion: version,
    remoteAddress: conn.remoteAddress,
    listener: conn.listener,
    certificate: conn.certificate,
  };
  const pending: PendingConnect = { packet, clientId, assignedClientId, will, info };
  const method = packet.properties?.authenticationMethod;
  if (!ctx.hooks.has('authenticate')) {
    // No plugin offers enhanced authentication, so no method is supported [MQTT-4.12.0-1]
    if (method !== undefined) throw new BrokerError('ERR_BAD_AUTH_METHOD', method);
    await completeConnect(ctx, conn, pending, undefined);
    return;
  }
  conn.beginAuthentication(method);
  const exchange = { value: { state: undefined, step: 0, reauthentication: false }, resumeAt: 0, connect: pending };
  const data = packet.properties?.authenticationData;
  const outcome = await authenticationStep(ctx, conn, exchange, { username: packet.username, password: packet.password, method, data, exchange: exchange.value });
  if (outcome !== undefined) await completeConnect(ctx, conn, pending, outcome);
}

/**
 * AUTH before CONNACK [MQTT-4.12.0-3]: the client continues the enhanced authentication of its
 * CONNECT; once a step succeeds, the CONNECT is finished.
 */
export async function handleConnectAuth(ctx: BrokerContext, conn: Connection, packet: AuthPacket): Promise<void> {
  const exchange = exchangeOf(conn, packet);
  const outcome = await authenticationStep(ctx, conn, exchange, credentialsOf(conn, exchange, packet));
  if (outcome !== undefined && exchange.connect !== undefined) await completeConnect(ctx, conn, exchange.connect, outcome);
}

/** Finishes an authenticated CONNECT: take over or resume the session, CONNACK, start delivering. */
async function completeConnect(ctx: BrokerContext, conn: Connection, pending: PendingConnect, auth: AuthOutcome | undefined): Promise<void> {
  const { packet, clientId } = pending;
  // Cluster mode: the session may be owned by another node (it is handed over or fenced) or stored in JetStream
  if (ctx.ownership !== undefined) {
    // The acquire is bounded by its own deadlines (handover 1 s, replay 30 s): a long replay must not
    // run into the connect timeout, as in a single process nothing is awaited once authenticated
    conn.stopConnectTimer();
    // A connection closed meanwhile leaves a resumed session offline here, with its expiry and will
    await ctx.ownership.acquire(clientId, packet.clean !== false, () => conn.closed);
  }
  if (conn.closed) return;
  const version = conn.protocolVersion;
  const info: ClientInfo = auth && auth.username !== pending.info.username ? { ...pending.info, username: auth.username } : pending.info;
  // A session with expiry 0 ends with its connection, so taking it over cannot resume it [MQTT-3.1.2-6]
  const cleanStart = packet.clean !== false || ctx.connections.get(clientId)?.session.expiryInterval === 0;
  takeOver(ctx, clientId, cleanStart);
  const { session, present } = ctx.sessions.open(clientId, cleanStart);
  session.expireAfter(sessionExpiryOf(ctx, packet, version));
  ctx.wills.set(session, pending.will);

  const keepalive = version === 5 ? effectiveKeepalive(ctx, packet.keepalive ?? 0) : (packet.keepalive ?? 0);
  const client = new AcceptedClient({
    info,
    session,
    receiveMaximum: packet.properties?.receiveMaximum ?? 65535,
    keepalive,
    outboundAliases: outboundAliasesOf(ctx, version, packet),
  });
  const properties = connackProperties(ctx, packet, pending.assignedClientId, keepalive);
  if (properties && conn.authentication?.method !== undefined) {
    // [MQTT-4.12.0-5] a successful CONNACK carries the method of the CONNECT (and any final data)
    properties.authenticationMethod = conn.authentication.method;
    if (auth?.data !== undefined) properties.authenticationData = auth.data;
  }
  if (properties && auth?.userProperties !== undefined) properties.userProperties = auth.userProperties;
  conn.send(connackPacket(version, ReasonCode.Success, present, properties));
  conn.accept(client);
  ctx.connections.set(clientId, conn);
  ctx.stats.connectionsTotal++;
  ctx.stats.connectionsByListener[conn.listener] = (ctx.stats.connectionsByListener[conn.listener] ?? 0) + 1;
  conn.expireAt(auth?.expiresAt);
  session.attach(conn);
  ctx.journal.saveSession(session); // after attach, so the record says the client is connected
  ctx.logger.info({ clientId, username: info.username, listener: conn.listener, address: conn.remoteAddress, version, present }, 'client connected');
  ctx.hooks.notify('onConnected', info);
}

function checkProtocolName(packet: ConnectPacket, version: ProtocolVersion): void {
  // [MQTT-3.1.2-1] "MQIsdp" for 3.1, "MQTT" for 3.1.1 and 5.0
  const expected = version === 3 ? 'MQIsdp' : 'MQTT';
  if (packet.protocolId !== expected) throw new BrokerError('ERR_UNSUPPORTED_PROTOCOL', `protocol name ${packet.protocolId}`);
}

function assignClientId(ctx: BrokerContext, packet: ConnectPacket, version: ProtocolVersion): string {
  // [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.1.3-8] an empty id is assigned only with a clean session (3.1.1), always in 5.0
  if (version === 3 || (version === 4 && packet.clean === false)) {
    throw new BrokerError('ERR_CLIENT_ID_INVALID', 'empty client identifier');
  }
  let id: string;
  do id = `midge-${randomBytes(8).toString('hex')}`;
  while (ctx.sessions.has(id));
  return id;
}

function willOf(packet: ConnectPacket, validatePayloadFormat: boolean): WillRecord | undefined {
  const will = packet.will;
  if (!will) return undefined;
  if (!isValidTopicName(will.topic)) throw new BrokerError('ERR_TOPIC_NAME_INVALID', 'will topic'); // [MQTT-3.1.3-11]
  const props = will.properties;
  const payload = Buffer.isBuffer(will.payload) ? will.payload : Buffer.from(will.payload);
  const properties = messagePropertiesOf(props);
  // The will goes out as a PUBLISH, whose Response Topic must be a Topic Name [MQTT-3.3.2-14]
  if (props?.responseTopic !== undefined && !isValidTopicName(props.responseTopic)) throw new BrokerError('ERR_PROTOCOL', 'will Response Topic is not a valid topic name');
  // MQTT 5 section 3.1.3.2.3: a will payload announced as UTF-8 must be UTF-8 (CONNACK 0x99)
  if (validatePayloadFormat && !isPayloadFormatValid(payload, properties)) throw new BrokerError('ERR_PAYLOAD_FORMAT_INVALID', 'will payload is not UTF-8');
  return {
    topic: will.topic,
    payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    properties,
    messageExpiryInterval: props?.messageExpiryInterval,
    delayInterval: props?.willDelayInterval ?? 0,
  };
}

function checkConnectProperties(packet: ConnectPacket): void {
  const props = packet.properties;
  if (!props) return;
  if (props.receiveMaximum === 0) throw new BrokerError('ERR_PROTOCOL', 'Receive Maximum 0');
  if (props.maximumPacketSize === 0) throw new BrokerError('ERR_PROTOCOL', 'Maximum Packet Size 0');
  // MQTT 5 section 3.1.2.11.10: Authentication Data without an Authentication Method is a Protocol Error
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
    throw new BrokerError('ERR_PROTOCOL', 'Authentication Data without an Authentication Method');
  }
}

function takeOver(ctx: BrokerContext, clientId: string, cleanStart: boolean): void {
  const old = ctx.connections.get(clientId);
  if (!old) return;
  // [MQTT-3.1.4-3] the existing client is disconnected (MQTT 5: DISCONNECT 0x8E)
  const session = old.session;
  session.detach();
  ctx.connections.delete(clientId);
  // Observers hear of the old connection now, before onConnected of the new one (and only here)
  old.takenOver();
  ctx.hooks.notify('onDisconnected', old.info, 'session taken over');
  old.abort(new BrokerError('ERR_SESSION_TAKEN_OVER'));
  ctx.wills.takenOver(session, cleanStart, old.info);
}

/**
 * Outbound topic aliases up to the client's Topic Alias Maximum [MQTT-3.1.2-26], and none when it
 * gave none or 0 [MQTT-3.1.2-27] or the broker does not send them; only MQTT 5 has them.
 */
function outboundAliasesOf(ctx: BrokerContext, version: ProtocolVersion, packet: ConnectPacket): OutboundAliases | undefined {
  const maximum = packet.properties?.topicAliasMaximum ?? 0;
  return ctx.options.topicAliasOutbound && version === 5 && maximum > 0 ? new OutboundAliases(maximum) : undefined;
}

function sessionExpiryOf(ctx: BrokerContext, packet: ConnectPacket, version: ProtocolVersion): number {
  // 3.1 / 3.1.1 persistent sessions have no expiry of their own; the broker's cap applies to them too
  if (version !== 5) return packet.clean === false ? Math.min(NEVER_EXPIRES, ctx.options.maxSessionExpiryInterval) : 0;
  const requested = packet.properties?.sessionExpiryInterval ?? 0;
  return Math.min(requested, ctx.options.maxSessionExpiryInterval);
}

/** MQTT 5 Server Keep Alive [MQTT-3.2.2-21]; 3.1 and 3.1.1 clients cannot be told, so they keep theirs. */
function effectiveKeepalive(ctx: BrokerContext, requested: number): number {
  const cap = ctx.options.maxKeepAlive;
  if (cap === 0) return requested;
  return requested === 0 ? cap : Math.min(requested, cap);
}

function connackProperties(
  ctx: BrokerContext,
  packet: ConnectPacket,
  assignedClientId: string | undefined,
  keepalive: number,
): ConnackProperties | undefined {
  if (packet.protocolVersion !== 5) return undefined;
  const { options } = ctx;
  const props: ConnackProperties = {
    receiveMaximum: options.receiveMaximum,
    maximumPacketSize: options.maxPacketSize,
    topicAliasMaximum: options.topicAliasMaximum,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  };
  if (assignedClientId !== undefined) props.assignedClientIdentifier = assignedClientId; // [MQTT-3.2.2-16]
  // [MQTT-3.1.2-28] Response Information only when the client asked for it
  if (packet.properties?.requestResponseInformation === true && options.responseInformationPrefix !== '') {
    props.responseInformation = options.responseInformationPrefix + (assignedClientId ?? packet.clientId);
  }
  if (keepalive !== (packet.keepalive ?? 0)) props.serverKeepAlive = keepalive; // [MQTT-3.2.2-21]
  const requested = packet.properties?.sessionExpiryInterval ?? 0;
  if (requested > options.maxSessionExpiryInterval) props.sessionExpiryInterval = options.maxSessionExpiryInterval;
  return props;
}
