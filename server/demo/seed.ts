import type { Db } from '../db/database';
import { hashPassword } from '../auth/password';
import { CARRIED_STATUSES, ORDER_STATUS_BY_DELIVERY, type DeliveryStatus } from '../../protocol';
import { DEMO_ACCOUNTS, DEMO_CENTERS, DEMO_DEVICE, DEMO_SHOPS, fakeOrder, newOrderNo, personName } from './data';
import { createRandom } from './random';

export interface SeedOptions {
  password: string;
  ridersPerCenter?: number;
  deliveries?: number;
  now?: Date;
}

export interface SeedResult {
  centers: number;
  riders: number;
  deliveries: number;
  shops: number;
  /** The demo device's username, when the seed created it. */
  demoDevice?: string;
  seeded: boolean;
}

/** The demo device on the first shop of the first center, if the database has no device yet. */
async function seedDemoDevice(db: Db, password: string): Promise<string | undefined> {
  if ((await db.device.count()) > 0) return undefined;
  const shop = await db.shop.findFirst({ orderBy: { id: 'asc' }, select: { id: true } });
  if (!shop) return undefined;
  await db.device.create({ data: { shopId: shop.id, name: DEMO_DEVICE.name, username: DEMO_DEVICE.username, passwordHash: await hashPassword(password) } });
  return DEMO_DEVICE.username;
}

const HOUR = 3_600_000;

/**
 * Demo data: 3 centers, riders, today's deliveries spread over the last hours, and one account
 * per role. Idempotent: a database that already has centers is left as it is.
 */
