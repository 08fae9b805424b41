import { credentialsPath, CredentialStore } from '../auth/admin-credentials.js';
import type { Broker } from '../broker.js';
import { listenHttp, type HttpListener } from '../http/listener.js';
import { History } from './history.js';
import { statusOf } from './status.js';
import { SysTopics } from './sys.js';

/** What an operator watches and uses: the HTTP listener (metrics, health, dashboard, admin API) and the $SYS publisher. */
export class Operations {
  #http: HttpListener | undefined;
  #sys: SysTopics | undefined;
  #history: History | undefined;

  /** Starts what the options ask for; `notReady` answers /readyz. */
  async start(broker: Broker, notReady: () => string | undefined): Promise<void> {
    const { httpHost, httpPort, sysInterval, dataDir, metricsAuth, maxPacketSize } = broker.options;
    if (httpPort >= 0 && !this.#http) {
      const logger = broker.logger;
      // A malformed credentials file stops the start, as a malformed password file does
      const credentials = new CredentialStore(credentialsPath(dataDir), (err) => logger.error({ err }, `admin credentials not reloaded, previous ones kept: ${(err as Error).message}`));
      const history = new History(broker.stats, () => broker.clientCount);
      const { Access } = await import('../http/access.js');
      this.#history = history;
      this.#http = await listenHttp(httpHost, httpPort, {
        logger,
        notReady,
        metrics: () => broker.metrics.text(),
        status: () => statusOf(broker),
        admin: broker.admin,
        history: () => ({ intervalSeconds: history.intervalMs / 1000, samples: history.samples() }),
        publish: ({ topic, payload, qos, retain, contentType, responseTopic, messageExpiryInterval, userProperties }) =>
          broker.publish({ topic, payload, qos, retain, properties: { contentType, responseTopic, messageExpiryInterval, userProperties } }),
        reload: () => {
          credentials.reload();
          broker.reloadSecurity();
        },
        access: new Access(credentials, metricsAuth),
        // A payload of maxPacketSize in base64, plus the JSON around it
        bodyLimit: Math.ceil((maxPacketSize * 4) / 3) + 64 * 1024,
      });
      history.start();
    }
    if (sysInterval > 0 && !this.#sys) this.#sys = new SysTopics(broker, sysInterval, broker.logger);
  }

  /** Where the HTTP listener is bound, if it runs. */
  get httpAddress(): { host: string; port: number } | undefined {
    const address = this.#http?.server.address();
    return address && typeof address === 'object' ? { host: address.address, port: address.port } : undefined;
  }

  /** Stops $SYS publications (first thing in a shutdown). */
  stopPublishing(): void {
    this.#sys?.stop();
  }

  /** Closes the HTTP listener (last thing in a shutdown, so /readyz says 503 until then). */
  async close(): Promise<void> {
    this.#sys?.stop();
    this.#history?.stop();
    if (this.#http) await this.#http.close();
  }
}
