import type { Message, QoS } from '../model.js';

/** One client's subscription to one topic filter, with its MQTT 5 options. */
export interface Subscription {
  readonly clientId: string;
  /** The filter as the client sent it (including any `$share/group/` prefix). */
  readonly filter: string;
  readonly qos: QoS;
  /** MQTT 5 No Local: do not deliver the client's own publications. */
  readonly noLocal: boolean;
  /** MQTT 5 Retain As Published: keep the RETAIN flag on forwarded messages. */
  readonly retainAsPublished: boolean;
  /** MQTT 5 Retain Handling: 0 send retained, 1 only for a new subscription, 2 never. */
  readonly retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier, if the SUBSCRIBE carried one. */
  readonly identifier: number | undefined;
  /** The shared subscription group, if this is a `$share/` subscription. */
  readonly group: string | undefined;
}

/** The filter a subscription matches: its filter without the `$share/{group}/` prefix. */
export function matchFilterOf(sub: Subscription): string {
  return sub.group === undefined ? sub.filter : sub.filter.slice('$share/'.length + sub.group.length + 1);
}

/** The Subscription Identifiers a delivery through `sub` carries [MQTT-3.3.4-3]. */
export function identifiersOf(sub: Subscription): number[] | undefined {
  return sub.identifier === undefined ? undefined : [sub.identifier];
}

/** The QoS of a delivery through `sub`: the lower of the message's and the subscription's [MQTT-3.8.4-8]. */
export function grantedQos(message: Message, sub: Subscription): QoS {
  return Math.min(message.qos, sub.qos) as QoS;
}
