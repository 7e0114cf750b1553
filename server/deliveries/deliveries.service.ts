import type { DeliveryRow, DeliveryStatus, DeliverySyncResponse, RiderRow } from '../../protocol';
import type { Db } from '../db/database';
import type { Prisma } from '../db/generated/client';
import { AppError } from '../errors';
import { toDeliveryRow } from './deliveries.mapper';
import { deliveriesRepository as repo, type Tx } from './deliveries.repository';
import { toRiderRow } from '../riders/riders.mapper';

/** Who is acting: a signed-in user, a back-end service or the simulator. */
export interface Actor {
  userId?: number;
  label: string;
}

/** Told about every committed change; the realtime layer routes it to rooms. */
export interface ChangeNotifier {
  deliveryChanged(row: DeliveryRow): void;
  riderChanged(row: RiderRow): void;
}

export interface DeliveriesServiceDeps {
  db: Db;
  notifier: ChangeNotifier;
  now?: () => Date;
  /** How far back finished deliveries stay on a center's list. */
  listWindowHours?: number;
}

export interface NewDelivery {
  centerId: number;
  orderNo: string;
  shopName: string;
  shopAddress: string;
  customerName: string;
  customerAddress: string;
  items: string;
  totalWon: number;
  lat: number;
  lng: number;
}

/**
 * Readers of a watermark get rows changed at or after (since - margin): a transaction that
 * committed late with an earlier modDate is still picked up, and the merge rule drops repeats.
 */
export const RESYNC_MARGIN_MS = 5_000;

type Transition = {
  status: DeliveryStatus;
  eventType: string;
  data: Prisma.DeliveryUncheckedUpdateManyInput;
  riderId: number | null;
  note?: string;
};

