import type http from 'node:http';
import type { Broker } from '../broker.js';
import { closeHttp, listenHttp } from '../http/server.js';
import { statusOf } from './status.js';
import { SysTopics } from './sys.js';

/** What an operator watches: the HTTP listener (metrics, health, status page) and the $SYS publisher. */
export class Operations {
  #http: http.Server | undefined;
  #sys: SysTopics | undefined;

  /** Starts what the options ask for; `notReady` answers /readyz. */
  async start(broker: Broker, notReady: () => string | undefined): Promise<void> {
    const { httpHost, httpPort, sysInterval } = broker.options;
    if (httpPort >= 0 && !this.#http) {
      this.#http = await listenHttp(httpHost, httpPort, {
        logger: broker.logger,
        notReady,
        metrics: () => broker.metrics.text(),
        status: () => statusOf(broker),
      });
    }
    if (sysInterval > 0 && !this.#sys) this.#sys = new SysTopics(broker, sysInterval, broker.logger);
  }

  /** Where the HTTP listener is bound, if it runs. */
  get httpAddress(): { host: string; port: number } | undefined {
    const address = this.#http?.address();
    return address && typeof address === 'object' ? { host: address.address, port: address.port } : undefined;
  }

  /** Stops $SYS publications (first thing in a shutdown). */
  stopPublishing(): void {
    this.#sys?.stop();
  }

  /** Closes the HTTP listener (last thing in a shutdown, so /readyz says 503 until then). */
  async close(): Promise<void> {
    this.#sys?.stop();
    if (this.#http) await closeHttp(this.#http);
  }
}
