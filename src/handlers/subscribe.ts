import { BrokerError } from '../errors.js';
import type { SubscribePacket, SubscriptionRequest, UnsubscribePacket } from '../protocol/codec.js';
import { subackPacket, unsubackPacket, type Problem } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { exceedsTopicLimits, parseFilter } from '../protocol/topic.js';
import type { Session } from '../broker/session.js';
import { grantedQos, identifiersOf, type Subscription } from '../broker/subscription.js';
import type { AcceptedConnection } from '../connection/connection.js';
import type { BrokerContext } from './context.js';

/** SUBSCRIBE [MQTT-3.8]: validate and authorize each filter, SUBACK, then the retained messages. */
export function handleSubscribe(ctx: BrokerContext, conn: AcceptedConnection, packet: SubscribePacket): void | Promise<void> {
  const session = conn.session;
  // [MQTT-3.8.3-3] at least one filter
  if (packet.subscriptions.length === 0) throw new BrokerError('ERR_PROTOCOL', 'SUBSCRIBE without filters');
  const identifier = packet.properties?.subscriptionIdentifier;
  if (identifier === 0) throw new BrokerError('ERR_PROTOCOL', 'Subscription Identifier 0');
  const { maxTopicLength, maxTopicLevels } = ctx.options;
  const requests = packet.subscriptions.map((req) =>
    exceedsTopicLimits(req.topic, maxTopicLength, maxTopicLevels) ? { code: ReasonCode.TopicFilterInvalid } : toSubscription(conn, req, identifier),
  );
  if (ctx.hooks.has('authorizeSubscribe')) return authorizeThenSubscribe(ctx, conn, session, packet, requests);
  finish(ctx, conn, session, packet.messageId as number, requests);
}

type Request = { sub: Subscription } | { code: number };

async function authorizeThenSubscribe(
  ctx: BrokerContext,
  conn: AcceptedConnection,
  session: Session,
  packet: SubscribePacket,
  requests: Request[],
): Promise<void> {
  const info = conn.info;
  const userProperties = packet.properties?.userProperties;
  const checked: Request[] = [];
  for (const req of requests) {
    if ('code' in req) checked.push(req);
    else if (await ctx.hooks.authorizeSubscribe(info, { filter: req.sub.filter, qos: req.sub.qos, userProperties })) checked.push(req);
    else checked.push({ code: ReasonCode.NotAuthorized });
  }
  if (conn.closed) return;
  finish(ctx, conn, session, packet.messageId as number, checked);
}

function toSubscription(conn: AcceptedConnection, req: SubscriptionRequest, identifier: number | undefined): Request {
  const parsed = parseFilter(req.topic);
  if (parsed === null) return { code: ReasonCode.TopicFilterInvalid }; // [MQTT-3.8.3-1] [MQTT-4.7.1-1]
  const v5 = conn.protocolVersion === 5;
  // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error
  if (v5 && parsed.group !== undefined && req.nl) throw new BrokerError('ERR_PROTOCOL', 'No Local on a shared subscription');
  const sub: Subscription = {
    clientId: conn.clientId,
    filter: req.topic,
    qos: req.qos,
    // A 3.1.1 client that set the bridge bit (protocol level 0x84, as Mosquitto's bridges do) gets No Local and
    // Retain As Published on every subscription (the parser sets them), so its own messages never come back
    noLocal: req.nl === true && parsed.group === undefined,
    retainAsPublished: req.rap === true,
    retainHandling: v5 ? ((req.rh ?? 0) as 0 | 1 | 2) : 0,
    identifier,
    group: parsed.group,
  };
  return { sub };
}

