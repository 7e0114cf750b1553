import { ACTIVE_STATUSES, CARRIED_STATUSES } from '../../protocol';
import type { Db } from '../db/database';
import type { DeliveriesService } from '../deliveries/deliveries.service';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import { fakeOrder, newOrderNo } from './data';
import { createRandom } from './random';

export interface SimulatorOptions {
  db: Db;
  deliveries: DeliveriesService;
  logger: Logger;
  /** New orders per minute across all centers. */
  ordersPerMinute: number;
  tickMs: number;
  /** Scales every waiting time of the lifecycle (1 = realistic minutes, 0.1 = ten times faster). */
  pace?: number;
  seed?: number;
}

export interface SimulatorStats {
  created: number;
  assigned: number;
  pickedUp: number;
  delivered: number;
  cancelled: number;
  skipped: number;
}

const SIM_ACTOR = { label: 'simulator' };

/**
 * Traffic that looks like a dinner shift: orders arrive at a steady rate; each delivery waits,
 * gets a rider (idle first, else the least loaded), is picked up and delivered, and a few are
 * cancelled. Every change goes through the deliveries service, so it is committed and broadcast
 * exactly like a dispatcher's or a rider's. A tick never overlaps the previous one.
 */
export function createSimulator(opts: SimulatorOptions) {
  const { db, deliveries, logger } = opts;
  const rng = createRandom(opts.seed ?? Date.now());
  const pace = opts.pace ?? 0.25;
  const stats: SimulatorStats = { created: 0, assigned: 0, pickedUp: 0, delivered: 0, cancelled: 0, skipped: 0 };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let owed = 0;
  let stopped = true;

  /** Average seconds a delivery spends in each step, before `pace`. */
  const meanWaitSec = { waiting: 90, assigned: 240, picked_up: 600 } as const;

  async function act(fn: () => Promise<unknown>, counter: keyof SimulatorStats) {
    try {
      await fn();
      stats[counter] += 1;
    } catch (err) {
      if (err instanceof AppError) stats.skipped += 1; // someone else acted first: fine
      else throw err;
    }
  }

  async function tick() {
    const now = Date.now();
    const centers = await db.center.findMany({ select: { id: true, lat: true, lng: true } });
    if (centers.length === 0) return;

    owed += (opts.ordersPerMinute * opts.tickMs) / 60_000;
    // Orders go to the centers' real shops (their devices get them over MQTT).
    const shops = owed >= 1 ? await db.shop.findMany({ select: { id: true, centerId: true, name: true, address: true } }) : [];
    while (owed >= 1) {
      owed -= 1;
      const center = rng.pick(centers);
      const o = fakeOrder(rng, center);
      const own = shops.filter((s) => s.centerId === center.id);
      const shop = own.length ? rng.pick(own) : undefined;
      const input = { centerId: center.id, orderNo: newOrderNo(new Date(), rng), ...o, ...(shop ? { shopId: shop.id, shopName: shop.name, shopAddress: shop.address || o.shopAddress } : {}) };
      await act(() => deliveries.create(input, SIM_ACTOR), 'created');
    }

    const active = await db.delivery.findMany({
      where: { status: { in: [...ACTIVE_STATUSES] }, OR: [{ riderId: null }, { rider: { userId: null } }] },
      select: { deliverySeq: true, status: true, centerId: true, modDate: true, version: true },
    });
    // Riders who sign in (the demo rider) work their own deliveries: the simulator leaves them be.
    const riders = await db.rider.findMany({
      where: { status: { not: 'off' }, userId: null },
      select: { id: true, centerId: true, status: true, _count: { select: { deliveries: { where: { status: { in: [...CARRIED_STATUSES] } } } } } },
    });
    const load = new Map(riders.map((r) => [r.id, r._count.deliveries]));

    for (const d of active) {
      const waitedSec = (now - d.modDate.getTime()) / 1000;
      const mean = meanWaitSec[d.status as keyof typeof meanWaitSec] * pace;
      // Memoryless: the chance to move on this tick gives the mean wait above.
      const p = Math.min(1, opts.tickMs / 1000 / Math.max(mean, 0.001));
      if (waitedSec < mean * 0.2 || !rng.chance(p)) continue;
      if (rng.chance(0.01)) {
        await act(() => deliveries.cancel(d.deliverySeq, 'Customer cancelled', SIM_ACTOR, { expectedVersion: d.version }), 'cancelled');
        continue;
      }
      if (d.status === 'waiting') {
        const candidates = riders.filter((r) => r.centerId === d.centerId);
        if (candidates.length === 0) continue;
        candidates.sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0));
        const rider = candidates[0]!;
        if ((load.get(rider.id) ?? 0) >= 3) continue;
        load.set(rider.id, (load.get(rider.id) ?? 0) + 1);
        await act(() => deliveries.assign(d.deliverySeq, rider.id, SIM_ACTOR, { expectedVersion: d.version }), 'assigned');
      } else if (d.status === 'assigned') {
        await act(() => deliveries.pickUp(d.deliverySeq, SIM_ACTOR, { expectedVersion: d.version }), 'pickedUp');
      } else {
        await act(() => deliveries.deliver(d.deliverySeq, SIM_ACTOR, { expectedVersion: d.version }), 'delivered');
      }
    }
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) => logger.error({ err }, 'simulator tick failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, opts.tickMs);
  }

  return {
    stats,
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    /** Stop and wait for a tick in progress to finish. */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
    /** Run one tick now (tests and benchmarks). */
    tick,
  };
}
export type Simulator = ReturnType<typeof createSimulator>;
