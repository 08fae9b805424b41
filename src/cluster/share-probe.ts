import type { NatsConnection } from 'nats';

/** How long an answer about a subject holds before it is asked again (a new shared group takes effect within this). */
const PROBE_TTL_MS = 2000;
/** How long a probe waits for a node with a shared group to answer. */
const PROBE_TIMEOUT_MS = 1000;
/** Subjects whose answer is remembered. */
const PROBE_SUBJECTS = 10_000;

interface Answer {
  /** No shared group anywhere matches the subject. */
  readonly batchable: boolean;
  readonly until: number;
}

/**
 * Whether QoS 0 messages of a live subject may travel many to a NATS message. NATS hands each
 * message of a queue group to one member node, so a frame of many messages would give all of them
 * to one node of a shared subscription (`$share/…`), whose messages must be spread one by one.
 * Nodes with members of a shared group answer on probe subjects (`<prefix>.probe.…`, the filter's
 * subjects under the probe prefix, in the group's queue group, shared-groups.ts); a node asks once
 * per subject every PROBE_TTL_MS, and until NATS says no one is there ("no responders") the
 * subject's messages go one per frame. A shared group created since the last answer may get a
 * frame of several messages whole until the next: still each message to exactly one member.
 */
export class ShareProbe {
  readonly #answers = new Map<string, Answer>();
  readonly #asking = new Set<string>();
  #nc: NatsConnection | undefined;

  start(nc: NatsConnection): void {
    this.#nc = nc;
  }

  /** Whether `probeSubject` had no shared group at the last answer; asks again when that answer is old. */
  batchable(probeSubject: string): boolean {
    const answer = this.#answers.get(probeSubject);
    if (answer === undefined || answer.until < Date.now()) this.#ask(probeSubject);
    return answer?.batchable ?? false;
  }

  #ask(subject: string): void {
    const nc = this.#nc;
    if (nc === undefined || nc.isClosed() || this.#asking.has(subject)) return;
    this.#asking.add(subject);
    const settle = (batchable: boolean) => {
      this.#asking.delete(subject);
      if (this.#answers.size >= PROBE_SUBJECTS && !this.#answers.has(subject)) this.#answers.clear();
      this.#answers.set(subject, { batchable, until: Date.now() + PROBE_TTL_MS });
    };
    let asked: Promise<unknown>;
    try {
      asked = nc.request(subject, undefined, { timeout: PROBE_TIMEOUT_MS });
    } catch {
      asked = Promise.reject(new Error('cannot ask'));
    }
    asked.then(
      () => settle(false),
      // 503 is NATS's "no responders": no node listens, so no shared group matches
      (err: { code?: string }) => settle(err?.code === '503'),
    );
  }
}
