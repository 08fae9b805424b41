/** Summary of a latency sample set, in milliseconds. */
export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** The value at quantile `q` (0..1) of ascending `sorted`, nearest-rank method; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Summarises latencies given in nanoseconds. */
export function summarizeLatencyNs(samplesNs: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samplesNs).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  const toMs = (ns: number): number => ns / 1e6;
  return {
    samples: sorted.length,
    p50Ms: toMs(quantile(sorted, 0.5)),
    p99Ms: toMs(quantile(sorted, 0.99)),
    maxMs: toMs(sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN),
    meanMs: sorted.length > 0 ? toMs(sum / sorted.length) : Number.NaN,
  };
}

/** Events per second. */
export function perSecond(count: number, elapsedNs: bigint): number {
  const seconds = Number(elapsedNs) / 1e9;
  return seconds > 0 ? count / seconds : Number.NaN;
}

/** a / b, or NaN when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return Number.NaN;
  }
  return a / b;
}
