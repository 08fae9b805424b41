import type { IConnackPacket, IPublishPacket } from 'mqtt';
import type { Delivery } from '../broker/inflight.js';
import { isExpired, remainingExpiry } from '../broker/message.js';
import type { Outlet } from '../broker/session.js';
import type { ClientInfo, DropReason, Message, ProtocolVersion } from '../model.js';
import type { RemoteLink } from './link.js';
import type { TopicMap } from './topics.js';
import { withVia } from './via.js';

/** Bytes of a PUBLISH beyond topic and payload, counted generously (fixed header, length, packet id, properties' framing). */
const PUBLISH_OVERHEAD = 16;

/**
 * The bridge's session's connection to its "client", the remote broker: what the session sends
 * goes to the remote through mqtt.js, under the remote topic its rule gives. One per connection.
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
  readonly #sentQos0: () => void;
  readonly #brokerId: string;

  constructor(
    link: RemoteLink,
    connack: IConnackPacket,
    config: { protocolVersion: 4 | 5; maxInflight: number },
    info: ClientInfo,
    topics: TopicMap,
    maxWriteBuffer: number,
    sentQos0: () => void,
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
    this.#sentQos0 = sentQos0;
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
    if (Buffer.byteLength(remote.topic) + message.payload.length + PUBLISH_OVERHEAD > this.#maxPacketSize) return 'packet-too-large'; // [MQTT-3.1.2-24]
    const properties = this.protocolVersion === 5 ? propertiesOf(message, now, this.#brokerId) : undefined;
    const sent = this.#link.publish(remote.topic, message.payload, { qos: delivery.qos, retain: delivery.retain, dup, properties }, delivery.packetId);
    if (delivery.qos > 0) return undefined; // in flight: if the link just went, the next attach resends it
    if (!sent) return 'offline';
    this.#sentQos0();
    return undefined;
  }

  sendPubrel(packetId: number): void {
    this.#link.sendPubrel(packetId);
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
