import { z } from 'zod';
import { DELIVERY_STATUSES, centerIdSchema, idSchema, isActive, type DeliveryRow, type DeliveryStatus } from './deliveries';
import { isNewer } from './merge';

/**
 * The periodic snapshot: per center, a compact digest of every active delivery and of every
 * delivery changed in the last two periods, as [deliverySeq, modDate ms, version, status index].
 * Clients compare it with what they hold and fetch only the rows that differ.
 */
export type SnapshotEntry = [seq: number, modDateMs: number, version: number, status: number];

export interface DeliverySnapshot {
  centerId: number;
  /** Server time the digest was read (ms since epoch). */
  asOf: number;
  /** Rows changed at or after this instant are in the digest even if finished. */
  since: number;
  rows: SnapshotEntry[];
  /** Set on a rider's private digest: only that rider's deliveries are listed. */
  riderId?: number;
}

export const statusCode = (s: DeliveryStatus): number => DELIVERY_STATUSES.indexOf(s);

export const deliveriesFetchSchema = z.object({
  centerId: centerIdSchema,
  seqs: z.array(idSchema).min(1).max(1000),
});

/**
 * Which rows a client must fetch to match a snapshot: the ones it lacks or holds older, and the
 * ones it holds as active (changed before the digest was read) that the digest no longer lists
 * as active, i.e. that finished while the client was not listening.
 */
export function rowsToRepair(snapshot: DeliverySnapshot, held: (seq: number) => DeliveryRow | undefined, heldInCenter: Iterable<DeliveryRow>): number[] {
  const need = new Set<number>();
  const listed = new Set<number>();
  for (const [seq, modMs, version] of snapshot.rows) {
    listed.add(seq);
    if (isNewer({ modDate: new Date(modMs).toISOString(), version }, held(seq))) need.add(seq);
  }
  for (const row of heldInCenter) {
    if (listed.has(row.deliverySeq)) continue;
    if (isActive(row.status) && Date.parse(row.modDate) <= snapshot.asOf) need.add(row.deliverySeq);
  }
  return [...need];
}
