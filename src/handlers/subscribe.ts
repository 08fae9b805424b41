import { BrokerError } from '../errors.js';
import type { ClientInfo } from '../hooks.js';
import type { QoS, SubscribePacket, SubscriptionRequest, UnsubscribePacket } from '../protocol/codec.js';
import { subackPacket, unsubackPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { isValidTopicFilter, parseSharedFilter } from '../protocol/topic.js';
import type { Session } from '../broker/session.js';
import type { Subscription } from '../broker/subscription.js';
import type { Connection } from '../connection/connection.js';
import type { BrokerContext } from './context.js';

/** SUBSCRIBE [MQTT-3.8]: validate and authorize each filter, SUBACK, then the retained messages. */
export function handleSubscribe(ctx: BrokerContext, conn: Connection, packet: SubscribePacket): void | Promise<void> {
  const session = conn.session as Session;
  // [MQTT-3.8.3-3] at least one filter
  if (packet.subscriptions.length === 0) throw new BrokerError('ERR_PROTOCOL', 'SUBSCRIBE without filters');
  const identifier = packet.properties?.subscriptionIdentifier;
  if (identifier === 0) throw new BrokerError('ERR_PROTOCOL', 'Subscription Identifier 0');
  const requests = packet.subscriptions.map((req) => toSubscription(conn, req, identifier));
  if (ctx.hooks.has('authorizeSubscribe')) return authorizeThenSubscribe(ctx, conn, session, packet, requests);
  finish(ctx, conn, session, packet.messageId as number, requests);
}

type Request = { sub: Subscription; inner: string } | { code: number };

async function authorizeThenSubscribe(
  ctx: BrokerContext,
  conn: Connection,
  session: Session,
  packet: SubscribePacket,
  requests: Request[],
): Promise<void> {
  const info = conn.info as ClientInfo;
  const checked: Request[] = [];
  for (const req of requests) {
    if ('code' in req) checked.push(req);
    else if (await ctx.hooks.authorizeSubscribe(info, { filter: req.sub.filter, qos: req.sub.qos })) checked.push(req);
    else checked.push({ code: ReasonCode.NotAuthorized });
  }
  if (conn.closed) return;
  finish(ctx, conn, session, packet.messageId as number, checked);
}

function toSubscription(conn: Connection, req: SubscriptionRequest, identifier: number | undefined): Request {
  const shared = parseSharedFilter(req.topic);
  if (shared === null || (shared === undefined && !isValidTopicFilter(req.topic))) {
    return { code: ReasonCode.TopicFilterInvalid }; // [MQTT-3.8.3-1] [MQTT-4.7.1-1]
  }
  // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error
  if (shared && req.nl) throw new BrokerError('ERR_PROTOCOL', 'No Local on a shared subscription');
  const v5 = conn.protocolVersion === 5;
  const sub: Subscription = {
    clientId: conn.clientId,
    filter: req.topic,
    qos: req.qos,
    noLocal: v5 && (req.nl ?? false),
    retainAsPublished: v5 && (req.rap ?? false),
    retainHandling: v5 ? ((req.rh ?? 0) as 0 | 1 | 2) : 0,
    identifier,
    group: shared?.group,
  };
  return { sub, inner: shared?.filter ?? req.topic };
}

function finish(ctx: BrokerContext, conn: Connection, session: Session, messageId: number, requests: Request[]): void {
  const codes: number[] = [];
  const retainedFor: { sub: Subscription; inner: string }[] = [];
  for (const req of requests) {
    if ('code' in req) {
      codes.push(req.code);
      continue;
    }
    // [MQTT-3.8.4-3] a repeated filter replaces the existing subscription
    const isNew = ctx.router.subscribe(session, req.sub, req.inner);
    codes.push(req.sub.qos); // [MQTT-3.9.3-1] the granted QoS
    const { retainHandling, group } = req.sub;
    // Retained messages are not sent for shared subscriptions [MQTT-4.8.2], and Retain Handling [MQTT-3.3.1-9..11]
    if (group === undefined && (retainHandling === 0 || (retainHandling === 1 && isNew))) retainedFor.push(req);
  }
  conn.send(subackPacket(conn.protocolVersion, messageId, codes)); // [MQTT-3.8.4-1]
  ctx.store.saveSession(session.toRecord());
  for (const { sub, inner } of retainedFor) sendRetained(ctx, session, sub, inner);
}

function sendRetained(ctx: BrokerContext, session: Session, sub: Subscription, inner: string): void {
  for (const message of ctx.router.retainedFor(inner)) {
    const ids = sub.identifier === undefined ? undefined : [sub.identifier];
    // [MQTT-3.3.1-8] RETAIN=1 on messages sent because of a new subscription
    session.deliver(message, Math.min(message.qos, sub.qos) as QoS, true, ids);
  }
}

/** UNSUBSCRIBE [MQTT-3.10]: remove each filter and answer UNSUBACK, even when nothing matched [MQTT-3.10.4-5]. */
export function handleUnsubscribe(ctx: BrokerContext, conn: Connection, packet: UnsubscribePacket): void {
  const session = conn.session as Session;
  if (packet.unsubscriptions.length === 0) throw new BrokerError('ERR_PROTOCOL', 'UNSUBSCRIBE without filters'); // [MQTT-3.10.3-2]
  const codes = packet.unsubscriptions.map((filter) => {
    const shared = parseSharedFilter(filter);
    if (shared === null || (shared === undefined && !isValidTopicFilter(filter))) return ReasonCode.TopicFilterInvalid;
    return ctx.router.unsubscribe(session, filter) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted;
  });
  conn.send(unsubackPacket(conn.protocolVersion, packet.messageId as number, codes));
  ctx.store.saveSession(session.toRecord());
}
