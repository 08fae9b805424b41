import type { HookRunner } from '../hooks.js';
import type { ClientInfo, Message } from '../model.js';
import type { Drops } from './drops.js';
import type { Router } from './router.js';

/** Flow control's bracket around each routing (see broker/flow.ts). */
export interface RoutingObserver {
  begin(): void;
  end(client: ClientInfo | undefined): void;
}

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
  readonly #flow: RoutingObserver | undefined;

  constructor(hooks: HookRunner, router: Router, drops: Drops, cluster?: ClusterLink, flow?: RoutingObserver) {
    this.#hooks = hooks;
    this.#router = router;
    this.#drops = drops;
    this.#cluster = cluster;
    this.#flow = flow;
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
    let receivers = 0;
    // In cluster mode a stored (QoS 1/2) message reaches this node's sessions when the stream republishes it
    if (this.#cluster?.routesItself(message) !== true) {
      this.#flow?.begin();
      try {
        receivers = this.#router.publish(message);
      } finally {
        this.#flow?.end(client);
      }
    }
    this.#cluster?.forward(message, client, input);
    this.#hooks.notify('onPublished', message, client);
    return this.#cluster === undefined ? receivers : receivers + 1;
  }
}
