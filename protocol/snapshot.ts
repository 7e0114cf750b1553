import { z } from 'zod';
import { DELIVERY_STATUSES, centerIdSchema, idSchema, isActive, type DeliveryRow, type DeliveryStatus } from './deliveries';
import { isNewer, visibleIn, type DbSnapshot } from './merge';

/**
 * The periodic snapshot: per center, a compact digest of every active delivery and of every
 * delivery changed in the last two periods, as [deliverySeq, version, status index].
 * Clients compare it with what they hold and fetch only the rows that differ.
 */
export type SnapshotEntry = [seq: number, version: number, status: number];

export interface DeliverySnapshot {
  centerId: number;
  /** The database snapshot the digest was read in: which changes it saw (see merge.ts). */
  asOf: DbSnapshot;
  /** Database time (ms since epoch) from which finished rows are listed too; informative. */
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
 * Which rows a client must fetch to match a snapshot: the ones it lacks or holds at a lower
 * version, and the ones it holds as active, in a version the digest saw, that the digest no longer
 * lists as active (they finished while the client was not listening). A held row written by a
 * transaction the digest did not see is newer than the digest and left alone.
 */
export function rowsToRepair(snapshot: DeliverySnapshot, held: (seq: number) => DeliveryRow | undefined, heldInCenter: Iterable<DeliveryRow>): number[] {
  const need = new Set<number>();
  const listed = new Set<number>();
  for (const [seq, version] of snapshot.rows) {
    listed.add(seq);
    if (isNewer({ version }, held(seq))) need.add(seq);
  }
  for (const row of heldInCenter) {
    if (listed.has(row.deliverySeq)) continue;
    if (isActive(row.status) && visibleIn(snapshot.asOf, row.txid)) need.add(row.deliverySeq);
  }
  return [...need];
}
