import type { Db } from '../db/database';
import { Prisma } from '../db/generated/client';
import { ACTIVE_STATUSES, CARRIED_STATUSES, parseDbSnapshot, type DbSnapshot } from '../../protocol';
import type { DeliveryWithRider } from './deliveries.mapper';

/** A Prisma client or an interactive transaction: repositories work inside either. */
export type Tx = Db | Prisma.TransactionClient;

const withRider = { rider: { select: { name: true, userId: true } } } as const;

/** Rows a filter selected, and the database snapshot that saw exactly them. */
export interface DeliveriesAsOf {
  rows: DeliveryWithRider[];
  asOf: DbSnapshot;
}

/** A delivery joined with its rider and the statement's snapshot, as one row of {@link selectAsOf}. */
interface AsOfRow extends Omit<DeliveryWithRider, 'rider' | 'deliverySeq'> {
  snap: string;
  /** Null on the one row a filter that matched nothing still returns (it carries the snapshot). */
  deliverySeq: number | null;
  riderName: string | null;
  riderUserId: number | null;
}

/** Every column of a delivery, from the generated model (a column added later is read too); the enum as text. */
const deliveryColumns = Prisma.raw(
  Object.values(Prisma.DeliveryScalarFieldEnum)
    .map((f) => (f === 'status' ? 'd."status"::text AS "status"' : `d."${f}"`))
    .join(', '),
);
const bySeq = Prisma.sql`d."deliverySeq"`;
/** Oldest change first: a page cut at a row leaves only later transactions for the next page. */
const byTx = Prisma.sql`d.txid, d."deliverySeq"`;

/**
 * Deliveries matching `where` (over `d`, a delivery, and `r`, its rider), with the snapshot that
 * saw them: ONE statement, so PostgreSQL reads the rows and `pg_current_snapshot()` from the same
 * snapshot, with no transaction and one round trip. `asOf.xmin` is then a safe resync watermark
 * (see protocol/merge.ts). A reconnect storm's resyncs each held a pooled connection through six
 * round trips (BEGIN, isolation, snapshot, deliveries, riders, COMMIT) on event loops that were
 * running late; this is one.
 *
 * The snapshot row is the left side of the join, so a filter that matches nothing still returns it.
 */
async function selectAsOf(tx: Tx, where: Prisma.Sql, order: Prisma.Sql = bySeq, limit: number | null = null): Promise<DeliveriesAsOf> {
  const found = await tx.$queryRaw<AsOfRow[]>`
    SELECT s.snap, ${deliveryColumns}, r.name AS "riderName", r."userId" AS "riderUserId"
    FROM (SELECT pg_current_snapshot()::text AS snap) s
    LEFT JOIN ("Delivery" d LEFT JOIN "Rider" r ON r.id = d."riderId") ON ${where}
    ORDER BY ${order}
    LIMIT ${limit}`; // NULL: no limit
  const first = found[0];
  if (!first) throw new Error('the database returned no snapshot');
  const rows: DeliveryWithRider[] = [];
  for (const { snap: _snap, riderName, riderUserId, ...d } of found) {
    if (d.deliverySeq === null) continue;
    // A rider's name is NOT NULL: it is null exactly when the delivery has no rider.
    rows.push({ ...d, deliverySeq: d.deliverySeq, txid: BigInt(d.txid), rider: riderName === null ? null : { name: riderName, userId: riderUserId } });
  }
  return { rows, asOf: parseDbSnapshot(first.snap) };
}

/** The database clock minus a window, as the UTC timestamps the columns hold. */
const windowStartSql = (windowMs: number) => Prisma.sql`(now() AT TIME ZONE 'UTC') - make_interval(secs => ${windowMs / 1000})`;
const activeSql = Prisma.sql`d.status = ANY(${[...ACTIVE_STATUSES]}::"DeliveryStatus"[])`;

/** Persistence for deliveries: queries only, no rules. */
export const deliveriesRepository = {
  findBySeq(tx: Tx, deliverySeq: number): Promise<DeliveryWithRider | null> {
    return tx.delivery.findUnique({ where: { deliverySeq }, include: withRider });
  },

  findMany(tx: Tx, centerId: number, seqs: number[]): Promise<DeliveryWithRider[]> {
    return tx.delivery.findMany({ where: { centerId, deliverySeq: { in: seqs } }, include: withRider });
  },

  /**
   * A center's list as of one snapshot (a full resync): every active delivery plus the finished
   * ones created within `windowMs` of the database clock.
   */
  listForCenterAsOf(tx: Tx, centerId: number, windowMs: number): Promise<DeliveriesAsOf> {
    return selectAsOf(tx, Prisma.sql`d."centerId" = ${centerId} AND (${activeSql} OR d."createdAt" >= ${windowStartSql(windowMs)})`);
  },

  /**
   * Rows of a center written by transactions at or after `sinceTx` (a watermark read as
   * pg_snapshot_xmin), as of one snapshot: a resync. One query on the (centerId, txid) index.
   */
  changedSinceAsOf(tx: Tx, centerId: number, sinceTx: number): Promise<DeliveriesAsOf> {
    return selectAsOf(tx, Prisma.sql`d."centerId" = ${centerId} AND d.txid >= ${BigInt(sinceTx)}`);
  },

  /**
   * A shop's deliveries as of one snapshot, oldest transaction first, at most `limit`: those
   * written at or after the watermark `sinceTx`, or without one, the active ones.
   */
  forShopAsOf(tx: Tx, shopId: number, sinceTx: number | undefined, limit: number): Promise<DeliveriesAsOf> {
    const which = sinceTx === undefined ? activeSql : Prisma.sql`d.txid >= ${BigInt(sinceTx)}`;
    return selectAsOf(tx, Prisma.sql`d."shopId" = ${shopId} AND ${which}`, byTx, limit);
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
