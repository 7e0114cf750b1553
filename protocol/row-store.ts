import type { DeliveryRow } from './deliveries';
import { mergeRows, newestModDate } from './merge';

/**
 * Delivery rows held by a client, changed only through the merge rule. The browser's zustand
 * store wraps one; tests and non-browser clients use it directly.
 */
export interface RowStore {
  /** Merge rows from any source; returns how many replaced what was held. */
  apply(rows: readonly DeliveryRow[]): number;
  get(deliverySeq: number): DeliveryRow | undefined;
  values(): Iterable<DeliveryRow>;
  /** Newest modDate held for a center: the watermark a resync starts from. */
  watermark(centerId: number): string | undefined;
}

export function createRowStore(rows = new Map<number, DeliveryRow>()): RowStore & { rows: Map<number, DeliveryRow> } {
  return {
    rows,
    apply: (incoming) => mergeRows(rows, incoming, (r) => r.deliverySeq).length,
    get: (seq) => rows.get(seq),
    values: () => rows.values(),
    watermark: (centerId) => newestModDate([...rows.values()].filter((r) => r.centerId === centerId)),
  };
}
