import { createStore } from 'zustand/vanilla';
import { createRowStore, type DeliveryRow, type RowStore } from '@/protocol';
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
}

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
    /** Set while `batch` runs: changes are published once, at its end. */
    let batching = false;
    let changed = false;
    let pendingSync: SyncStatus | undefined;

    const view = (revision: number): RowsView => {
      if (order.length !== rows.size) order = [...rows.keys()].sort((a, b) => b - a);
      return { rows, revision, order };
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
        const n = inner.apply(incoming);
        if (n > 0) publish();
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
      view: { rows, revision: 0, order },
      sync: INITIAL_SYNC,
      rowStore,
      setSync: (sync) => {
        if (batching) pendingSync = sync;
        else set({ sync });
      },
      reset() {
        rows.clear();
        order = [];
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
          publish();
        }
        return dropped;
      },
    };
  });
}
export type DeliveriesStore = ReturnType<typeof createDeliveriesStore>;
