import type { Db } from '../db/database';

/** Idempotency keys are honoured for a day; older records are removed by the retention job. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

export async function pruneIdempotencyRecords(db: Db, now = Date.now()): Promise<number> {
  const res = await db.idempotencyRecord.deleteMany({ where: { createdAt: { lt: new Date(now - IDEMPOTENCY_TTL_MS) } } });
  return res.count;
}
