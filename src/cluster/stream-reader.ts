import type { JetStreamClient, JsMsg } from 'nats';

/** Messages one consumer asks JetStream for at a time (what a read holds in memory per subject). */
const BATCH = 128;
/** More subjects than this are read through one consumer on every subject, filtered in the node. */
const MAX_SUBJECTS = 8;

/** Where the stored messages are: the JetStream client, the MSGS stream's name and the subject prefix. */
export interface StoredSource {
  readonly js: JetStreamClient;
  /** The MSGS stream's name. */
  readonly messages: string;
  readonly prefix: string;
}

/**
 * The stored messages of `subjects` (subjects of the MSGS stream, wildcards allowed) from sequence
 * `from` to `last`, in stream order, each once. nats-server 2.9 filters a consumer on one subject
 * only, so each subject gets an ordered (ephemeral) consumer of its own and their messages are
 * merged by stream sequence; a message two subjects match (`a` and `a.>` of `a/#` do not overlap,
 * `a.*` and `a.b` do) comes once. More than MAX_SUBJECTS subjects are read as one over all of
 * them (the caller matches each message against its filters anyway). Ends early once `signal`
 * aborts. No durable consumer is made.
 */
export async function* readStored(source: StoredSource, subjects: readonly string[], from: number, last: number, signal: AbortSignal): AsyncGenerator<JsMsg> {
  const everything = `${source.prefix}.msgs.>`;
  const unique = [...new Set(subjects)];
  const filters = unique.length > MAX_SUBJECTS || unique.includes(everything) ? [everything] : unique;
  if (filters.length === 1) {
    yield* readSubject(source, filters[0] as string, from, last, signal);
    return;
  }
  const readers = filters.map((subject) => readSubject(source, subject, from, last, signal));
  try {
    const heads = await Promise.all(readers.map((r) => r.next()));
    let previous = from - 1;
    for (;;) {
      let next = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i] as IteratorResult<JsMsg>;
        if (!head.done && (next < 0 || head.value.seq < (heads[next] as IteratorYieldResult<JsMsg>).value.seq)) next = i;
      }
      if (next < 0) return;
      const m = (heads[next] as IteratorYieldResult<JsMsg>).value;
      heads[next] = await (readers[next] as AsyncGenerator<JsMsg>).next();
      if (m.seq <= previous) continue; // the same message through an overlapping subject
      previous = m.seq;
      yield m;
    }
  } finally {
    await Promise.all(readers.map((r) => r.return(undefined)));
  }
}

/** One subject's stored messages from `from` to `last`, with an ordered consumer. */
async function* readSubject(source: StoredSource, subject: string, from: number, last: number, signal: AbortSignal): AsyncGenerator<JsMsg> {
  if (signal.aborted) return;
  const { DeliverPolicy } = await import('nats');
  const consumer = await source.js.consumers.get(source.messages, { filterSubjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
  // A consumer with nothing to read would wait for a message: its info, which creates it, says how many there are
  if ((await consumer.info()).num_pending === 0 || signal.aborted) return;
  const messages = await consumer.consume({ max_messages: BATCH });
  const stop = () => void messages.close();
  signal.addEventListener('abort', stop);
  try {
    for await (const m of messages) {
      if (m.seq > last || signal.aborted) return;
      yield m;
      if (m.seq >= last || m.info.pending === 0) return;
    }
  } finally {
    signal.removeEventListener('abort', stop);
    await messages.close();
  }
}
