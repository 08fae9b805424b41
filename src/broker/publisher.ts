import type { HookRunner } from '../hooks.js';
import type { ClientInfo, Message } from '../model.js';
import type { Drops } from './drops.js';
import type { Router } from './router.js';

/**
 * The central step of every PUBLISH, from a client, a will or the broker itself:
 * transform (onPublish plugins) → retain → route (to every matching session) → notify
 * (onPublished observers, the log bridge among them). Synchronous, so every record it writes
 * joins the same group commit as the message.
 */
export class Publisher {
  readonly #hooks: HookRunner;
  readonly #router: Router;
  readonly #drops: Drops;

  constructor(hooks: HookRunner, router: Router, drops: Drops) {
    this.#hooks = hooks;
    this.#router = router;
    this.#drops = drops;
  }

  /** Publishes `input` as `client` (undefined: the broker); returns how many sessions it was routed to. */
  publish(input: Message, client: ClientInfo | undefined): number {
    const message = this.#hooks.transform(client, input);
    if (message === null) return 0;
    if (message === 'plugin-error') {
      this.#drops.add(client?.id, input, 'plugin-error');
      return 0;
    }
    if (message.retain) this.#router.retain(message);
    const receivers = this.#router.publish(message);
    this.#hooks.notify('onPublished', message, client);
    return receivers;
  }
}
