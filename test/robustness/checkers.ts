// Checkers for histories recorded by the robustness workloads. Pure functions over plain data,
// so each one is proven by a test that plants an anomaly and shows it is found.
//
// - linearizability: a Wing-Gong / Lowe search (with memoization of (linearized set, state))
//   over a model; operations whose outcome is unknown ('info': timed out, connection lost) may
//   take effect at any point after their invocation, or never.
// - lost writes: every acknowledged add is in the final read; nothing never written is.
// - monotonic revisions per client.
// - watches: order, duplicates, gaps (when the watched space is contiguous), agreement with
//   acknowledged writes and between watchers.

/** One operation of a history. */
export interface Op<I = unknown, O = unknown> {
  /** Unique within a history. */
  id: number;
  client: number;
  /** The independent object the op touches (a key, or a group of keys for txns). */
  key: string;
  input: I;
  /** 'ok': took effect with `output`; 'fail': definitely did not change state (but may have
   *  observed it: see Model.step with failed = true); 'info': unknown. */
  outcome: 'ok' | 'fail' | 'info';
  output?: O;
  invokeMs: number;
  /** Completion time; ignored for 'info' (treated as +infinity). */
  completeMs: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** The state after op (I, O) applied to s, or undefined when the op cannot happen in s.
   *  For failed ops, return s when the failure is consistent with s, else undefined. */
  step(s: S, input: I, output: O | undefined, outcome: Op['outcome']): S | undefined;
  /** True for ops that cannot affect or observe state (e.g. an unanswered read): dropped. */
  irrelevant?(input: I, outcome: Op['outcome']): boolean;
  /** A string identifying the state, for memoization. */
  hash(s: S): string;
}

export interface LinResult {
  ok: boolean;
  /** The search gave up (budget spent): neither proven nor refuted. */
  unknown?: boolean;
  key: string;
  ops: number;
  /** On failure: the op that could not be linearized and the ops concurrent with it. */
  excerpt?: Op[];
  message?: string;
}

interface Entry {
  op: Op;
  isCall: boolean;
  time: number;
  match?: Entry;
  prev?: Entry;
  next?: Entry;
}

/** Checks one key's history for linearizability under `model`; `budget` bounds search steps. */
export function checkLinearizable<S, I, O>(history: Op<I, O>[], model: Model<S, I, O>, budget = 2_000_000): LinResult {
  const key = history[0]?.key ?? '';
  // Failed ops that observed nothing have no effect: drop them. Failed ops that observe state
  // (a CAS that failed on compare) stay, as definite ops. Info reads observe nothing: drop.
  const ops = history.filter((o) => !(model.irrelevant?.(o.input, o.outcome) ?? false));
  const events: Entry[] = [];
  for (const op of ops) {
    const call: Entry = { op, isCall: true, time: op.invokeMs };
    const ret: Entry = { op, isCall: false, time: op.outcome === 'info' ? Number.POSITIVE_INFINITY : op.completeMs };
    call.match = ret;
    ret.match = call;
    events.push(call, ret);
  }
  // Calls before returns at equal times: ops touching in time are treated as concurrent.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op.id - b.op.id : a.isCall ? -1 : 1));
  const head: Entry = { op: undefined as unknown as Op, isCall: false, time: Number.NEGATIVE_INFINITY };
  let p = head;
  for (const e of events) {
    p.next = e;
    e.prev = p;
    p = e;
  }
  const index = new Map<number, number>();
  ops.forEach((o, i) => index.set(o.id, i));
  const linearized = new Uint8Array(ops.length);
  const cache = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  let deepest = 0;
  let deepestOp: Op | undefined;
  const lift = (e: Entry): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };
  for (;;) {
    if (entry === undefined) break;
    const cur: Entry = entry;
    if (++steps > budget) return { ok: false, unknown: true, key, ops: ops.length, message: `search budget of ${budget} steps spent` };
    if (cur.isCall) {
      const op = cur.op as Op<I, O>;
      const next = model.step(state, op.input, op.output, op.outcome);
      let advanced = false;
      if (next !== undefined) {
        const i = index.get(op.id)!;
        linearized[i] = 1;
        const k = `${model.hash(next)}|${Buffer.from(linearized).toString('base64')}`;
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ entry: cur, state });
          state = next;
          lift(cur);
          entry = head.next;
          advanced = true;
          if (stack.length > deepest) deepest = stack.length;
        } else {
          linearized[i] = 0;
        }
      }
      if (!advanced) entry = cur.next;
    } else {
      // A return whose call is not linearized: for an info op (returns at +infinity) every
      // definite op before it is linearized, so the history is linearizable.
      if (cur.op.outcome === 'info') return { ok: true, key, ops: ops.length };
      if (stack.length === deepest) deepestOp = cur.op;
      if (stack.length === 0) {
        return { ok: false, key, ops: ops.length, excerpt: excerptAround(ops, deepestOp ?? cur.op), message: `op ${cur.op.id} cannot be linearized` };
      }
      const top = stack.pop()!;
      state = top.state;
      linearized[index.get(top.entry.op.id)!] = 0;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { ok: true, key, ops: ops.length };
}

