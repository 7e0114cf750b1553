import { createStore } from 'zustand/vanilla';
import { mergeRows, newestModDate, type DeliveryRow } from '@/protocol';

export type ConnectionState = 'connecting' | 'live' | 'offline';

export interface DeliveriesState {
  /** Rows by deliverySeq; replaced only through the shared merge rule. */
  rows: Map<number, DeliveryRow>;
  /** Bumped whenever `rows` changed, so selectors can memoize derived lists. */
  revision: number;
  connection: ConnectionState;
  /** When the last row change arrived (ms since epoch), for the freshness readout. */
  lastChangeAt: number | null;
  /** Merge rows from any source (event, sync, snapshot); returns how many were applied. */
  apply(rows: readonly DeliveryRow[]): number;
  /** Drop everything (switching center). */
  reset(): void;
  setConnection(state: ConnectionState): void;
  /** Newest modDate held: the watermark sent on resync. */
  watermark(): string | undefined;
}

/** One store per dashboard, created by the provider (never module-global). */
export function createDeliveriesStore() {
  return createStore<DeliveriesState>()((set, get) => ({
    rows: new Map(),
    revision: 0,
    connection: 'connecting',
    lastChangeAt: null,
    apply(incoming) {
      const { rows } = get();
      const applied = mergeRows(rows, incoming, (r) => r.deliverySeq);
      if (applied.length > 0) set((s) => ({ revision: s.revision + 1, lastChangeAt: Date.now() }));
      return applied.length;
    },
    reset() {
      set({ rows: new Map(), revision: get().revision + 1, lastChangeAt: null });
    },
    setConnection(connection) {
      if (get().connection !== connection) set({ connection });
    },
    watermark() {
      return newestModDate(get().rows.values());
    },
  }));
}
export type DeliveriesStore = ReturnType<typeof createDeliveriesStore>;