function finish(ctx: BrokerContext, conn: AcceptedConnection, session: Session, messageId: number, requests: Request[]): void {
  const codes: number[] = [];
  const retainedFor: Subscription[] = [];
  for (const req of requests) {
    if ('code' in req) {
      codes.push(req.code);
      continue;
    }
    const limit = ctx.options.maxSubscriptionsPerClient;
    if (limit > 0 && session.subscriptionCount >= limit && session.getSubscription(req.sub.filter) === undefined) {
      codes.push(ReasonCode.QuotaExceeded); // 3.1.1 SUBACK: 0x80
      continue;
    }
    // [MQTT-3.8.4-3] a repeated filter replaces the existing subscription
    const isNew = ctx.router.subscribe(session, req.sub);
    codes.push(req.sub.qos); // [MQTT-3.9.3-1] the granted QoS
    const { retainHandling, group } = req.sub;
    // Retained messages are not sent for shared subscriptions [MQTT-4.8.2], and Retain Handling [MQTT-3.3.1-9..11]
    if (group === undefined && (retainHandling === 0 || (retainHandling === 1 && isNew))) retainedFor.push(req.sub);
  }
  conn.send(subackPacket(conn.protocolVersion, messageId, codes, refusals(conn, codes))); // [MQTT-3.8.4-1]
  ctx.journal.saveSession(session);
  for (const sub of retainedFor) sendRetained(ctx, session, sub);
}

/** Retained messages for a new, non-shared subscription (whose filter is the one to match). */
function sendRetained(ctx: BrokerContext, session: Session, sub: Subscription): void {
  const ids = identifiersOf(sub);
  for (const message of ctx.router.retainedFor(sub.filter)) {
    // [MQTT-3.3.1-8] RETAIN=1 on messages sent because of a new subscription
    session.deliver(message, grantedQos(message, sub), true, ids);
  }
}

/**
 * UNSUBSCRIBE [MQTT-3.10]: remove each filter and answer UNSUBACK, even when nothing matched [MQTT-3.10.4-5].
 * A filter that breaks the rules of section 4.7 (empty, a misplaced wildcard, a malformed `$share/`)
 * refuses the whole packet and closes the connection, as any protocol violation does
 * [MQTT-4.8.0-1] (5.0: DISCONNECT 0x81, as Mosquitto): UNSUBACK has no failure code in 3.1.1, and
 * 5.0's 0x8F is for a filter that is correctly formed. SUBSCRIBE differs on purpose: SUBACK has a
 * failure code for each filter (3.1.1 0x80, 5.0 0x8F), so a bad filter is refused alone there.
 */
export function handleUnsubscribe(ctx: BrokerContext, conn: AcceptedConnection, packet: UnsubscribePacket): void {
  const session = conn.session;
  if (packet.unsubscriptions.length === 0) throw new BrokerError('ERR_PROTOCOL', 'UNSUBSCRIBE without filters'); // [MQTT-3.10.3-2]
  // [MQTT-4.7.3-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.8.2-1] [MQTT-4.8.2-2], checked before anything is removed
  const invalid = packet.unsubscriptions.findIndex((filter) => parseFilter(filter) === null);
  if (invalid !== -1) throw new BrokerError('ERR_MALFORMED_PACKET', `UNSUBSCRIBE filter ${invalid + 1} is not a valid topic filter`);
  const codes = packet.unsubscriptions.map((filter) =>
    ctx.router.unsubscribe(session, filter) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted,
  );
  conn.send(unsubackPacket(conn.protocolVersion, packet.messageId as number, codes)); // 0x00 or 0x11: nothing refused, no Reason String
  ctx.journal.saveSession(session);
}

const FILTER_REFUSALS: Readonly<Record<number, string>> = {
  [ReasonCode.NotAuthorized]: 'not authorized',
  [ReasonCode.TopicFilterInvalid]: 'invalid topic filter',
  [ReasonCode.QuotaExceeded]: 'too many subscriptions',
};

/** A SUBACK Reason String naming the refused filters by position (1-based), e.g. "filter 2: not authorized". */
function refusals(conn: AcceptedConnection, codes: number[]): Problem {
  const parts: string[] = [];
  for (const [i, code] of codes.entries()) {
    if (code >= 0x80) parts.push(`filter ${i + 1}: ${FILTER_REFUSALS[code] ?? `refused (0x${code.toString(16)})`}`);
  }
  if (parts.length === 0) return undefined;
  const text = parts.join('; ');
  return conn.problem(text.length > 200 ? `${text.slice(0, 200)}…` : text, 5 + codes.length);
}