/** The op and every op overlapping it in time: the minimal context to see the anomaly. */
export function excerptAround(ops: Op[], op: Op, max = 12): Op[] {
  const end = (o: Op): number => (o.outcome === 'info' ? Number.POSITIVE_INFINITY : o.completeMs);
  const near = ops.filter((o) => o === op || (o.invokeMs <= end(op) && end(o) >= op.invokeMs));
  // Also the last few ops that completed before it: they fix the state it should see.
  const before = ops.filter((o) => end(o) < op.invokeMs).sort((a, b) => end(b) - end(a)).slice(0, 3);
  return [...before.reverse(), ...near].slice(0, max);
}

/** Groups a history by key and checks each key; returns only the failures (and unknowns). */
export function checkAllKeys<S, I, O>(history: Op<I, O>[], model: Model<S, I, O>, budget?: number): { checked: number; failures: LinResult[] } {
  const byKey = new Map<string, Op<I, O>[]>();
  for (const o of history) {
    let l = byKey.get(o.key);
    if (!l) byKey.set(o.key, (l = []));
    l.push(o);
  }
  const failures: LinResult[] = [];
  for (const ops of byKey.values()) {
    const r = checkLinearizable(ops, model, budget);
    if (!r.ok) failures.push(r);
  }
  return { checked: byKey.size, failures };
}

// ---- Models ----------------------------------------------------------------------------------

/** A register (a key's value, null = absent). */
export type RegInput =
  | { f: 'read' }
  | { f: 'write'; value: string }
  /** compare-and-swap: from null = "must not exist" (prevExist=false / create_revision == 0). */
  | { f: 'cas'; from: string | null; to: string }
  | { f: 'delete' };
/** read: the value seen (null = not found). */
export type RegOutput = { value: string | null } | undefined;

