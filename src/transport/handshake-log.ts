import type { Logger } from 'pino';

/** How long one address's failed handshakes are summed into one line. */
const WINDOW_MS = 60_000;
/** Addresses remembered at most; beyond it, the ones whose window has passed are forgotten first. */
const MAX_ADDRESSES = 10_000;

/** What a failed handshake means, in an operator's words, from the TLS error. */
export function handshakeFailure(err: NodeJS.ErrnoException): string {
  const text = `${err.code ?? ''} ${err.message}`;
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|certificate required/i.test(text)) return 'no client certificate';
  if (/UNKNOWN_CA|UNABLE_TO_(VERIFY|GET)|unable to (get|verify)|self.signed|BAD_CERTIFICATE|CERTIFICATE_VERIFY_FAILED|certificate signature/i.test(text)) return 'client certificate not signed by the trusted CA (tlsCa)';
  if (/CERT(IFICATE)?_HAS_EXPIRED|CERTIFICATE_EXPIRED|certificate has expired/i.test(text)) return 'client certificate expired';
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|unknown protocol|packet length too long/i.test(text)) return 'not TLS (a plain MQTT or HTTP client on the TLS port?)';
  if (/UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|no shared cipher|NO_SHARED_CIPHER/i.test(text)) return 'no TLS version or cipher in common';
  if (/ECONNRESET|socket hang up/i.test(text)) return 'connection closed during the handshake';
  if (/timed? ?out/i.test(text)) return 'handshake not finished within connectTimeout';
  return err.message;
}

/**
 * Logs failed TLS handshakes (no client certificate, an untrusted CA, ...) at most once per
 * address per minute: the first failure is logged at once, the others of that minute are
 * counted and reported with the next line for that address.
 */
export class HandshakeLog {
  readonly #logger: Logger;
  readonly #now: () => number;
  /** Per address: when its window started and how many failures it has held back. */
  readonly #windows = new Map<string, { since: number; suppressed: number }>();

  constructor(logger: Logger, now: () => number = Date.now) {
    this.#logger = logger;
    this.#now = now;
  }

  /** One failed handshake on `listener` from `address`. */
  failed(listener: string, address: string | undefined, err: NodeJS.ErrnoException): void {
    const key = address ?? 'unknown';
    const now = this.#now();
    const window = this.#windows.get(key);
    if (window && now - window.since < WINDOW_MS) {
      window.suppressed++;
      return;
    }
    const earlier = window?.suppressed ?? 0;
    this.#windows.delete(key); // re-inserted last, so the map stays in window order
    if (this.#windows.size >= MAX_ADDRESSES) this.#forgetOld();
    this.#windows.set(key, { since: now, suppressed: 0 });
    const fields = { listener, address, code: err.code, ...(earlier > 0 ? { moreInLastMinute: earlier } : {}) };
    this.#logger.warn(fields, `TLS handshake failed: ${handshakeFailure(err)}`);
  }

  /** Under a flood of addresses, forgets the oldest half (the map is in window order), so memory stays bounded. */
  #forgetOld(): void {
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < MAX_ADDRESSES / 2) break;
      this.#windows.delete(key);
    }
  }
}
