import type { DeliveryRow } from './deliveries';
import { mergeRows } from './merge';

/**
 * Delivery rows held by a client, changed only through the merge rule. The browser's zustand
 * store wraps one; tests and non-browser clients use it directly. Watermarks are not derived
 * from rows (see merge.ts): the sync engine keeps them from the answers' `asOf`.
 */
export interface RowStore {
  /** Merge rows from any source; returns how many replaced what was held. */
  apply(rows: readonly DeliveryRow[]): number;
  get(deliverySeq: number): DeliveryRow | undefined;
  values(): Iterable<DeliveryRow>;
  /**
   * Run `fn` as one change: a store that notifies a view (the browser's) notifies once at the end
   * instead of once per `apply`. Optional; without it the sync engine just runs `fn`.
   */
  batch?(fn: () => void): void;
}

export function createRowStore(rows = new Map<number, DeliveryRow>()): RowStore & { rows: Map<number, DeliveryRow> } {
  return {
    rows,
    apply: (incoming) => mergeRows(rows, incoming, (r) => r.deliverySeq).length,
    get: (seq) => rows.get(seq),
    values: () => rows.values(),
  };
}
