import type { IPublishPacket } from 'mqtt';
import { expiresAtOf, isPayloadFormatValid, messagePropertiesOf } from '../broker/message.js';
import type { Session } from '../broker/session.js';
import type { BrokerContext } from '../handlers/context.js';
import type { ClientInfo, Message } from '../model.js';
import type { PublishPacket } from '../protocol/codec.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { isReservedTopic, isValidTopicName } from '../protocol/topic.js';
import { AckTicket, CommitTickets } from './acks.js';
import type { RemoteLink } from './link.js';
import type { TopicMap } from './topics.js';
import { viaOf, withVia } from './via.js';

/** What the inbound side counts. */
export interface InboundCounters {
  /** Messages from the remote published locally. */
  forwardedIn: number;
  /** Messages from the remote that no inbound rule maps (e.g. a subscription left from an older configuration). */
  unmatched: number;
  /** Messages from the remote that had already crossed this broker (a loop), acknowledged and not published. */
  loops: number;
}

/**
 * Remote → local: each message from the remote is published locally as if a local client had
 * published it (plugins' authorizePublish and onPublish, retained handling, the log bridge), with
 * the bridge's session as its origin, so the bridge's own local subscriptions (No Local) do not
 * send it back. Its PUBACK/PUBREC goes to the remote only once what it wrote is committed; a QoS 2
 * packet id is kept in the session, durably, until PUBREL, so a resend is not published twice
 * [MQTT-4.3.3-9], even across a restart.
 */
export class Inbound {
  readonly #ctx: BrokerContext;
  readonly #session: Session;
  readonly #link: RemoteLink;
  readonly #topics: TopicMap;
  readonly #info: ClientInfo;
  readonly #counters: InboundCounters;
  /** With authorizePublish gates: messages are routed in the order they came, each after its own check. */
  #chain: Promise<void> = Promise.resolve();
  /** Acknowledgements waiting for the group commit that holds what their message wrote. */
  readonly #tickets: CommitTickets;
  readonly #settled: () => void;

  readonly #brokerId: string;

  /**
   * `checking`: the checks still running for the previous link's messages (see `checking`); this
   * link's messages wait behind them, so a QoS 2 resend finds the first copy's packet id.
   */
  constructor(ctx: BrokerContext, session: Session, link: RemoteLink, topics: TopicMap, info: ClientInfo, counters: InboundCounters, brokerId: string, checking?: Promise<void>) {
    this.#brokerId = brokerId;
    if (checking !== undefined) this.#chain = checking;
    this.#ctx = ctx;
    this.#session = session;
    this.#link = link;
    this.#topics = topics;
    this.#info = info;
    this.#counters = counters;
    this.#settled = () => link.settled();
    this.#tickets = new CommitTickets(ctx.gate, this.#settled);
  }

  /** Settles once every message received so far has been checked by the authorizePublish gates (and routed or refused). */
  get checking(): Promise<void> {
    return this.#chain;
  }

  /** A PUBLISH from the remote. */
  publish(packet: IPublishPacket): void {
    const { qos } = packet;
    const id = packet.messageId ?? 0;
    const ack = qos === 2 ? 'pubrec' : 'puback';
    if (qos === 2) {
      const known = this.#session.inboundReason(id);
      if (known !== undefined) {
        // A resend before PUBREL: acknowledged again, with the same reason code, not published again [MQTT-4.3.3-9]
        this.#link.hold('pubrec', id, this.#tickets.afterCommit(known));
        return;
      }
    }
    const message = this.#toMessage(packet);
    if (message === undefined) {
      this.#counters.unmatched++;
      if (qos > 0) this.#link.hold(ack, id, AckTicket.READY);
      return;
    }
    if (viaOf(packet.properties?.userProperties).includes(this.#brokerId)) {
      // It went out from here through a bridge and came back through another: acknowledged, not published
      this.#counters.loops++;
      this.#ctx.drops.add(this.#info.id, message, 'bridge-loop');
      if (qos > 0) this.#link.hold(ack, id, AckTicket.READY);
      return;
    }
    if (!this.#ctx.hooks.has('authorizePublish')) {
      const ticket = this.#route(message, id);
      if (qos > 0) this.#link.hold(ack, id, ticket);
      return;
    }
    const routed = this.#chain.then(() => {
      // A QoS 2 resend that came while the first copy waited for its check: that copy has been handled by now
      const known = qos === 2 ? this.#session.inboundReason(id) : undefined;
      if (known !== undefined) return this.#tickets.afterCommit(known); // [MQTT-4.3.3-9]
      return this.#ctx.hooks
        .authorizePublish(this.#info, message)
        .then((allowed) => (allowed ? this.#route(message, id) : this.#refuse(message, 'not-authorized', ReasonCode.NotAuthorized)));
    });
    this.#chain = routed.then(
      () => undefined,
      () => undefined,
    );
    if (qos === 0) return;
    const ticket = new AckTicket();
    routed.then(
      (routedTicket) => ticket.follow(routedTicket, this.#settled),
      (err: unknown) => {
        ticket.fail(err);
        this.#settled();
      },
    );
    this.#link.hold(ack, id, ticket);
  }

  /** PUBREL from the remote: the QoS 2 exchange ends; PUBCOMP once that is committed. */
  release(packetId: number): void {
    this.#session.releaseInbound(packetId);
    this.#link.hold('pubcomp', packetId, this.#tickets.afterCommit());
  }

  /** Publishes locally; its ticket is ready, with the reason code, once everything it wrote is committed. */
  #route(message: Message, packetId: number): AckTicket {
    const ctx = this.#ctx;
    if (ctx.options.validatePayloadFormat && !isPayloadFormatValid(message.payload, message.properties)) {
      return this.#refuse(message, 'payload-format-invalid', ReasonCode.PayloadFormatInvalid);
    }
    // $SYS/ belongs to the local broker: refused as for a local client
    if (isReservedTopic(message.topic)) return this.#refuse(message, 'not-authorized', ReasonCode.NotAuthorized);
    ctx.publisher.publish(message, this.#info);
    this.#counters.forwardedIn++;
    if (message.qos === 2) this.#session.addInbound(packetId, ReasonCode.Success);
    if (message.qos === 0) return AckTicket.READY; // nothing to acknowledge
    const barrier = ctx.hooks.holdAcknowledgement(this.#info, message);
    // A bridge barrier ('block' overflow policy) withholds the acknowledgement until the backlog has room
    if (barrier !== undefined) return AckTicket.after(Promise.all([ctx.store.flush(), barrier]).then(() => ReasonCode.Success), this.#settled);
    return this.#tickets.afterCommit(ReasonCode.Success);
  }

  #refuse(message: Message, reason: 'not-authorized' | 'payload-format-invalid', code: number): AckTicket {
    this.#ctx.drops.add(this.#info.id, message, reason);
    return AckTicket.ready(code);
  }

  /** The local message for a remote PUBLISH, or undefined when no inbound rule maps its topic. */
  #toMessage(packet: IPublishPacket): Message | undefined {
    const local = this.#topics.toLocal(packet.topic);
    if (local === undefined || !isValidTopicName(local.topic)) return undefined;
    const props = packet.properties as PublishPacket['properties'];
    const properties = messagePropertiesOf(props);
    return {
      id: this.#ctx.messageIds.next(),
      topic: local.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      // This broker joins the list of brokers it crossed, so it drops the message if it ever comes back
      properties: { ...properties, userProperties: withVia(properties?.userProperties, this.#brokerId) },
      expiresAt: expiresAtOf(props?.messageExpiryInterval),
      origin: this.#info.id,
    };
  }
}

