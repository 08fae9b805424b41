import type { Msg } from 'nats';

/** Set by the stream's republish: the message's sequence in MSGS. */
const SEQUENCE_HEADER = 'Nats-Sequence';
/** Set by the stream's republish: the subject the message was stored under, and the previous sequence on that subject (0: none). */
const SUBJECT_HEADER = 'Nats-Subject';
const LAST_SEQUENCE_HEADER = 'Nats-Last-Sequence';

/** What the MSGS stream's republish says of a stored message. */
export interface Republished {
  readonly seq: number;
  /** The stored subject (`<prefix>.msgs.…`), or '' when the header is missing. */
  readonly subject: string;
  /** The previous sequence on that subject, 0 for none. */
  readonly last: number;
}

/** nats.js (2.29, pinned) keeps a message's raw bytes and where its header block ends. */
interface RawMsg {
  readonly _msg?: { readonly hdr?: number };
  readonly _rdata?: Uint8Array;
}

/**
 * The republish facts of a live message, or undefined for one without a sequence (a QoS 0 frame).
 * Reads the NATS/1.0 header block itself, three lookups in one string: nats.js would build a
 * header map (canonical keys, arrays, a search per `get`), which cost the receiving nodes about a
 * tenth of their time at QoS 1. Falls back to nats.js's headers when its internals look different.
 */
export function republished(msg: Msg): Republished | undefined {
  const raw = msg as unknown as RawMsg;
  const hdr = raw._msg?.hdr;
  if (typeof hdr !== 'number' || !(raw._rdata instanceof Uint8Array)) return viaHeaders(msg);
  if (hdr < 0) return undefined;
  const text = Buffer.from(raw._rdata.buffer, raw._rdata.byteOffset, hdr).toString('latin1');
  const seq = value(text, SEQUENCE_HEADER);
  if (seq === '') return undefined;
  return { seq: Number(seq), subject: value(text, SUBJECT_HEADER), last: Number(value(text, LAST_SEQUENCE_HEADER) || 0) };
}

function viaHeaders(msg: Msg): Republished | undefined {
  const h = msg.headers;
  const seq = h?.get(SEQUENCE_HEADER);
  if (h === undefined || !seq) return undefined;
  return { seq: Number(seq), subject: h.get(SUBJECT_HEADER), last: Number(h.get(LAST_SEQUENCE_HEADER) || 0) };
}

/** The value of header `name` in a NATS/1.0 header block ('' when absent). */
function value(block: string, name: string): string {
  const at = block.indexOf(`\r\n${name}:`);
  if (at < 0) return '';
  const start = at + name.length + 3;
  const end = block.indexOf('\r\n', start);
  return block.slice(start, end < 0 ? block.length : end).trim();
}
