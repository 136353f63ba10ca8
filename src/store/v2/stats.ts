// /v2/stats/store counters (etcd v2store stats.go), in etcd's JSON key order.

export const V2_STATS_KEYS = [
  'getsSuccess', 'getsFail', 'setsSuccess', 'setsFail', 'deleteSuccess', 'deleteFail',
  'updateSuccess', 'updateFail', 'createSuccess', 'createFail',
  'compareAndSwapSuccess', 'compareAndSwapFail', 'compareAndDeleteSuccess', 'compareAndDeleteFail',
  'expireCount', 'watchers',
] as const;

export type V2StatName = Exclude<(typeof V2_STATS_KEYS)[number], 'watchers'>;

export class V2Stats {
  private readonly counts = new Map<V2StatName, number>();

  inc(name: V2StatName): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  get(name: V2StatName): number {
    return this.counts.get(name) ?? 0;
  }

  toJson(watchers: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of V2_STATS_KEYS) out[k] = k === 'watchers' ? watchers : this.get(k);
    return out;
  }
}
