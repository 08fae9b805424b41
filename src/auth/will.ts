import type { Logger } from 'pino';
import type { ClientInfo, DropReason, Message } from '../model.js';
import type { HookRunner } from '../hooks.js';
import { isReservedTopic } from '../protocol/topic.js';

/**
 * A will goes out only where its client may publish: never to a reserved topic (`$SYS/`, `$share/`,
 * as a PUBLISH there is refused), and only where the authorizePublish gates (e.g. ACL write access)
 * allow, run when it is due, as the client that left it. A will restored from the store, whose
 * client has not connected since the restart, is checked as that client id without a username.
 */
export function authorizeWill(
  hooks: HookRunner,
  logger: Logger,
  client: ClientInfo | undefined,
  message: Message,
  publish: () => void,
  dropped: (reason: DropReason) => void,
): void {
  if (isReservedTopic(message.topic)) {
    dropped('not-authorized');
    return;
  }
  if (!hooks.has('authorizePublish')) {
    publish();
    return;
  }
  const clientId = message.origin ?? '';
  const info = client ?? { id: clientId, username: undefined, protocolVersion: 4, remoteAddress: undefined, listener: 'restored' };
  hooks.authorizePublish(info, message).then(
    (allowed) => (allowed ? publish() : dropped('not-authorized')),
    (err: unknown) => {
      logger.error({ err, clientId }, 'authorizePublish failed for a will; not published');
      dropped('plugin-error');
    },
  );
}
