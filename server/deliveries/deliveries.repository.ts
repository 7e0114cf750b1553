import type { Db } from '../db/database';
import type { Prisma } from '../db/generated/client';
import { ACTIVE_STATUSES, CARRIED_STATUSES } from '../../protocol';
import type { DeliveryWithRider } from './deliveries.mapper';

/** A Prisma client or an interactive transaction: repositories work inside either. */
export type Tx = Db | Prisma.TransactionClient;

const withRider = { rider: { select: { name: true, userId: true } } } as const;

/** Persistence for deliveries: queries only, no rules. */
export const deliveriesRepository = {
  findBySeq(tx: Tx, deliverySeq: number): Promise<DeliveryWithRider | null> {
    return tx.delivery.findUnique({ where: { deliverySeq }, include: withRider });
  },

  findMany(tx: Tx, centerId: number, seqs: number[]): Promise<DeliveryWithRider[]> {
    return tx.delivery.findMany({ where: { centerId, deliverySeq: { in: seqs } }, include: withRider });
  },

  /**
   * A center's list: every active delivery plus the finished ones created since `windowStart`.
   * Served by the (centerId, status) and (centerId, modDate) indexes.
   */
  listForCenter(tx: Tx, centerId: number, windowStart: Date): Promise<DeliveryWithRider[]> {
    return tx.delivery.findMany({
      where: {
        centerId,
        OR: [{ status: { in: [...ACTIVE_STATUSES] } }, { createdAt: { gte: windowStart } }],
      },
      include: withRider,
      orderBy: { deliverySeq: 'asc' },
    });
  },

  /**
   * Rows of a center written by transactions at or after `sinceTx` (a watermark read as
   * pg_snapshot_xmin): one query on the (centerId, txid) index.
   */
  changedSince(tx: Tx, centerId: number, sinceTx: number): Promise<DeliveryWithRider[]> {
    return tx.delivery.findMany({
      where: { centerId, txid: { gte: BigInt(sinceTx) } },
      include: withRider,
      orderBy: { deliverySeq: 'asc' },
    });
  },

  /** A rider's active deliveries plus those finished since `windowStart`. */
  listForRider(tx: Tx, riderId: number, windowStart: Date): Promise<DeliveryWithRider[]> {
    return tx.delivery.findMany({
      where: { riderId, OR: [{ status: { in: [...CARRIED_STATUSES] } }, { modDate: { gte: windowStart } }] },
      include: withRider,
      orderBy: { deliverySeq: 'asc' },
    });
  },

  create(tx: Tx, data: Prisma.DeliveryUncheckedCreateInput): Promise<DeliveryWithRider> {
    return tx.delivery.create({ data, include: withRider });
  },

  /**
   * Update only if the row is still at `expectedVersion` (optimistic concurrency); the UPDATE
   * itself bumps the version, and the database stamps txid and modDate (trigger). Returns false
   * when another change won the race.
   */
  async updateIfVersion(tx: Tx, deliverySeq: number, expectedVersion: number, data: Prisma.DeliveryUncheckedUpdateManyInput): Promise<boolean> {
    const res = await tx.delivery.updateMany({
      where: { deliverySeq, version: expectedVersion },
      data: { ...data, version: { increment: 1 } },
    });
    return res.count === 1;
  },

  addEvent(tx: Tx, data: Prisma.DeliveryEventUncheckedCreateInput) {
    return tx.deliveryEvent.create({ data });
  },
};
