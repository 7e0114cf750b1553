import { ACTIVE_STATUSES, rooms, statusCode, type DeliverySnapshot, type SnapshotEntry } from '../../protocol';
import { readConsistent } from '../db/consistent-read';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import type { DispatchNamespace } from '../realtime/types';
import type { PeriodLock } from '../jobs/lock';
import { createPeriodicJob } from '../jobs/periodic';

export interface SnapshotJobOptions {
  db: Db;
  dispatch: DispatchNamespace;
  lock: PeriodLock;
  logger: Logger;
  intervalMs: number;
  now?: () => number;
  /** Only the cluster's job owner broadcasts (see jobs/leadership.ts). */
  leader?: () => boolean;
  onRun?: (stats: SnapshotRunStats) => void;
}

export interface SnapshotRunStats {
  period: number;
  centers: number;
  rows: number;
  bytes: number;
  ms: number;
}

/**
 * Read one center's digest (active deliveries plus everything changed in the last two periods,
 * measured on the database clock) in one database snapshot, and split off the part of each rider
 * who signs in: riders are in no center room, so they get their own deliveries' digest in their
 * private room. The digest carries the snapshot it was read in (see protocol/merge.ts).
 */
export async function readSnapshots(
  db: Db,
  centerId: number,
  intervalMs: number,
): Promise<{ center: DeliverySnapshot; riders: { userId: number; snapshot: DeliverySnapshot }[] }> {
  return readConsistent(db, async (tx, asOf, dbNow) => {
    const since = dbNow.getTime() - 2 * intervalMs;
    const rows = await tx.delivery.findMany({
      where: { centerId, OR: [{ status: { in: [...ACTIVE_STATUSES] } }, { modDate: { gte: new Date(since) } }] },
      select: { deliverySeq: true, version: true, status: true, riderId: true },
      orderBy: { deliverySeq: 'asc' },
    });
    const entry = (r: (typeof rows)[number]): SnapshotEntry => [r.deliverySeq, r.version, statusCode(r.status)];
    const riders = await tx.rider.findMany({ where: { centerId, userId: { not: null } }, select: { id: true, userId: true } });
    const byRider = new Map<number, SnapshotEntry[]>();
    for (const r of rows) {
      if (r.riderId === null) continue;
      const list = byRider.get(r.riderId) ?? [];
      list.push(entry(r));
      byRider.set(r.riderId, list);
    }
    return {
      center: { centerId, asOf, since, rows: rows.map(entry) },
      riders: riders.map((r) => ({
        userId: r.userId!,
        snapshot: { centerId, asOf, since, riderId: r.id, rows: byRider.get(r.id) ?? [] },
      })),
    };
  });
}

/** One center's digest (see readSnapshots). */
export async function readSnapshot(db: Db, centerId: number, intervalMs: number): Promise<DeliverySnapshot> {
  return (await readSnapshots(db, centerId, intervalMs)).center;
}

/**
 * The safety net against lost events: every interval, exactly one process (by the period lock)
 * reads each center's digest once and broadcasts it to that center's room and to HQ, and each
 * signed-in rider's share of it to that rider. Clients
 * compare and fetch only what differs, with the same merge rule as for events.
 */
export function createSnapshotJob(opts: SnapshotJobOptions) {
  const now = opts.now ?? (() => Date.now());

  /** Read and broadcast every center's digest now. */
  async function broadcast(period: number): Promise<SnapshotRunStats> {
    const started = now();
    const centers = await opts.db.center.findMany({ select: { id: true } });
    let rows = 0;
    let bytes = 0;
    for (const { id } of centers) {
      const { center: snap, riders } = await readSnapshots(opts.db, id, opts.intervalMs);
      rows += snap.rows.length;
      bytes += Buffer.byteLength(JSON.stringify(snap));
      opts.dispatch.to([rooms.center(id), rooms.allCenters()]).emit('deliveries:snapshot', snap); // room + broadcast
      for (const r of riders) opts.dispatch.to(rooms.user(r.userId)).emit('deliveries:snapshot', r.snapshot); // private
    }
    const stats = { period, centers: centers.length, rows, bytes, ms: now() - started };
    opts.logger.debug(stats, 'snapshot broadcast');
    opts.onRun?.(stats);
    return stats;
  }

  const job = createPeriodicJob({
    name: 'snapshot',
    intervalMs: opts.intervalMs,
    lock: opts.lock,
    logger: opts.logger,
    run: broadcast,
    now,
    ...(opts.leader ? { leader: opts.leader } : {}),
  });

  return {
    /** Run now, outside the schedule and its lock (operators and tests). */
    runOnce: () => broadcast(Math.floor(now() / opts.intervalMs)),
    start: () => job.start(),
    stop: () => job.stop(),
  };
}
export type SnapshotJob = ReturnType<typeof createSnapshotJob>;
