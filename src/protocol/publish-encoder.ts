import type { Delivery } from '../broker/inflight.js';
import { remainingExpiry } from '../broker/message.js';
import { BrokerError } from '../errors.js';
import type { ProtocolVersion } from '../model.js';
import { encode, withPacketId, type PublishPacket } from './codec.js';
import { encodePlainPublish } from './publish-frame.js';

/** An outbound Topic Alias for one PUBLISH; `known` sends a zero-length Topic Name (section 3.3.2.3.4). */
export interface TopicAliasUse {
  readonly alias: number;
  readonly known: boolean;
}

/**
 * Encodes outgoing PUBLISH packets. A message fanned out to many subscribers is encoded once per
 * protocol level, QoS and RETAIN flag; at QoS 1/2 each subscriber gets a copy with its own packet
 * id and DUP flag. Fan-out is synchronous, so caching the variants of the last message seen is
 * enough and holds no memory beyond one message. A PUBLISH with a Topic Alias belongs to one
 * connection, so it is encoded for that connection alone.
 */
export class PublishEncoder {
  #lastMessage: Delivery['message'] | undefined;
  readonly #variants = new Map<number, Buffer>();
  /** The last Topic Name encoded and its UTF-8: messages to one topic follow each other. */
  #topic: string | undefined;
  #topicUtf8: Buffer = Buffer.alloc(0);

  /** The bytes of `delivery` for a client at `version`, with `alias` (MQTT 5 only) if given. */
  encode(delivery: Delivery, dup: boolean, version: ProtocolVersion, alias?: TopicAliasUse): Buffer {
    if (alias !== undefined) return encode(this.#aliased(this.#packet(delivery, dup, version), alias), version);
    // Messages with an expiry are not shared: their remaining interval changes with time [MQTT-3.3.2-6]
    const shareable = delivery.subscriptionIds === undefined && delivery.message.expiresAt === undefined;
    if (!shareable) return encode(this.#packet(delivery, dup, version), version);
    if (this.#lastMessage !== delivery.message) {
      this.#lastMessage = delivery.message;
      this.#variants.clear();
    }
    const key = (version * 2 + (delivery.retain ? 1 : 0)) * 3 + delivery.qos;
    let buf = this.#variants.get(key);
    if (!buf) {
      buf = this.#encodeShared(this.#packet(delivery, false, version), version);
      this.#variants.set(key, buf);
    }
    return delivery.qos === 0 ? buf : withPacketId(buf, delivery.packetId, dup);
  }

  /** Throws ERR_INVALID_MESSAGE when `message` cannot be encoded (e.g. bad properties from the API). */
  check(message: Delivery['message']): void {
    const delivery: Delivery = { message, qos: message.qos, retain: message.retain, subscriptionIds: undefined, packetId: 1, state: 'publish', seq: 0 };
    try {
      encode(this.#packet(delivery, false, 5), 5);
    } catch (err) {
      throw new BrokerError('ERR_INVALID_MESSAGE', (err as Error).message, { cause: err });
    }
  }

  /** `encode`, with the Topic Name's UTF-8 kept from the last message when a plain PUBLISH repeats it. */
  #encodeShared(packet: PublishPacket, version: ProtocolVersion): Buffer {
    if (packet.properties !== undefined) return encode(packet, version);
    if (packet.topic !== this.#topic) {
      this.#topic = packet.topic;
      this.#topicUtf8 = Buffer.from(packet.topic);
    }
    return encodePlainPublish(packet, version, this.#topicUtf8) ?? encode(packet, version);
  }

  #packet(delivery: Delivery, dup: boolean, version: ProtocolVersion): PublishPacket {
    const { message } = delivery;
    const packet: PublishPacket = {
      cmd: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos: delivery.qos,
      retain: delivery.retain,
      dup,
    };
    if (delivery.qos > 0) packet.messageId = delivery.packetId;
    if (version === 5) packet.properties = this.#properties(delivery);
    return packet;
  }

  #aliased(packet: PublishPacket, use: TopicAliasUse): PublishPacket {
    packet.properties = { ...packet.properties, topicAlias: use.alias };
    if (use.known) packet.topic = ''; // the client maps the alias to the topic it was sent with earlier
    return packet;
  }

  #properties(delivery: Delivery): PublishPacket['properties'] {
    const { message } = delivery;
    // [MQTT-3.3.2-6] the remaining lifetime (the clock is read only for messages that expire)
    const expiry = message.expiresAt === undefined ? undefined : remainingExpiry(message, Date.now());
    const ids = delivery.subscriptionIds;
    // mqtt-packet does not modify properties (Midge never passes it a maximumPacketSize), so they can be shared
    if (expiry === undefined && ids === undefined) return message.properties as PublishPacket['properties'];
    const props: NonNullable<PublishPacket['properties']> = { ...message.properties };
    if (expiry !== undefined) props.messageExpiryInterval = expiry;
    if (ids !== undefined) props.subscriptionIdentifier = ids.length === 1 ? (ids[0] as number) : [...ids];
    return props;
  }
}
