import type { DropReason } from '../hooks.js';

/** Broker-wide counters (read by $SYS, metrics and tests). Plain numbers: counting costs an increment. */
export class Stats {
  readonly startedAt = Date.now();
  connectionsTotal = 0;
  messagesReceived = 0;
  messagesSent = 0;
  /** Store commits that failed (their acknowledgements were withheld). */
  storeErrors = 0;
  readonly dropped: Record<DropReason, number> = {
    'queue-full': 0,
    expired: 0,
    'packet-too-large': 0,
    'slow-consumer': 0,
    'not-authorized': 0,
    'session-ended': 0,
    offline: 0,
    'plugin-error': 0,
    refused: 0,
    unencodable: 0,
    'payload-format-invalid': 0,
  };
}