export async function seedDemo(db: Db, opts: SeedOptions): Promise<SeedResult> {
  const ridersPerCenter = opts.ridersPerCenter ?? 20;
  const total = opts.deliveries ?? 1500;
  const now = opts.now ?? new Date();
  if ((await db.center.count()) > 0) {
    const demoDevice = await seedDemoDevice(db, opts.password);
    return {
      centers: await db.center.count(),
      riders: await db.rider.count(),
      deliveries: await db.delivery.count(),
      shops: await db.shop.count(),
      ...(demoDevice ? { demoDevice } : {}),
      seeded: false,
    };
  }
  const rng = createRandom(20261125);
  const hashes = await Promise.all(DEMO_ACCOUNTS.map(() => hashPassword(opts.password)));

  const seeded = await db.$transaction(
    async (tx) => {
      const centers = [];
      for (const c of DEMO_CENTERS) {
        const center = await tx.center.create({ data: { ...c, chatRoom: { create: { name: `${c.name} chat` } } } });
        centers.push(center);
      }
      const first = centers[0]!;
      // Real shops per center (the first one of the first center gets the demo device).
      const shopIds = new Map<string, number>();
      for (const center of centers) {
        const shops = await tx.shop.createManyAndReturn({
          data: DEMO_SHOPS.map((name) => ({ centerId: center.id, name, address: `${rng.int(1, 400)} ${center.name.replace(' Center', '')}-ro` })),
          select: { id: true, name: true },
        });
        for (const s of shops.sort((a, b) => a.id - b.id)) shopIds.set(`${center.id}:${s.name}`, s.id);
      }
      const users = await Promise.all(
        DEMO_ACCOUNTS.map((a, i) =>
          tx.user.create({ data: { email: a.email, name: a.name, role: a.role, passwordHash: hashes[i]! } }),
        ),
      );
      for (const u of users) {
        if (u.role === 'dispatcher' || u.role === 'rider') {
          await tx.centerMembership.create({ data: { userId: u.id, centerId: first.id } });
        }
      }
      const riderUser = users.find((u) => u.role === 'rider')!;

      const riderIdsByCenter = new Map<number, number[]>();
      for (const center of centers) {
        const created = await tx.rider.createManyAndReturn({
          data: Array.from({ length: ridersPerCenter }, (_, i) => ({
            centerId: center.id,
            name: center.id === first.id && i === 0 ? riderUser.name : personName(rng),
            userId: center.id === first.id && i === 0 ? riderUser.id : null,
            status: 'idle' as const,
            lat: center.lat + (rng.next() - 0.5) * 0.03,
            lng: center.lng + (rng.next() - 0.5) * 0.04,
            lastSeenAt: now,
            modDate: now,
          })),
          select: { id: true },
        });
        riderIdsByCenter.set(center.id, created.map((r) => r.id));
      }

      // Deliveries spread over the last 10 hours: old ones finished, recent ones still moving.
      const orders = [];
      const plans: { status: DeliveryStatus; createdAt: Date; riderId: number | null; shopAddress: string; lat: number; lng: number }[] = [];
      for (let i = 0; i < total; i++) {
        const center = centers[i % centers.length]!;
        const ageMs = Math.floor(((total - i) / total) * 10 * HOUR) + rng.int(0, 60_000);
        const createdAt = new Date(now.getTime() - ageMs);
        const riders = riderIdsByCenter.get(center.id)!;
        let status: DeliveryStatus;
        if (ageMs > 0.75 * HOUR) status = rng.chance(0.04) ? 'cancelled' : 'delivered';
        else if (ageMs > 0.35 * HOUR) status = rng.pick(['picked_up', 'delivered', 'delivered'] as const);
        else if (ageMs > 0.15 * HOUR) status = rng.pick(['assigned', 'picked_up'] as const);
        else status = rng.pick(['waiting', 'waiting', 'assigned'] as const);
        const riderId = status === 'waiting' || (status === 'cancelled' && rng.chance(0.5)) ? null : rng.pick(riders);
        const o = fakeOrder(rng, center);
        const orderNo = newOrderNo(createdAt, rng);
        orders.push({
          orderNo,
          centerId: center.id,
          shopId: shopIds.get(`${center.id}:${o.shopName}`)!,
          shopName: o.shopName,
          customerName: o.customerName,
          customerPhone: o.customerPhone,
          customerAddress: o.customerAddress,
          items: o.items,
          totalWon: o.totalWon,
          status: ORDER_STATUS_BY_DELIVERY[status] ?? 'placed',
          createdAt,
          modDate: createdAt,
          ...(status === 'cancelled' ? { cancelledAt: createdAt, cancelReason: 'Customer cancelled' } : {}),
        });
        plans.push({ status, createdAt, riderId, shopAddress: o.shopAddress, lat: o.lat, lng: o.lng });
      }
      const createdOrders = await tx.order.createManyAndReturn({ data: orders, select: { id: true, orderNo: true, centerId: true, shopId: true, shopName: true, customerAddress: true } });
      // Pair rows by order number, not by position: RETURNING order is not a promise.
      const planByOrderNo = new Map(orders.map((o, i) => [o.orderNo, plans[i]!]));
      const deliveries = createdOrders.map((o) => {
        const p = planByOrderNo.get(o.orderNo)!;
        const t = (min: number) => new Date(p.createdAt.getTime() + min * 60_000);
        const assignedAt = p.riderId ? t(3) : null;
        const pickedUpAt = p.status === 'picked_up' || p.status === 'delivered' ? t(12) : null;
        const deliveredAt = p.status === 'delivered' ? t(30) : null;
        const cancelledAt = p.status === 'cancelled' ? t(5) : null;
        const modDate = [deliveredAt, cancelledAt, pickedUpAt, assignedAt, p.createdAt]
          .filter((d): d is Date => d !== null)
          .reduce((a, b) => (a > b ? a : b));
        return {
          centerId: o.centerId,
          orderId: o.id,
          orderNo: o.orderNo,
          shopId: o.shopId,
          shopName: o.shopName,
          shopAddress: p.shopAddress,
          address: o.customerAddress,
          lat: p.lat,
          lng: p.lng,
          riderId: p.riderId,
          status: p.status,
          createdAt: p.createdAt,
          assignedAt,
          pickedUpAt,
          deliveredAt,
          cancelledAt,
          modDate: modDate > now ? now : modDate,
          version: 1 + [assignedAt, pickedUpAt, deliveredAt, cancelledAt].filter(Boolean).length,
        };
      });
      const created = await tx.delivery.createManyAndReturn({ data: deliveries, select: { deliverySeq: true, orderId: true } });
      const deliveryByOrderId = new Map(deliveries.map((d) => [d.orderId, d]));
      const events = created.flatMap((d) => {
        const row = deliveryByOrderId.get(d.orderId)!;
        const ev = (type: string, status: DeliveryStatus, at: Date | null) =>
          at ? [{ deliverySeq: d.deliverySeq, type, status, riderId: row.riderId, actorLabel: 'seed', at }] : [];
        return [
          ...ev('created', 'waiting', row.createdAt),
          ...ev('assigned', 'assigned', row.assignedAt),
          ...ev('picked_up', 'picked_up', row.pickedUpAt),
          ...ev('delivered', 'delivered', row.deliveredAt),
          ...ev('cancelled', 'cancelled', row.cancelledAt),
        ];
      });
      await tx.deliveryEvent.createMany({ data: events });
      // Riders carrying an active delivery are busy.
      await tx.rider.updateMany({
        where: { deliveries: { some: { status: { in: [...CARRIED_STATUSES] } } } },
        data: { status: 'busy' },
      });
      return { centers: centers.length, riders: ridersPerCenter * centers.length, deliveries: created.length, shops: shopIds.size, seeded: true };
    },
    { timeout: 120_000, maxWait: 30_000 },
  );
  const demoDevice = await seedDemoDevice(db, opts.password);
  return { ...seeded, ...(demoDevice ? { demoDevice } : {}) };
}
