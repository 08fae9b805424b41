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
