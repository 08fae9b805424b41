import { BrokerError } from '../errors.js';
import type { ClientInfo, Message, MessageProperties } from '../model.js';
import type { PublishPacket } from '../protocol/codec.js';
import { ACK_SIZE, pubackPacket, pubrecPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { exceedsTopicLimits, isReservedTopic, isValidTopicName } from '../protocol/topic.js';
import { expiresAtOf, isPayloadFormatValid, messagePropertiesOf } from '../broker/message.js';
import type { AcceptedConnection } from '../connection/connection.js';
import { sendAfterCommit } from './commit.js';
import type { BrokerContext } from './context.js';

/**
 * PUBLISH from a client [MQTT-3.3]. Synchronous unless an authorizePublish gate is registered,
 * so the QoS 0 path allocates no promise.
 */
export function handlePublish(ctx: BrokerContext, conn: AcceptedConnection, packet: PublishPacket): void | Promise<void> {
  const session = conn.session;
  const topic = resolveTopic(ctx, conn, packet);
  const { qos } = packet;
  if (qos === 0 && packet.dup) throw new BrokerError('ERR_MALFORMED_PACKET', 'DUP set on QoS 0'); // [MQTT-3.3.1-2]
  ctx.stats.messagesReceived++;
  ctx.stats.messagesReceivedByQos[qos]++;
  if (qos === 2) {
    const id = packet.messageId as number;
    const answered = session.inboundReason(id);
    if (answered !== undefined) {
      // A resend before PUBREL is acknowledged again, with the same reason code, but not delivered again [MQTT-4.3.3-9];
      // in cluster mode, one whose message may not be stored yet (its node was killed) is stored first
      const barrier = ctx.cluster?.resent(conn.info, id, () => resentMessage(ctx, conn, packet, topic));
      sendAfterCommit(ctx, conn, pubrecPacket(id, answered), barrier);
      return;
    }
    // [MQTT-3.3.4-7] more unacknowledged QoS 2 publishes than our Receive Maximum
    if (session.inboundCount >= ctx.options.receiveMaximum) throw new BrokerError('ERR_RECEIVE_MAXIMUM_EXCEEDED');
  }
  const message = toMessage(ctx, conn, packet, topic);
  const info = conn.info;
  const packetId = packet.messageId ?? 0;
  if (ctx.options.validatePayloadFormat && !isPayloadFormatValid(message.payload, message.properties)) {
    refuseInvalidPayload(ctx, conn, message, info, packetId);
    return;
  }
  // $SYS/ belongs to the broker, $share/ is no topic: refused as not authorized, as in Mosquitto (QoS 0: dropped)
  if (isReservedTopic(topic)) return refuseUnauthorized(ctx, conn, message, info, packetId);
  if (ctx.hooks.has('authorizePublish')) return authorizeThenRoute(ctx, conn, message, info, packetId);
  route(ctx, conn, message, info, packetId);
}

async function authorizeThenRoute(
  ctx: BrokerContext,
  conn: AcceptedConnection,
  message: Message,
  info: ClientInfo,
  packetId: number,
): Promise<void> {
  if (await ctx.hooks.authorizePublish(info, message)) {
    route(ctx, conn, message, info, packetId);
    return;
  }
  refuseUnauthorized(ctx, conn, message, info, packetId);
}

function refuseUnauthorized(ctx: BrokerContext, conn: AcceptedConnection, message: Message, info: ClientInfo, packetId: number): void {
  ctx.drops.add(info.id, message, 'not-authorized');
  // MQTT 5 answers 0x87; 3.1.1 has no negative acknowledgement, so the message is acknowledged and dropped
  acknowledge(ctx, conn, message, packetId, conn.protocolVersion === 5 ? ReasonCode.NotAuthorized : ReasonCode.Success);
}

/**
 * A payload that is not the UTF-8 its Payload Format Indicator promises (MQTT 5 section 3.3.2.3.2):
 * QoS 1/2 get PUBACK/PUBREC 0x99 and the message is not routed; QoS 0 has no acknowledgement, so DISCONNECT 0x99.
 */
function refuseInvalidPayload(ctx: BrokerContext, conn: AcceptedConnection, message: Message, info: ClientInfo, packetId: number): void {
  ctx.drops.add(info.id, message, 'payload-format-invalid');
  if (message.qos === 0) throw new BrokerError('ERR_PAYLOAD_FORMAT_INVALID', 'payload is not UTF-8');
  acknowledge(ctx, conn, message, packetId, ReasonCode.PayloadFormatInvalid);
}

function route(ctx: BrokerContext, conn: AcceptedConnection, message: Message, info: ClientInfo, packetId: number): void {
  const receivers = ctx.publisher.publish(message, info);
  if (message.qos > 0) {
    acknowledge(ctx, conn, message, packetId, receivers > 0 ? ReasonCode.Success : ReasonCode.NoMatchingSubscribers);
  }
}

/** Reason Strings for refused publishes (sent only where Connection.problem allows). */
const REFUSALS: Readonly<Record<number, string>> = {
  [ReasonCode.NotAuthorized]: 'not authorized to publish to this topic',
  [ReasonCode.PayloadFormatInvalid]: 'payload is not the UTF-8 its Payload Format Indicator announces',
};

function acknowledge(ctx: BrokerContext, conn: AcceptedConnection, message: Message, id: number, reasonCode: number): void {
  const text = REFUSALS[reasonCode];
  const problem = text === undefined ? undefined : conn.problem(text, ACK_SIZE);
  // [MQTT-4.3.3-8] a failed PUBREC ends the exchange; the id awaits PUBREL before the hold is asked (the cluster records it first)
  if (message.qos === 2 && reasonCode < 0x80) conn.session.addInbound(id, reasonCode);
  const barrier = ctx.hooks.holdAcknowledgement(conn.info, message, id);
  if (message.qos === 1) {
    sendAfterCommit(ctx, conn, pubackPacket(id, reasonCode, problem), barrier); // [MQTT-4.3.2-2]
  } else if (message.qos === 2) {
    sendAfterCommit(ctx, conn, pubrecPacket(id, reasonCode, problem), barrier);
  }
}

/** A resent QoS 2 PUBLISH as its first sending was appended (after the onPublish transforms); null: dropped by them. */
function resentMessage(ctx: BrokerContext, conn: AcceptedConnection, packet: PublishPacket, topic: string): Message | null {
  const message = ctx.hooks.transform(conn.info, toMessage(ctx, conn, packet, topic));
  return message === 'plugin-error' ? null : message;
}

/** Applies the MQTT 5 Topic Alias and validates the topic name. */
function resolveTopic(ctx: BrokerContext, conn: AcceptedConnection, packet: PublishPacket): string {
  const alias = packet.properties?.topicAlias;
  let topic = packet.topic;
  // [MQTT-3.3.4-6] a client must not send a Subscription Identifier
  if (packet.properties?.subscriptionIdentifier !== undefined) throw new BrokerError('ERR_PROTOCOL', 'Subscription Identifier in PUBLISH');
  // MQTT 5 section 3.3.2.1: an empty Topic Name without a Topic Alias is a Protocol Error
  if (topic === '' && alias === undefined && conn.protocolVersion === 5) throw new BrokerError('ERR_PROTOCOL', 'empty Topic Name without Topic Alias');
  if (alias !== undefined) {
    // [MQTT-3.3.2-8] [MQTT-3.3.2-9] an alias of 0 or above our Topic Alias Maximum
    if (alias === 0 || alias > ctx.options.topicAliasMaximum) throw new BrokerError('ERR_TOPIC_ALIAS_INVALID', `alias ${alias}`);
    if (topic === '') {
      const known = conn.client.topicAlias(alias);
      if (known === undefined) throw new BrokerError('ERR_PROTOCOL', `unknown topic alias ${alias}`);
      topic = known;
    } else {
      conn.client.setTopicAlias(alias, topic);
    }
  }
  // [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1] a valid topic name without wildcards
  if (!isValidTopicName(topic)) throw new BrokerError('ERR_TOPIC_NAME_INVALID', JSON.stringify(topic.slice(0, 64)));
  if (exceedsTopicLimits(topic, ctx.options.maxTopicLength, ctx.options.maxTopicLevels)) {
    throw new BrokerError('ERR_TOPIC_LIMIT', `over ${ctx.options.maxTopicLength} bytes or ${ctx.options.maxTopicLevels} levels`);
  }
  const responseTopic = packet.properties?.responseTopic;
  if (responseTopic !== undefined && !isValidTopicName(responseTopic)) {
    throw new BrokerError('ERR_PROTOCOL', 'Response Topic is not a valid topic name'); // [MQTT-3.3.2-14]
  }
  return topic;
}

function toMessage(ctx: BrokerContext, conn: AcceptedConnection, packet: PublishPacket, topic: string): Message {
  const props = packet.properties;
  const expiry = props?.messageExpiryInterval;
  return {
    id: ctx.messageIds.next(),
    topic,
    payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    properties: messagePropertiesOf(props),
    expiresAt: expiresAtOf(expiry),
    origin: conn.clientId,
  };
}
