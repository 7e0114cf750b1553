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
}

export interface RowsView {
  rows: ReadonlyMap<number, DeliveryRow>;
  revision: number;
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
    const rowStore: RowStore = {
      ...inner,
      apply(incoming) {
        const n = inner.apply(incoming);
        if (n > 0) set((s) => bump(s.revision));
        return n;
      },
    };
    const bump = (revision: number) => ({ revision: revision + 1, view: { rows, revision: revision + 1 } });
    return {
      rows,
      revision: 0,
      view: { rows, revision: 0 },
      sync: INITIAL_SYNC,
      rowStore,
      setSync: (sync) => set({ sync }),
      reset() {
        rows.clear();
        set(bump(get().revision));
      },
    };
  });
}
export type DeliveriesStore = ReturnType<typeof createDeliveriesStore>;
