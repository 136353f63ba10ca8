// Nemeses: faults scheduled from a seed, one at a time, each bounded in time and undone before
// the next (a heal, a restart, a resume). Each run logs what it did, for the summary and replay.
import type { RCluster, Slot } from './rcluster.js';
import { Prng } from './prng.js';
import { sleep } from '../harness/cluster.js';

export const NEMESES = [
  'kill9',
  'pause',
  'partition-leader',
  'partition-halves',
  'partition-bridge',
  'partition-oneway',
  'lossy',
  'leader-transfer',
  'leader-sigterm',
  'member-replace',
  'clock-restart',
  'compact',
] as const;
export type NemesisKind = (typeof NEMESES)[number];

export interface NemesisEvent {
  atMs: number;
  kind: NemesisKind;
  detail: string;
  /** The fault could not be carried out (e.g. no leader); not an anomaly. */
  skipped?: boolean;
}

export class Nemesis {
  readonly events: NemesisEvent[] = [];
  private readonly started = Date.now();
  /** Set by the runner: v3 compaction at the current revision (a no-op without v3). */
  compact: (() => Promise<string>) | undefined;

  constructor(
    readonly c: RCluster,
    readonly rnd: Prng,
    readonly kinds: readonly NemesisKind[] = NEMESES,
  ) {}

  private log(kind: NemesisKind, detail: string, skipped = false): void {
    this.events.push({ atMs: Date.now() - this.started, kind, detail, skipped });
  }

  private members(): Slot[] {
    return this.c.slots.filter((s) => s.isMember);
  }

  private async leaderSlot(): Promise<Slot | undefined> {
    for (let i = 0; i < 20; i++) {
      const l = await this.c.leader();
      if (l >= 0) return this.c.slots[l];
      await sleep(250);
    }
    return undefined;
  }

