import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/database';
import { createLocalLock } from '../../server/jobs/lock';
import { createPeriodicJob } from '../../server/jobs/periodic';
import { IDEMPOTENCY_TTL_MS, pruneIdempotencyRecords } from '../../server/jobs/retention';
import { createLogger } from '../../server/logger';
import { BACKENDS } from '../support/backends';

describe('periodic jobs', () => {
  it('run once per period in a process, and again in the next period', async () => {
    let clock = 10_000;
    const runs: number[] = [];
    const job = createPeriodicJob({ name: 'test', intervalMs: 1000, lock: createLocalLock(), logger: createLogger('silent'), now: () => clock, run: (p) => Promise.resolve(void runs.push(p)) });
    expect(await job.tick()).toBe(true);
    expect(await job.tick()).toBe(false);
    clock += 1000;
    expect(await job.tick()).toBe(true);
    expect(runs).toEqual([10, 11]);
  });
});

describe.each(BACKENDS)('idempotency retention on $name', (backend) => {
  let db: Database;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ db, dispose } = await backend.open());
  });
  afterAll(async () => {
    await dispose?.();
  });

  it('prunes records older than a day and keeps the rest', async () => {
    const now = Date.now();
    await db.prisma.idempotencyRecord.createMany({
      data: [
        { scope: 'test', key: 'old-record-1', statusCode: 200, response: {}, createdAt: new Date(now - IDEMPOTENCY_TTL_MS - 60_000) },
        { scope: 'test', key: 'fresh-record', statusCode: 200, response: {}, createdAt: new Date(now - 60_000) },
      ],
    });
    expect(await pruneIdempotencyRecords(db.prisma, now)).toBe(1);
    expect((await db.prisma.idempotencyRecord.findMany({ where: { scope: 'test' } })).map((r) => r.key)).toEqual(['fresh-record']);
  });
});
