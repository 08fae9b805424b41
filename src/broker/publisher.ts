import type { HookRunner } from '../hooks.js';
import type { ClientInfo, Message } from '../model.js';
import type { Drops } from './drops.js';
import type { Router } from './router.js';

/** Where a cluster backend takes the messages this node accepted (see src/cluster/). */
export interface ClusterLink {
  forward(message: Message, client: ClientInfo | undefined, accepted: Message): void;
  /** True when the cluster routes the message to this node's sessions itself, once it is stored. */
  routesItself(message: Message): boolean;
}

/**
 * The central step of every PUBLISH, from a client, a will or the broker itself:
 * transform (onPublish plugins) → retain → route (to every matching session) → notify
 * (onPublished observers, the log bridge among them); in cluster mode also forward to the other
 * nodes. Synchronous, so every record it writes
 * joins the same group commit as the message.
 */
export class Publisher {
  readonly #hooks: HookRunner;
  readonly #router: Router;
  readonly #drops: Drops;

  readonly #cluster: ClusterLink | undefined;

  constructor(hooks: HookRunner, router: Router, drops: Drops, cluster?: ClusterLink) {
    this.#hooks = hooks;
    this.#router = router;
    this.#drops = drops;
    this.#cluster = cluster;
  }

  /**
   * Publishes `input` as `client` (undefined: the broker); returns how many sessions of this node
   * it was routed to, plus one in cluster mode, where other nodes' sessions are not known here.
   */
  publish(input: Message, client: ClientInfo | undefined): number {
    const message = this.#hooks.transform(client, input);
    if (message === null) return 0;
    if (message === 'plugin-error') {
      this.#drops.add(client?.id, input, 'plugin-error');
      return 0;
    }
    if (message.retain) this.#router.retain(message);
    const receivers = this.#cluster?.routesItself(message) ? 0 : this.#router.publish(message);
    this.#cluster?.forward(message, client, input);
    this.#hooks.notify('onPublished', message, client);
    return this.#cluster === undefined ? receivers : receivers + 1;
  }
}
