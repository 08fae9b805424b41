import type { ClientInfo } from '../model.js';
import type { Credentials } from '../hooks.js';

/** What the plain-credential plugins (password file, JWT) share about who they must check. */
export interface PlainCredentialOptions {
  readonly allowAnonymous: boolean;
  readonly certAsUsername: boolean;
  /** Credentials another built-in plugin checks (a password file beside JWT, and the reverse). */
  readonly skip?: (credentials: Credentials) => boolean;
}

/**
 * The verdict a plain-credential plugin gives without looking at the password, or undefined when
 * it must check it: enhanced authentication belongs to the plugin that knows the method, a
 * verified certificate's CN is the username, and a client without credentials is anonymous.
 */
export function verdictBeforeChecking(client: ClientInfo, credentials: Credentials, options: PlainCredentialOptions): boolean | undefined {
  if (credentials.method !== undefined || credentials.exchange.step > 0) return true;
  if (options.certAsUsername && client.certificate?.commonName) return true;
  if (options.skip?.(credentials)) return true;
  if (credentials.username === undefined && credentials.password === undefined) return options.allowAnonymous;
  return undefined;
}
