import type { Logger } from 'pino';
import type { HookRunner } from '../hooks.js';
import type { DropReason, Message } from '../model.js';
import type { Stats } from './stats.js';

/**
 * The one place a message that does not reach a receiver is accounted for: it is counted by
 * reason in Stats.dropped, logged at debug level and reported to onDropped observers.
 * Nothing is dropped silently (STYLE.md, State 7).
 */
export class Drops {
  readonly #stats: Stats;
  readonly #hooks: HookRunner;
  readonly #logger: Logger;

  constructor(stats: Stats, hooks: HookRunner, logger: Logger) {
    this.#stats = stats;
    this.#hooks = hooks;
    this.#logger = logger;
  }

  /** `message` did not reach `clientId` (undefined: no receiver in particular, e.g. the publisher's message itself). */
  add(clientId: string | undefined, message: Message, reason: DropReason): void {
    this.#stats.dropped[reason]++;
    this.#logger.debug({ clientId, topic: message.topic, reason }, 'message dropped');
    this.#hooks.notify('onDropped', { clientId, message, reason });
  }
}
