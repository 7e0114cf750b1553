import { parseDbSnapshot, type DbSnapshot } from '../../protocol';
import type { Db } from './database';
import { Prisma } from './generated/client';

/**
 * Run reads in one REPEATABLE READ transaction and tell which database snapshot they saw, with
 * the database's own time. The first statement takes the snapshot, so `asOf` and every read in
 * `fn` see exactly the same committed changes: `asOf.xmin` is then a safe resync watermark
 * (see protocol/merge.ts).
 *
 * For reads that take several statements (the snapshot job reads deliveries, then riders). A read
 * that is one query takes its snapshot in that same statement instead, with one round trip and no
 * transaction (deliveries.repository.ts `selectAsOf`): resyncs and device polls do.
 */
export function readConsistent<T>(db: Db, fn: (tx: Prisma.TransactionClient, asOf: DbSnapshot, dbNow: Date) => Promise<T>): Promise<T> {
  return db.$transaction(
    async (tx) => {
      const [row] = await tx.$queryRaw<{ snap: string; now: Date }[]>`SELECT pg_current_snapshot()::text AS snap, now() AS now`;
      if (!row) throw new Error('the database returned no snapshot');
      return fn(tx, parseDbSnapshot(row.snap), row.now);
    },
    // Prisma gives a transaction 2 s to start by default. In a reconnect storm the survivors'
    // event loops run late, and reads that were only slow failed by the thousand ("Unable to start
    // a transaction in the given time"), each failure costing a client its whole reconnect.
    // Wait as long as a query may run instead.
    { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead, maxWait: 15_000, timeout: 15_000 },
  );
}