export function createDeliveriesService(deps: DeliveriesServiceDeps) {
  const { db, notifier } = deps;
  const now = deps.now ?? (() => new Date());
  const windowMs = (deps.listWindowHours ?? 24) * 3_600_000;

  /** Recompute a rider's status from their active deliveries; returns the row if it changed. */
  async function refreshRider(tx: Tx, riderId: number, at: Date): Promise<RiderRow | null> {
    const rider = await tx.rider.findUnique({ where: { id: riderId } });
    if (!rider || rider.status === 'off') return null;
    const active = await tx.delivery.count({ where: { riderId, status: { in: ['assigned', 'picked_up'] } } });
    const status = active > 0 ? 'busy' : 'idle';
    if (status === rider.status) return null;
    const updated = await tx.rider.update({
      where: { id: riderId },
      data: { status, modDate: at, version: { increment: 1 } },
    });
    return toRiderRow(updated);
  }

  /**
   * Apply one status change in one transaction: check the rule against the current row, update
   * it if its version is unchanged, write the timeline event, then notify after commit.
   */
  async function transition(
    deliverySeq: number,
    actor: Actor,
    expectedVersion: number | undefined,
    decide: (current: DeliveryRow) => Transition,
  ): Promise<DeliveryRow> {
    const result = await db.$transaction(async (tx) => {
      const current = await repo.findBySeq(tx, deliverySeq);
      if (!current) throw new AppError('not_found', `Delivery ${deliverySeq} not found`);
      const currentRow = toDeliveryRow(current);
      if (expectedVersion !== undefined && expectedVersion !== current.version) {
        throw new AppError('conflict', 'The delivery changed since you loaded it', { current: currentRow });
      }
      const t = decide(currentRow);
      const at = now();
      const won = await repo.updateIfVersion(tx, deliverySeq, current.version, t.data, at);
      if (!won) {
        const latest = await repo.findBySeq(tx, deliverySeq);
        throw new AppError('conflict', 'The delivery changed since you loaded it', {
          current: latest ? toDeliveryRow(latest) : currentRow,
        });
      }
      await repo.addEvent(tx, {
        deliverySeq,
        type: t.eventType,
        status: t.status,
        riderId: t.riderId,
        actorUserId: actor.userId ?? null,
        actorLabel: actor.label,
        note: t.note ?? null,
        at,
      });
      const orderStatus =
        t.status === 'cancelled' ? 'cancelled' : t.status === 'delivered' ? 'delivered' : t.status === 'picked_up' ? 'in_delivery' : null;
      if (orderStatus) {
        await tx.order.update({
          where: { id: current.orderId },
          data: {
            status: orderStatus,
            modDate: at,
            ...(orderStatus === 'cancelled' ? { cancelledAt: at, cancelReason: t.note ?? null } : {}),
          },
        });
      }
      const riders: RiderRow[] = [];
      for (const rid of new Set([current.riderId, t.riderId])) {
        if (rid === null) continue;
        const r = await refreshRider(tx, rid, at);
        if (r) riders.push(r);
      }
      const updated = await repo.findBySeq(tx, deliverySeq);
      return { row: toDeliveryRow(updated!), riders };
    });
    notifier.deliveryChanged(result.row);
    for (const r of result.riders) notifier.riderChanged(r);
    return result.row;
  }

  const activeForRider = new Set<DeliveryStatus>(['assigned', 'picked_up']);

  return {
    /** Today's list for a center (active + finished within the window). */
    async listForCenter(centerId: number): Promise<DeliverySyncResponse> {
      const serverTime = now();
      const rows = await repo.listForCenter(db, centerId, new Date(serverTime.getTime() - windowMs));
      return { centerId, rows: rows.map(toDeliveryRow), serverTime: serverTime.toISOString() };
    },

    /** Rows changed since a client's watermark (cancellations included). */
    async changedSince(centerId: number, since: string): Promise<DeliverySyncResponse> {
      const serverTime = now();
      const from = new Date(Date.parse(since) - RESYNC_MARGIN_MS);
      const rows = await repo.changedSince(db, centerId, from);
      return { centerId, rows: rows.map(toDeliveryRow), serverTime: serverTime.toISOString() };
    },

    async get(deliverySeq: number): Promise<DeliveryRow> {
      const d = await repo.findBySeq(db, deliverySeq);
      if (!d) throw new AppError('not_found', `Delivery ${deliverySeq} not found`);
      return toDeliveryRow(d);
    },

    /** A new order and its waiting delivery, in one transaction. */
    async create(input: NewDelivery, actor: Actor): Promise<DeliveryRow> {
      const row = await db.$transaction(async (tx) => {
        const at = now();
        const order = await tx.order.create({
          data: {
            orderNo: input.orderNo,
            centerId: input.centerId,
            shopName: input.shopName,
            customerName: input.customerName,
            customerAddress: input.customerAddress,
            items: input.items,
            totalWon: input.totalWon,
            createdAt: at,
            modDate: at,
          },
        });
        const d = await repo.create(tx, {
          centerId: input.centerId,
          orderId: order.id,
          orderNo: input.orderNo,
          shopName: input.shopName,
          shopAddress: input.shopAddress,
          address: input.customerAddress,
          lat: input.lat,
          lng: input.lng,
          createdAt: at,
          modDate: at,
        });
        await repo.addEvent(tx, {
          deliverySeq: d.deliverySeq,
          type: 'created',
          status: 'waiting',
          actorUserId: actor.userId ?? null,
          actorLabel: actor.label,
          at,
        });
        return toDeliveryRow(d);
      });
      notifier.deliveryChanged(row);
      return row;
    },

    assign(deliverySeq: number, riderId: number, actor: Actor, expectedVersion?: number): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, expectedVersion, (cur) => {
        if (cur.status !== 'waiting' && cur.status !== 'assigned') {
          throw new AppError('invalid_transition', `Cannot assign a delivery that is ${cur.status}`, { current: cur });
        }
        if (cur.riderId === riderId) {
          throw new AppError('invalid_transition', 'The delivery is already assigned to that rider', { current: cur });
        }
        return {
          status: 'assigned',
          eventType: cur.status === 'assigned' ? 'reassigned' : 'assigned',
          data: { status: 'assigned', riderId, assignedAt: now() },
          riderId,
        };
      });
    },

    pickUp(deliverySeq: number, actor: Actor, expectedVersion?: number): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, expectedVersion, (cur) => {
        if (cur.status !== 'assigned') {
          throw new AppError('invalid_transition', `Cannot pick up a delivery that is ${cur.status}`, { current: cur });
        }
        return { status: 'picked_up', eventType: 'picked_up', data: { status: 'picked_up', pickedUpAt: now() }, riderId: cur.riderId };
      });
    },

    deliver(deliverySeq: number, actor: Actor, expectedVersion?: number): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, expectedVersion, (cur) => {
        if (cur.status !== 'picked_up') {
          throw new AppError('invalid_transition', `Cannot deliver a delivery that is ${cur.status}`, { current: cur });
        }
        return { status: 'delivered', eventType: 'delivered', data: { status: 'delivered', deliveredAt: now() }, riderId: cur.riderId };
      });
    },

    cancel(deliverySeq: number, reason: string, actor: Actor, expectedVersion?: number): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, expectedVersion, (cur) => {
        if (cur.status === 'delivered' || cur.status === 'cancelled') {
          throw new AppError('invalid_transition', `Cannot cancel a delivery that is ${cur.status}`, { current: cur });
        }
        return {
          status: 'cancelled',
          eventType: 'cancelled',
          data: { status: 'cancelled', cancelledAt: now() },
          riderId: activeForRider.has(cur.status) ? cur.riderId : null,
          note: reason,
        };
      });
    },
  };
}

export type DeliveriesService = ReturnType<typeof createDeliveriesService>;
