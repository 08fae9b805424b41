import type { IConnackPacket, IPublishPacket } from 'mqtt';
import type { Delivery } from '../broker/inflight.js';
import { isExpired, remainingExpiry } from '../broker/message.js';
import type { Outlet } from '../broker/session.js';
import type { ClientInfo, DropReason, Message, ProtocolVersion, QoS } from '../model.js';
import type { RemoteLink } from './link.js';
import type { TopicMap } from './topics.js';
import { withVia } from './via.js';

/** Bytes of a PUBLISH beyond topic and payload, counted generously (fixed header, length, packet id, properties' framing). */
const PUBLISH_OVERHEAD = 16;

/** What an outlet reports to its bridge. */
export interface OutletEvents {
  /** A QoS 0 PUBLISH went out. */
  sentQos0(): void;
  /**
   * A delivery went out below its QoS because of the remote's Maximum QoS, or without its RETAIN
   * flag because the remote has no Retain Available (MQTT 5 CONNACK) [MQTT-3.2.2-11] [MQTT-3.2.2-14].
   */
  limited(what: 'qos' | 'retain'): void;
  /** A delivery sent at QoS 0 for the remote's Maximum QoS 0 is done, as no acknowledgement will come. */
  unacknowledged(packetId: number): void;
  /** True when `message` came from the remote itself, through one of its bridge links to this broker (3.1.1, see via.ts). */
  returnsHome(message: Message): boolean;
}

/**
 * The bridge's session's connection to its "client", the remote broker: what the session sends
 * goes to the remote, under the remote topic its rule gives, within the remote's Maximum QoS and
 * Retain Available. One per connection.
 */
export class BridgeOutlet implements Outlet {
  readonly protocolVersion: ProtocolVersion;
  /** The bridge as plugins' read checks (authorizeRead, ACL `client $bridge/<name>`) see it. */
  readonly info: ClientInfo;
  /** The remote's Receive Maximum (MQTT 5), within the bridge's maxInflight. */
  readonly receiveMaximum: number;
  readonly #link: RemoteLink;
  readonly #topics: TopicMap;
  readonly #maxPacketSize: number;
  readonly #maxWriteBuffer: number;
  readonly #events: OutletEvents;
  readonly #brokerId: string;
  /** The remote's Maximum QoS and Retain Available (MQTT 5 CONNACK; 2 and true when absent). */
  readonly maxQos: QoS;
  readonly retainAvailable: boolean;
  /** QoS 2 deliveries sent at QoS 1 (remote Maximum QoS 1), by packet id: their PUBACK ends them. */
  readonly #atQos1 = new Set<number>();

  constructor(
    link: RemoteLink,
    connack: IConnackPacket,
    config: { protocolVersion: 4 | 5; maxInflight: number },
    info: ClientInfo,
    topics: TopicMap,
    maxWriteBuffer: number,
    events: OutletEvents,
    brokerId: string,
  ) {
    this.#brokerId = brokerId;
    this.#link = link;
    this.info = info;
    this.#topics = topics;
    this.protocolVersion = config.protocolVersion;
    const props = config.protocolVersion === 5 ? connack.properties : undefined;
    this.receiveMaximum = Math.min(config.maxInflight, props?.receiveMaximum ?? 65535);
    this.#maxPacketSize = props?.maximumPacketSize ?? Number.MAX_SAFE_INTEGER;
    this.#maxWriteBuffer = maxWriteBuffer;
    this.#events = events;
    this.maxQos = (props?.maximumQoS ?? 2) as QoS;
    this.retainAvailable = props?.retainAvailable !== false;
  }

  get congested(): boolean {
    return this.#link.writeBacklog > this.#maxWriteBuffer;
  }

  sendPublish(delivery: Delivery, dup: boolean): DropReason | undefined {
    const message = delivery.message;
    const remote = this.#topics.toRemote(message.topic);
    if (remote === undefined) return 'unencodable'; // no rule forwards it any more (the configuration changed)
    const now = Date.now();
    if (isExpired(message, now)) return 'expired'; // [MQTT-3.3.2-5]
    if (this.#events.returnsHome(message)) return 'bridge-loop'; // 3.1.1 between two Midge brokers (see via.ts)
    if (Buffer.byteLength(remote.topic) + message.payload.length + PUBLISH_OVERHEAD > this.#maxPacketSize) return 'packet-too-large'; // [MQTT-3.1.2-24]
    const properties = this.protocolVersion === 5 ? propertiesOf(message, now, this.#brokerId) : undefined;
    // [MQTT-3.2.2-11] never above the remote's Maximum QoS; [MQTT-3.2.2-14] no RETAIN without Retain Available
    const qos = Math.min(delivery.qos, this.maxQos) as QoS;
    if (qos < delivery.qos) this.#events.limited('qos');
    const retain = delivery.retain && this.retainAvailable;
    if (retain !== delivery.retain) this.#events.limited('retain');
    const packetId = qos > 0 ? delivery.packetId : undefined;
    const sent = this.#link.publish({ cmd: 'publish', topic: remote.topic, payload: message.payload, qos, retain, dup: dup && qos > 0, messageId: packetId, properties });
    if (delivery.qos === 0) {
      if (!sent) return 'offline';
      this.#events.sentQos0();
      return undefined;
    }
    // In flight: if the link just went, the next attach resends it
    if (sent && qos === 0) this.#events.unacknowledged(delivery.packetId);
    else if (qos === 1 && delivery.qos === 2) this.#atQos1.add(delivery.packetId);
    return undefined;
  }

  /** True (once) when `packetId` is a QoS 2 delivery the remote took at QoS 1: its PUBACK ends it. */
  takeDowngraded(packetId: number): boolean {
    return this.#atQos1.delete(packetId);
  }

  sendPubrel(packetId: number): void {
    // A delivery the remote took below QoS 2 has no PUBREL to send: its exchange is over
    if (this.maxQos < 2) this.#events.unacknowledged(packetId);
    else this.#link.sendPubrel(packetId);
  }
}

/**
 * MQTT 5 properties of a forwarded message: passed through, with the expiry interval that is left
 * [MQTT-3.3.2-6], and this broker added to its `midge-bridge-via` user property (see via.ts).
 */
function propertiesOf(message: Message, now: number, brokerId: string): IPublishPacket['properties'] {
  const expiry = remainingExpiry(message, now);
  const props = message.properties;
  const userProperties = withVia(props?.userProperties, brokerId);
  return { ...props, userProperties, ...(expiry === undefined ? {} : { messageExpiryInterval: expiry }) } as IPublishPacket['properties'];
}
