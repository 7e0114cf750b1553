import { createStore } from 'zustand/vanilla';
import { createRowStore, isCarried, type DeliveryRow, type DeliveryStatus, type RowStore } from '@/protocol';
import { isLateAt } from './board';
import type { SyncStatus } from './delivery-sync';

export interface DeliveriesState {
  /** Rows by deliverySeq; replaced only through the shared merge rule. */
  rows: Map<number, DeliveryRow>;
  /** Bumped whenever `rows` changed, so selectors can memoize derived lists. */
  revision: number;
  /**
   * The rows as of `revision`: a new object on every change (the map itself is merged in place),
   * so a component that derives lists from it re-derives exactly when the rows changed.
   */
  view: RowsView;
  /** Connection, freshness and repair counts reported by the sync engine. */
  sync: SyncStatus;
  /** The RowStore the sync engine writes through (bumps `revision`). */
  rowStore: RowStore;
  setSync(status: SyncStatus): void;
  /**
   * Rows created before this instant (ms) count as late when still active: the board sets it
   * from its clock tick and the late threshold, and the store keeps `view.lateCount` from it.
   */
  setLateBefore(ms: number): void;
  /** Drop everything (switching center). */
  reset(): void;
  /**
   * Drop rows created before `cutoffMs` (they left the day's window), so a tab left open for
   * days holds a bounded number of rows. Returns how many were dropped.
   */
  prune(cutoffMs: number): number;
}

export interface RowsView {
  rows: ReadonlyMap<number, DeliveryRow>;
  revision: number;
  /**
   * Every deliverySeq held, newest first. Re-sorted only when rows are added or dropped: a
   * change to an existing row (the common event) keeps its place, since deliverySeq never changes.
   */
  order: readonly number[];
  /**
   * Tallies over every row held, kept up to date change by change (a frame with two changed rows
   * costs two updates, not a pass over 10,000 rows): rows by status, active rows created before
   * the late threshold, and active deliveries each rider carries.
   */
  counts: Readonly<Record<DeliveryStatus, number>>;
  lateCount: number;
  loadByRider: ReadonlyMap<number, number>;
}

/** Added rows above this many in one update are placed by a full sort rather than one by one. */
const INSERT_ONE_BY_ONE = 64;

export const INITIAL_SYNC: SyncStatus = {
  link: 'connecting',
  lastChangeAt: null,
  lastReconnect: null,
  repaired: { recovery: 0, resync: 0, snapshot: 0, polling: 0 },
  error: null,
};

/** One store per dashboard, created by the provider (never module-global). */
export function createDeliveriesStore() {
  return createStore<DeliveriesState>()((set, get) => {
    const rows = new Map<number, DeliveryRow>();
    const inner = createRowStore(rows);
    let order: number[] = [];
    /** Rows held but not yet placed in `order`. */
    let added: number[] = [];
    const counts: Record<DeliveryStatus, number> = { waiting: 0, assigned: 0, picked_up: 0, delivered: 0, cancelled: 0 };
    const load = new Map<number, number>();
    let lateBefore = Number.NEGATIVE_INFINITY;
    let lateCount = 0;
    /** Set while `batch` runs: changes are published once, at its end. */
    let batching = false;
    let changed = false;
    let pendingSync: SyncStatus | undefined;

    /** Add (+1) or remove (-1) one row from the tallies. */
    const tally = (r: DeliveryRow, sign: 1 | -1) => {
      counts[r.status] += sign;
      if (isLateAt(r, lateBefore)) lateCount += sign;
      if (isCarried(r.status) && r.riderId !== null) {
        const n = (load.get(r.riderId) ?? 0) + sign;
        if (n > 0) load.set(r.riderId, n);
        else load.delete(r.riderId);
      }
    };
    const retally = () => {
      for (const k of Object.keys(counts) as DeliveryStatus[]) counts[k] = 0;
      load.clear();
      lateCount = 0;
      for (const r of rows.values()) tally(r, 1);
    };

    const view = (revision: number): RowsView => {
      if (added.length > INSERT_ONE_BY_ONE || order.length + added.length !== rows.size) {
        order = [...rows.keys()].sort((a, b) => b - a);
      } else if (added.length > 0) {
        // Newest first; a few new rows are merged into a new array (older views keep theirs).
        const next = order.slice();
        for (const seq of added.sort((a, b) => b - a)) {
          let lo = 0;
          let hi = next.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (next[mid]! > seq) lo = mid + 1;
            else hi = mid;
          }
          next.splice(lo, 0, seq);
        }
        order = next;
      }
      added = [];
      return { rows, revision, order, counts: { ...counts }, lateCount, loadByRider: new Map(load) };
    };
    const bump = (revision: number) => ({ revision: revision + 1, view: view(revision + 1) });
    const publish = () => {
      if (batching) {
        changed = true;
        return;
      }
      set((s) => bump(s.revision));
    };

    const rowStore: RowStore = {
      ...inner,
      apply(incoming) {
        const before = new Map<number, DeliveryRow | undefined>();
        for (const r of incoming) if (!before.has(r.deliverySeq)) before.set(r.deliverySeq, rows.get(r.deliverySeq));
        const n = inner.apply(incoming);
        if (n === 0) return 0;
        for (const [seq, old] of before) {
          const now = rows.get(seq);
          if (now === old || !now) continue;
          if (old) tally(old, -1);
          else added.push(seq);
          tally(now, 1);
        }
        publish();
        return n;
      },
      /** One store update (one React render) for everything `fn` applies: a frame's events. */
      batch(fn) {
        if (batching) return fn();
        batching = true;
        try {
          fn();
        } finally {
          batching = false;
          const sync = pendingSync;
          pendingSync = undefined;
          if (changed || sync) {
            set((s) => ({ ...(changed ? bump(s.revision) : {}), ...(sync ? { sync } : {}) }));
            changed = false;
          }
        }
      },
    };
    return {
      rows,
      revision: 0,
      view: { rows, revision: 0, order, counts: { ...counts }, lateCount: 0, loadByRider: new Map() },
      sync: INITIAL_SYNC,
      rowStore,
      setSync: (sync) => {
        if (batching) pendingSync = sync;
        else set({ sync });
      },
      setLateBefore(ms) {
        if (ms === lateBefore) return;
        lateBefore = ms;
        retally();
        publish();
      },
      reset() {
        rows.clear();
        order = [];
        added = [];
        retally();
        set(bump(get().revision));
      },
      prune(cutoffMs) {
        let dropped = 0;
        for (const [seq, r] of rows) {
          if (Date.parse(r.createdAt) < cutoffMs) {
            rows.delete(seq);
            dropped += 1;
          }
        }
        if (dropped > 0) {
          order = [];
          added = [];
          retally();
          publish();
        }
        return dropped;
      },
    };
  });
}
export type DeliveriesStore = ReturnType<typeof createDeliveriesStore>;
