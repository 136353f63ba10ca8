// Just enough of the Prometheus text format to read a member's /metrics: samples by family
// name, with their labels; and histogram_quantile() over bucket counts, as PromQL computes it.

export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

/** A member's /metrics is a few hundred lines; more than this is not a member's. */
export const METRICS_BYTES_MAX = 4 << 20;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Samples of the wanted families only (histograms: pass the _bucket/_count/_sum names). */
export function parseMetrics(text: string, wanted: ReadonlySet<string>): Map<string, PromSample[]> {
  if (text.length > METRICS_BYTES_MAX) throw new Error(`/metrics body of ${text.length} bytes is over ${METRICS_BYTES_MAX}`);
  const out = new Map<string, PromSample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null || !wanted.has(m[1]!)) continue;
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    let list = out.get(m[1]!);
    if (list === undefined) out.set(m[1]!, (list = []));
    list.push({ labels, value });
  }
  return out;
}

/** The value of an unlabelled family (the sum when it has several children). */
export function scalar(m: Map<string, PromSample[]>, name: string): number | undefined {
  const list = m.get(name);
  if (list === undefined || list.length === 0) return undefined;
  return list.reduce((a, s) => a + s.value, 0);
}

/** Cumulative bucket counts [upper bound, count], ascending, the last one +Inf. */
export type Buckets = [number, number][];

export function buckets(m: Map<string, PromSample[]>, histogram: string): Buckets | undefined {
  const list = m.get(`${histogram}_bucket`);
  if (list === undefined) return undefined;
  const byLe = new Map<number, number>();
  for (const s of list) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    if (!Number.isNaN(le)) byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe].sort((a, b) => a[0] - b[0]);
}

/** later - earlier, bucket by bucket; undefined when the counter went back (member restarted). */
export function bucketDelta(later: Buckets, earlier: Buckets): Buckets | undefined {
  if (later.length !== earlier.length) return undefined;
  const out: Buckets = [];
  for (let i = 0; i < later.length; i++) {
    const [le, n] = later[i]!;
    const [le0, n0] = earlier[i]!;
    if (le !== le0 || n < n0) return undefined;
    out.push([le, n - n0]);
  }
  return out;
}

export function addBuckets(a: Buckets | undefined, b: Buckets): Buckets {
  if (a === undefined) return b.map(([le, n]) => [le, n]);
  if (a.length !== b.length) return a;
  return a.map(([le, n], i) => [le, n + b[i]![1]]);
}

/** PromQL's histogram_quantile: linear interpolation inside the bucket holding the rank;
 *  undefined without observations; the highest finite bound when the rank is in +Inf. */
export function quantile(q: number, b: Buckets): number | undefined {
  if (b.length === 0) return undefined;
  const total = b[b.length - 1]![1];
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of b) {
    if (n >= rank) {
      if (le === Infinity) return prevLe;
      if (n === prevN) return le;
      return prevLe + (le - prevLe) * ((rank - prevN) / (n - prevN));
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}
