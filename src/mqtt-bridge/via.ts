import type { UserProperties } from '../model.js';

/**
 * MQTT 5 user property naming the Midge brokers a message crossed through bridges, as a comma-
 * separated list of broker ids. No Local stops a message from coming back over the link it went out
 * on; this stops the loop of two brokers that each forward to the other over their own links (or a
 * longer ring): a broker that finds its own id in a message from a remote drops it.
 */
export const VIA_PROPERTY = 'midge-bridge-via';

/** The brokers a message already crossed (empty when it never crossed a Midge bridge). */
export function viaOf(userProperties: UserProperties | undefined): string[] {
  const value = userProperties?.[VIA_PROPERTY];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',').filter((id) => id !== '');
}

/** The user properties of a message forwarded by broker `id`: its own id added to the list. */
export function withVia(userProperties: UserProperties | undefined, id: string): UserProperties {
  return { ...userProperties, [VIA_PROPERTY]: [...viaOf(userProperties), id].join(',') };
}

/**
 * MQTT 3.1.1 has no user properties, so two Midge brokers that each forward to the other with an
 * `out` link over 3.1.1 learn who is who instead. Each Midge keeps its broker id as a retained
 * `$SYS` message (BROKER_ID_TOPIC). A 3.1.1 link with the bridge bit subscribes to it on the
 * remote: a Midge remote answers with its id, and the link then says who it is (HELLO_TOPIC, its
 * own broker id; a Mosquitto remote never gets one). A broker so knows, for each bridge client
 * that said hello, the broker behind it, and for each of its links, the broker it reaches: a link
 * does not forward a message published by a bridge client of the very broker it reaches (dropped,
 * counted as 'bridge-loop'). Rings of three or more brokers over 3.1.1 are not detected (MQTT 5 is).
 */
export const BROKER_ID_TOPIC = '$SYS/broker/midge/bridge-id';
export const HELLO_TOPIC = '$midge/bridge/hello';

/** A broker id as this module writes them (see MqttBridges): 12 hexadecimal digits. */
const BROKER_ID = /^[0-9a-f]{12}$/;

/** The bridge clients of this broker that said hello, with the broker behind each. */
export class BridgePeers {
  readonly #brokers = new Map<string, string>();

  /** A hello from client `clientId`; false when its payload is not a broker id. */
  add(clientId: string, payload: Buffer): boolean {
    const id = payload.toString('latin1');
    if (!BROKER_ID.test(id)) return false;
    this.#brokers.set(clientId, id);
    return true;
  }

  /** The broker behind client `clientId`, if it said hello. */
  get(clientId: string | undefined): string | undefined {
    return clientId === undefined ? undefined : this.#brokers.get(clientId);
  }

  delete(clientId: string): void {
    this.#brokers.delete(clientId);
  }

  get size(): number {
    return this.#brokers.size;
  }
}