export const registerModel: Model<string | null, RegInput, RegOutput> = {
  init: () => null,
  step(s, input, output, outcome) {
    switch (input.f) {
      case 'read':
        if (outcome !== 'ok') return s; // an unanswered read constrains nothing
        return output !== undefined && output.value === s ? s : undefined;
      case 'write':
        return outcome === 'fail' ? s : input.value;
      case 'delete':
        return outcome === 'fail' ? s : null;
      case 'cas':
        // A definite compare failure observed a state other than `from`.
        if (outcome === 'fail') return s !== input.from ? s : undefined;
        return s === input.from ? input.to : undefined;
      default: {
        const never: never = input;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  },
  irrelevant: (input, outcome) => outcome !== 'ok' && (input.f === 'read' || outcome === 'fail') && input.f !== 'cas',
  hash: (s) => (s === null ? '\u0000' : s),
};

/** Several keys updated atomically by txns: state maps key -> value. A txn reads some keys
 *  (output: what it saw) and, if its guard on `cmp` holds, writes others. */
export interface TxnInput {
  /** Guard: key -> expected value (null = absent). Empty = unconditional. */
  cmp: Record<string, string | null>;
  /** Written when the guard holds. */
  writes: Record<string, string>;
  /** Keys read (in the same txn, after the guard, before the writes). */
  reads: string[];
}
export interface TxnOutput {
  succeeded: boolean;
  values: Record<string, string | null>;
}
export type MultiState = Record<string, string | null>;

export const multiRegisterModel: Model<MultiState, TxnInput, TxnOutput> = {
  init: () => ({}),
  step(s, input, output, outcome) {
    const get = (k: string): string | null => s[k] ?? null;
    const holds = Object.entries(input.cmp).every(([k, v]) => get(k) === v);
    if (outcome === 'fail') return s; // an error reply: nothing happened (dropped, see irrelevant)
    if (outcome === 'info') {
      // Unknown: if it happened, it did whatever the guard says.
      if (!holds) return s;
      return { ...s, ...input.writes };
    }
    if (output === undefined) return undefined;
    if (output.succeeded !== holds) return undefined;
    for (const k of input.reads) if ((output.values[k] ?? null) !== get(k)) return undefined;
    return holds ? { ...s, ...input.writes } : s;
  },
  irrelevant: (_input, outcome) => outcome === 'fail',
  hash: (s) =>
    Object.keys(s)
      .sort()
      .map((k) => `${k}=${s[k] ?? '\u0000'}`)
      .join('\u0001'),
};

// ---- Lost writes (append-only set) ------------------------------------------------------------

export interface SetResult {
  ok: boolean;
  acked: number;
  lost: string[];
  /** In the final read but never attempted. */
  unexpected: string[];
  /** Unknown-outcome adds that turned out present. */
  recovered: number;
}

export function checkSet(attempted: { element: string; outcome: Op['outcome'] }[], finalRead: string[]): SetResult {
  const present = new Set(finalRead);
  const tried = new Set(attempted.map((a) => a.element));
  const lost: string[] = [];
  let acked = 0;
  let recovered = 0;
  for (const a of attempted) {
    if (a.outcome === 'ok') {
      acked++;
      if (!present.has(a.element)) lost.push(a.element);
    } else if (a.outcome === 'info' && present.has(a.element)) recovered++;
  }
  const failed = new Set(attempted.filter((a) => a.outcome === 'fail').map((a) => a.element));
  const unexpected = finalRead.filter((e) => !tried.has(e) || (failed.has(e) && !attempted.some((a) => a.element === e && a.outcome !== 'fail')));
  return { ok: lost.length === 0 && unexpected.length === 0, acked, lost, unexpected, recovered };
}

// ---- Monotonic revisions per client ----------------------------------------------------------

export interface RevObservation {
  client: number;
  /** Completion order within the client (its ops are sequential). */
  seq: number;
  revision: number;
  opId: number;
}

export function checkMonotonic(obs: RevObservation[]): { ok: boolean; violations: { client: number; before: RevObservation; after: RevObservation }[] } {
  const byClient = new Map<number, RevObservation[]>();
  for (const o of obs) {
    let l = byClient.get(o.client);
    if (!l) byClient.set(o.client, (l = []));
    l.push(o);
  }
  const violations: { client: number; before: RevObservation; after: RevObservation }[] = [];
  for (const [client, l] of byClient) {
    l.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < l.length; i++) {
      if (l[i]!.revision < l[i - 1]!.revision) violations.push({ client, before: l[i - 1]!, after: l[i]! });
    }
  }
  return { ok: violations.length === 0, violations };
}

// ---- Watches ------------------------------------------------------------------------------------

/** One change seen by a watcher. `index` is the v2 modifiedIndex or the v3 mod revision;
 *  several v3 events may share one revision (a txn), told apart by key. */
export interface WatchEvent {
  index: number;
  key: string;
  type: 'put' | 'delete' | 'expire';
  value?: string;
}

/** An acknowledged write and the index it was given. */
export interface AckedWrite {
  index: number;
  key: string;
  type: 'put' | 'delete';
  value?: string;
}

export interface WatchResult {
  ok: boolean;
  problems: string[];
}

/**
 * `streams`: what each watcher saw, in arrival order, each covering [from, its last event].
 * Checks: indexes never go backwards and no (index, key) repeats; every acked write inside a
 * watcher's covered range was seen with the same value; two watchers agree on every (index,
 * key) both cover; with `contiguous`, no index in a covered range is skipped (v3, when the
 * watched prefix is the only thing written).
 */
export function checkWatches(streams: { name: string; from: number; events: WatchEvent[] }[], acked: AckedWrite[], contiguous: boolean): WatchResult {
  const problems: string[] = [];
  const truth = new Map<string, WatchEvent>();
  for (const s of streams) {
    let last = s.from - 1;
    const seen = new Set<string>();
    for (const e of s.events) {
      const k = `${e.index}/${e.key}`;
      if (e.index < last) problems.push(`${s.name}: out of order: index ${e.index} after ${last}`);
      if (seen.has(k)) problems.push(`${s.name}: duplicate event ${k}`);
      if (contiguous && e.index > last + 1 && last >= s.from) problems.push(`${s.name}: gap: indexes ${last + 1}..${e.index - 1} missing`);
      if (e.index < s.from) problems.push(`${s.name}: event at ${e.index} before the start ${s.from}`);
      seen.add(k);
      last = Math.max(last, e.index);
      const other = truth.get(k);
      if (other && (other.type !== e.type || other.value !== e.value)) {
        problems.push(`${s.name}: ${k} is ${e.type}=${String(e.value)}, another watcher saw ${other.type}=${String(other.value)}`);
      } else truth.set(k, e);
    }
    const hi = s.events.length > 0 ? s.events[s.events.length - 1]!.index : s.from - 1;
    for (const w of acked) {
      if (w.index < s.from || w.index > hi) continue;
      const k = `${w.index}/${w.key}`;
      if (!seen.has(k)) {
        problems.push(`${s.name}: acknowledged ${w.type} ${k} missing from the watch`);
        continue;
      }
      const e = truth.get(k)!;
      if (w.type === 'put' && e.value !== w.value) problems.push(`${s.name}: ${k} has value ${String(e.value)}, the write said ${String(w.value)}`);
    }
  }
  return { ok: problems.length === 0, problems: problems.slice(0, 50) };
}
