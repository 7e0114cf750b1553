import { createStore } from 'zustand/vanilla';
import { createRowStore, type DeliveryRow, type RowStore } from '@/protocol';
import type { SyncStatus } from './delivery-sync';

export interface DeliveriesState {
  /** Rows by deliverySeq; replaced only through the shared merge rule. */
  rows: Map<number, DeliveryRow>;
  /** Bumped whenever `rows` changed, so selectors can memoize derived lists. */
  revision: number;
  /** Connection, freshness and repair counts reported by the sync engine. */
  sync: SyncStatus;
  /** The RowStore the sync engine writes through (bumps `revision`). */
  rowStore: RowStore;
  setSync(status: SyncStatus): void;
  /** Drop everything (switching center). */
  reset(): void;
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
        if (n > 0) set((s) => ({ revision: s.revision + 1 }));
        return n;
      },
    };
    return {
      rows,
      revision: 0,
      sync: INITIAL_SYNC,
      rowStore,
      setSync: (sync) => set({ sync }),
      reset() {
        rows.clear();
        set({ revision: get().revision + 1 });
      },
    };
  });
}
export type DeliveriesStore = ReturnType<typeof createDeliveriesStore>;
