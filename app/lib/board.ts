import { isActive, type DeliveryRow, type DeliveryStatus } from '@/protocol';
import type { RowsView } from './deliveries-store';

export type StatusFilter = DeliveryStatus | 'all' | 'late';

export interface BoardQuery {
  /** A center id, 'all' for HQ's every-center view, or null (nothing chosen yet: no rows). */
  selection: number | 'all' | null;
  filter: StatusFilter;
  /** Free-text search over order number, shop and rider (case-insensitive). */
  query: string;
  nowMs: number;
  lateAfterMinutes: number;
}

/** The list the board shows, newest first, read by position (the virtualized list reads ~30). */
export interface RowList {
  readonly length: number;
  at(index: number): DeliveryRow | undefined;
  /** Position of a delivery in the list, or -1. */
  indexOf(deliverySeq: number): number;
}

export const rowListOf = (rows: readonly DeliveryRow[]): RowList => ({
  length: rows.length,
  at: (i) => rows[i],
  indexOf: (seq) => rows.findIndex((r) => r.deliverySeq === seq),
});

/**
 * `createdAt` in ms, parsed once per row object: rows are immutable (a change is a new object),
 * and the board is derived again on every frame with changes, where parsing 10,000 ISO dates
 * twice each was most of the page's script time.
 */
const createdMs = new WeakMap<DeliveryRow, number>();
function createdAtMs(row: DeliveryRow): number {
  let ms = createdMs.get(row);
  if (ms === undefined) {
    ms = Date.parse(row.createdAt);
    createdMs.set(row, ms);
  }
  return ms;
}

/** The instant before which an active row counts as late (the protocol's `isLate` as a cutoff). */
export const lateCutoffMs = (nowMs: number, lateAfterMinutes: number): number => nowMs - lateAfterMinutes * 60_000;

/** `isLate` of the protocol, with the parse cached; `lateBeforeMs` from `lateCutoffMs`. */
export function isLateAt(row: DeliveryRow, lateBeforeMs: number): boolean {
  return isActive(row.status) && createdAtMs(row) < lateBeforeMs;
}

/**
 * The rows the list shows (the store's rows are those of the selection). Unfiltered (the usual
 * case, and the one that must stay cheap while updates stream in), it is the store's own order
 * read through its map: nothing is copied, so a frame with changes costs the same with 100 rows
 * or 10,000. A status filter or a search makes one pass over the rows each time the rows change.
 */
export function visibleRows(view: RowsView, q: BoardQuery): RowList {
  const text = q.query.trim().toLowerCase();
  if (q.selection === null) return rowListOf([]);
  if (q.filter === 'all' && !text) {
    // The store holds only the followed centers' rows (the sync engine drops any other).
    const { order, rows } = view;
    return { length: order.length, at: (i) => rows.get(order[i]!), indexOf: (seq) => order.indexOf(seq) };
  }
  const lateBeforeMs = lateCutoffMs(q.nowMs, q.lateAfterMinutes);
  const out: DeliveryRow[] = [];
  for (const seq of view.order) {
    const r = view.rows.get(seq);
    if (
      r &&
      (q.filter === 'all' || (q.filter === 'late' ? isLateAt(r, lateBeforeMs) : r.status === q.filter)) &&
      (!text || r.orderNo.toLowerCase().includes(text) || r.shopName.toLowerCase().includes(text) || (r.riderName ?? '').toLowerCase().includes(text))
    ) {
      out.push(r);
    }
  }
  return rowListOf(out);
}

/** Waiting, assigned and picked-up rows (the map's markers): derived only while the map is shown. */
export function activeRows(view: RowsView): DeliveryRow[] {
  const out: DeliveryRow[] = [];
  for (const seq of view.order) {
    const r = view.rows.get(seq);
    if (r && isActive(r.status)) out.push(r);
  }
  return out;
}