  /** Runs faults until `deadline` (ms since epoch); leaves the cluster healed and all up. */
  async run(deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      await sleep(500 + this.rnd.int(1500));
      if (Date.now() >= deadline) break;
      const kind = this.rnd.pick(this.kinds);
      try {
        await this.one(kind, Math.max(500, Math.min(5000, deadline - Date.now())));
      } catch (err) {
        this.log(kind, `error: ${(err as Error).message.split('\n')[0]}`, true);
      }
      await this.restore();
    }
    await this.restore();
  }

  /** Heal every link, resume and restart every member, re-add a removed slot. */
  async restore(): Promise<void> {
    this.c.heal();
    for (const s of this.c.slots) {
      if (s.paused) this.c.resume(s);
      if (s.isMember && !s.proc) this.c.spawn(s, s.generation > 0 ? 'existing' : 'new');
    }
    for (const s of this.c.slots) {
      if (!s.isMember) {
        for (let i = 0; i < 20 && !s.isMember; i++) {
          const via = this.members().find((m) => m.proc);
          if (via && (await this.c.addMember(s, via))) break;
          await sleep(500);
        }
      }
    }
  }

  private async one(kind: NemesisKind, maxMs: number): Promise<void> {
    const hold = (): number => Math.min(maxMs, 1000 + this.rnd.int(3000));
    const ms = this.members();
    const ids = (xs: Slot[]): string => xs.map((x) => x.name).join(',');
    switch (kind) {
      case 'kill9': {
        const s = this.rnd.pick(ms);
        await this.c.kill9(s);
        const h = hold();
        this.log(kind, `${s.name} down ${h} ms`);
        await sleep(h);
        this.c.spawn(s, s.generation > 0 ? 'existing' : 'new');
        return;
      }
      case 'pause': {
        const s = this.rnd.pick(ms);
        const h = hold();
        this.c.pause(s);
        this.log(kind, `${s.name} SIGSTOP ${h} ms`);
        await sleep(h);
        this.c.resume(s);
        return;
      }
      case 'partition-leader':
      case 'partition-halves':
      case 'partition-bridge': {
        let side: Slot[];
        if (kind === 'partition-leader') {
          const l = await this.leaderSlot();
          if (!l) return this.log(kind, 'no leader', true);
          side = [l];
        } else {
          const shuffled = [...ms].sort(() => this.rnd.next() - 0.5);
          side = shuffled.slice(0, Math.floor(ms.length / 2));
        }
        const other = ms.filter((s) => !side.includes(s));
        // Bridge: one member of the majority still talks to both sides (Jepsen's bridge).
        const bridge = kind === 'partition-bridge' && other.length > 1 ? this.rnd.pick(other) : undefined;
        const h = hold();
        this.c.setLinks((t) => {
          for (const a of side) {
            for (const b of other) {
              if (b === bridge) continue;
              t.set(a.id, b.id, { cut: true });
              t.set(b.id, a.id, { cut: true });
            }
          }
        });
        this.log(kind, `{${ids(side)}} | {${ids(other)}}${bridge ? ` bridge ${bridge.name}` : ''} for ${h} ms`);
        await sleep(h);
        return;
      }
      case 'partition-oneway': {
        // The leader's messages to everyone are lost, while theirs reach it (or the reverse).
        const l = await this.leaderSlot();
        if (!l) return this.log(kind, 'no leader', true);
        const outbound = this.rnd.chance(0.5);
        const h = hold();
        this.c.setLinks((t) => {
          for (const b of ms) if (b !== l) (outbound ? t.set(l.id, b.id, { cut: true }) : t.set(b.id, l.id, { cut: true }));
        });
        this.log(kind, `${l.name} ${outbound ? 'cannot send to' : 'cannot hear from'} the others for ${h} ms`);
        await sleep(h);
        return;
      }
      case 'lossy': {
        const delayMs = 20 + this.rnd.int(150);
        const dropProb = this.rnd.pick([0, 0.05, 0.2]);
        const h = hold();
        this.c.setLinks((t) => {
          for (const a of ms) for (const b of ms) if (a !== b) t.set(a.id, b.id, { delayMs: this.rnd.int(delayMs), dropProb });
        });
        this.log(kind, `all links delay <= ${delayMs} ms, drop ${dropProb} for ${h} ms`);
        await sleep(h);
        return;
      }
      case 'leader-transfer': {
        const l = await this.leaderSlot();
        if (!l) return this.log(kind, 'no leader', true);
        const target = this.rnd.pick(ms.filter((s) => s !== l && s.proc));
        if (!target) return this.log(kind, 'no target', true);
        const r = await fetch(`${l.clientUrl}/v3/maintenance/transfer-leadership`, {
          method: 'POST',
          body: JSON.stringify({ targetID: BigInt(`0x${target.id}`).toString() }),
          signal: AbortSignal.timeout(5000),
        }).catch((e: Error) => ({ status: 0, text: async () => e.message }));
        const text = await r.text();
        this.log(kind, `MoveLeader ${l.name} -> ${target.name}: ${r.status} ${r.status === 200 ? '' : text.slice(0, 80)}`, r.status !== 200);
        await sleep(hold());
        return;
      }
      case 'leader-sigterm': {
        const l = await this.leaderSlot();
        if (!l) return this.log(kind, 'no leader', true);
        await this.c.signal(l, 'SIGTERM');
        const h = hold();
        this.log(kind, `${l.name} SIGTERM (hands over leadership), down ${h} ms`);
        await sleep(h);
        this.c.spawn(l, l.generation > 0 ? 'existing' : 'new');
        return;
      }
      case 'member-replace': {
        // Only from a healthy cluster: removing a member while another is down loses quorum.
        if (ms.some((s) => !s.proc)) return this.log(kind, 'a member is down', true);
        const l = await this.leaderSlot();
        if (!l) return this.log(kind, 'no leader', true);
        const victim = this.rnd.pick(ms.filter((s) => s !== l));
        const oldName = victim.name;
        if (!(await this.c.removeMember(victim, l))) return this.log(kind, `remove ${oldName} refused`, true);
        await sleep(500 + this.rnd.int(1000));
        let added = false;
        for (let i = 0; i < 10 && !added; i++) {
          const via = (await this.leaderSlot()) ?? l;
          added = await this.c.addMember(victim, via);
          if (!added) await sleep(500);
        }
        this.log(kind, `removed ${oldName}, added ${added ? victim.name : '(failed: restore will retry)'}`, !added);
        await sleep(hold());
        return;
      }
      case 'clock-restart': {
        const s = this.rnd.pick(ms);
        await this.c.kill9(s);
        s.clockOffsetMs = this.rnd.pick([-1, 1]) * (5000 + this.rnd.int(115000));
        this.c.spawn(s, s.generation > 0 ? 'existing' : 'new');
        this.log(kind, `${s.name} restarted with clock offset ${s.clockOffsetMs} ms`);
        await sleep(hold());
        return;
      }
      case 'compact': {
        if (!this.compact) return this.log(kind, 'no v3 workload', true);
        this.log(kind, await this.compact());
        return;
      }
      default: {
        const never: never = kind;
        throw new Error(`unknown nemesis ${String(never)}`);
      }
    }
  }
}
