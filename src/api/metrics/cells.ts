// Metric families whose children are held by the caller: an increment is one field write, with no
// label object, hash or closure per call (prom-client's own Counter hashes its labels on every
// inc()). The families implement the object shape prom-client's Registry renders (name, help,
// type, get()), so one Registry serves them next to prom-client's default process metrics.
import assert from 'node:assert/strict';

export type FamilyType = 'counter' | 'gauge' | 'histogram';

/** One sample as prom-client's Registry prints it: `metricName{labels} value`. */
export interface Sample {
  readonly value: number;
  readonly labels: Record<string, string>;
  readonly metricName?: string;
}

export interface FamilySnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: FamilyType;
  readonly aggregator: 'sum';
  readonly values: Sample[];
}

/** Children per family; past it a new label combination is refused (folded into a shared
 *  overflow child) rather than growing the scrape without bound. Peer ids, HTTP methods and gRPC
 *  methods are all far below it. */
export const FAMILY_CHILDREN_MAX = 10_000;

/** The label value of the overflow child: label values that come from clients (HTTP method
 *  names, the client-api-version header) cannot grow memory without bound. */
const OVERFLOW_LABEL = 'other';

abstract class Family<C> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: FamilyType;
  readonly aggregator = 'sum' as const;
  /** Label names in Go's output order (sorted), and the position of each given name in it. */
  readonly labelNames: readonly string[];
  private readonly order: readonly number[];
  private readonly root = new Map<string, unknown>();
  private readonly children: Array<{ labels: Record<string, string>; child: C }> = [];
  private single: C | undefined;
  private overflow: C | undefined;

  constructor(name: string, help: string, labelNames: readonly string[]) {
    assert(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name), `metric name ${name}`);
    this.name = name;
    this.help = help;
    const sorted = [...labelNames].sort();
    this.labelNames = sorted;
    this.order = sorted.map((n) => labelNames.indexOf(n));
  }

  protected abstract create(): C;
  protected abstract samples(labels: Record<string, string>, child: C, out: Sample[]): void;
  protected abstract zero(child: C): void;

  /** The child for these label values (given in the order of the constructor's labelNames).
   *  A hit is one Map lookup per label, no allocation: callers on hot paths may still keep it. */
  child(...values: string[]): C {
    assert(values.length === this.order.length, `${this.name}: ${this.order.length} label values expected`);
    if (values.length === 0) return (this.single ??= this.add([]));
    let m = this.root;
    for (let i = 0; i < values.length - 1; i++) {
      let next = m.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) {
        if (this.children.length >= FAMILY_CHILDREN_MAX) return this.overflowChild();
        next = new Map();
        m.set(values[i]!, next);
      }
      m = next;
    }
    const last = values[values.length - 1]!;
    let c = m.get(last) as C | undefined;
    if (c === undefined) {
      if (this.children.length >= FAMILY_CHILDREN_MAX) return this.overflowChild();
      c = this.add(values);
      m.set(last, c);
    }
    return c;
  }

  /** Where label combinations past FAMILY_CHILDREN_MAX are counted: every label "other". */
  private overflowChild(): C {
    return (this.overflow ??= this.add(this.order.map(() => OVERFLOW_LABEL)));
  }

  private add(values: readonly string[]): C {
    const labels: Record<string, string> = {};
    for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = values[this.order[i]!]!;
    const child = this.create();
    this.children.push({ labels, child });
    return child;
  }

  /** Children by label values, as Go's client sorts them. */
  async get(): Promise<FamilySnapshot> {
    return this.snapshot();
  }

  snapshot(): FamilySnapshot {
    const sorted = [...this.children].sort((a, b) => compareLabels(a.labels, b.labels, this.labelNames));
    const values: Sample[] = [];
    for (const { labels, child } of sorted) this.samples(labels, child, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Every child back to zero (prom-client's Registry.resetMetrics calls it). */
  reset(): void {
    for (const { child } of this.children) this.zero(child);
  }

  /** Drop every child (a gauge vector re-filled at each scrape, like etcd's Reset()). */
  clear(): void {
    this.children.length = 0;
    this.root.clear();
    this.single = undefined;
    this.overflow = undefined;
  }
}

function compareLabels(a: Record<string, string>, b: Record<string, string>, names: readonly string[]): number {
  for (const n of names) {
    const x = a[n]!;
    const y = b[n]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class CounterVec extends Family<CounterChild> {
  readonly type = 'counter' as const;
  protected create(): CounterChild {
    return new CounterChild();
  }
  protected samples(labels: Record<string, string>, c: CounterChild, out: Sample[]): void {
    out.push({ value: c.value, labels });
  }
  protected zero(c: CounterChild): void {
    c.value = 0;
  }
}

export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class GaugeVec extends Family<GaugeChild> {
  readonly type = 'gauge' as const;
  protected create(): GaugeChild {
    return new GaugeChild();
  }
  protected samples(labels: Record<string, string>, c: GaugeChild, out: Sample[]): void {
    out.push({ value: c.value, labels });
  }
  protected zero(c: GaugeChild): void {
    c.value = 0;
  }
}

export class HistogramChild {
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly upper: readonly number[]) {
    this.counts = new Float64Array(upper.length + 1);
  }
  observe(v: number): void {
    const u = this.upper;
    let i = 0;
    // At most 25 bounds (etcd's lease TTL buckets): a linear scan beats a binary search here.
    while (i < u.length && v > u[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class HistogramVec extends Family<HistogramChild> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  private readonly leLabels: readonly string[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    assert(buckets.length > 0 && buckets.every((b, i) => i === 0 || b > buckets[i - 1]!), `${name}: buckets must increase`);
    this.buckets = buckets;
    this.leLabels = [...buckets.map(goFloat), '+Inf'];
  }
  protected create(): HistogramChild {
    return new HistogramChild(this.buckets);
  }
  protected samples(labels: Record<string, string>, c: HistogramChild, out: Sample[]): void {
    let cum = 0;
    for (let i = 0; i < this.leLabels.length; i++) {
      cum += c.counts[i]!;
      out.push({ value: cum, labels: { ...labels, le: this.leLabels[i]! }, metricName: `${this.name}_bucket` });
    }
    out.push({ value: c.sum, labels, metricName: `${this.name}_sum` });
    out.push({ value: c.count, labels, metricName: `${this.name}_count` });
  }
  protected zero(c: HistogramChild): void {
    c.counts.fill(0);
    c.sum = 0;
    c.count = 0;
  }
}

/** Go's prometheus.ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++) {
    out.push(v);
    v *= factor;
  }
  return out;
}

/** A float as Go's strconv.FormatFloat(v, 'g', -1, 64) prints it, which is how etcd's `le`
 *  label values read ("0.0005", "819200", "1.048576e+06"); PromQL matches them as strings. */
export function goFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  if (v === 0) return '0';
  const e = v.toExponential();
  const exp = Number(e.slice(e.indexOf('e') + 1));
  if (exp < -4 || exp >= 6) return e.replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}
