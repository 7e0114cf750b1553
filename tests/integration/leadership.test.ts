import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { restartDelayMs } from '../../server/cluster/primary';
import { createLocalLock } from '../../server/jobs/lock';
import { createRedisLeadership, createSoleLeadership, type Leadership } from '../../server/jobs/leadership';
import { createPeriodicJob } from '../../server/jobs/periodic';
import { createLogger } from '../../server/logger';
import { connectTestRedis, unlinkPrefix } from '../support/adapters';
import { waitFor } from '../support/sync-helpers';

const logger = createLogger('silent');

describe('job ownership', () => {
  it('runs a periodic job only on the owner', async () => {
    const lead = createSoleLeadership();
    const runs: number[] = [];
    let clock = 5_000;
    const job = createPeriodicJob({ name: 'owned', intervalMs: 1000, lock: createLocalLock(), logger, now: () => clock, leader: () => lead.isLeader(), run: (p) => Promise.resolve(void runs.push(p)) });
    expect(await job.tick()).toBe(false); // not started: not the owner
    lead.start();
    expect(await job.tick()).toBe(true);
    await lead.stop();
    clock += 1000;
    expect(await job.tick()).toBe(false);
    expect(runs).toEqual([5]);
  });

  it('restarts a dying worker with a doubling delay, capped at 30 s', () => {
    expect([1, 2, 3, 4].map(restartDelayMs)).toEqual([500, 1000, 2000, 4000]);
    expect(restartDelayMs(20)).toBe(30_000);
  });
});

describe('Redis job lease', () => {
  let redis: Redis;
  const prefix = `dd-test-lease:${process.pid}:${randomBytes(3).toString('hex')}`;
  const leases: Leadership[] = [];
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterAll(async () => {
    for (const l of leases) await l.stop();
    await unlinkPrefix(redis, prefix);
    redis.disconnect();
  });

  const lease = (nodeId: string) => {
    const l = createRedisLeadership({ redis, key: `${prefix}:leader`, nodeId, ttlMs: 600, logger });
    leases.push(l);
    return l;
  };

  it('has one owner at a time, hands over at once on stop, and within a lease when the owner vanishes', async () => {
    const a = lease('node-a');
    const b = lease('node-b');
    a.start();
    await waitFor(() => a.isLeader(), 2000, 'a owns');
    b.start();
    await new Promise((r) => setTimeout(r, 900)); // more than a lease: a keeps renewing it
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(await redis.get(`${prefix}:leader`)).toBe('node-a');

    let started = Date.now();
    await a.stop(); // released: b takes it on its next try
    await waitFor(() => b.isLeader(), 2000, 'b owns after a stopped');
    const handover = Date.now() - started;

    // An owner that vanishes without releasing (its renewals simply stop): replaced after expiry.
    const c = lease('node-c');
    c.start();
    started = Date.now();
    await b.stop();
    await redis.set(`${prefix}:leader`, 'node-dead', 'PX', 600); // a dead owner's lease
    await waitFor(() => c.isLeader(), 3000, 'c owns after the dead lease expired');
    const takeover = Date.now() - started;
    console.log(`lease handover on stop ${handover} ms; takeover after a dead owner ${takeover} ms (lease 600 ms)`);
    expect(takeover).toBeGreaterThanOrEqual(500);
    expect(takeover).toBeLessThan(600 + 2 * 200 + 500);
  });
});
