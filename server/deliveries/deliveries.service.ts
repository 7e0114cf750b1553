import {
  CARRIED_STATUSES,
  LIST_WINDOW_HOURS,
  ORDER_STATUS_BY_DELIVERY,
  type DeliveryRow,
  DeliveryStatus,
  DeliverySyncResponse,
  DeliveryTimelineEntry,
  OrderRow,
  RiderRow,
  SessionUser,
  watermarkOf,
} from '../../protocol';
import { policy, requireAllowed, requireVisible, type ApiKeyPrincipal } from '../auth/policy';
import { createReadBatcher } from '../db/read-batcher';
import type { Db } from '../db/database';
import { Prisma } from '../db/generated/client';
import { AppError } from '../errors';
import { toRiderRow } from '../riders/riders.mapper';
import { toDeliveryRow, toOrderRow } from './deliveries.mapper';
import { deliveriesRepository as repo, type Tx } from './deliveries.repository';

/**
 * Who is acting: a signed-in user, a back-end service with an API key (judged by its scopes), or
 * the server itself (simulator, tests' fixtures) with neither.
 */
export interface Actor {
  user?: SessionUser;
  apiKey?: ApiKeyPrincipal;
  label: string;
}

export function actorOf(user: SessionUser): Actor {
  return { user, label: `${user.role}:${user.email}` };
}

export function actorOfKey(apiKey: ApiKeyPrincipal): Actor {
  return { apiKey, label: `apikey:${apiKey.prefix}` };
}

/** Stored with an idempotency record: the command it answered, and the answer. */
interface IdempotentAnswer {
  fingerprint: string;
  row: DeliveryRow;
}

/** Who must hear about a delivery change besides its center. */
export interface DeliveryAudience {
  /** Users of the riders involved (the new one and, on a reassign, the previous one). */
  riderUserIds: number[];
}

/** Told about every committed change; the realtime layer routes it to rooms. */
export interface ChangeNotifier {
  deliveryChanged(row: DeliveryRow, audience: DeliveryAudience): void;
  riderChanged(row: RiderRow): void;
  orderCancelled(order: OrderRow): void;
}

export interface DeliveriesServiceDeps {
  db: Db;
  notifier: ChangeNotifier;
  now?: () => Date;
  /** How far back finished deliveries stay on a center's list. */
  listWindowHours?: number;
  /** Seconds a shop's device has to acknowledge a new order (DEVICE_ACK_TIMEOUT_SEC). */
  deviceAckTimeoutSec?: number;
}

export interface NewDelivery {
  centerId: number;
  orderNo: string;
  /** The shop by id (must belong to the center); without it the shop is found or created by name. */
  shopId?: number | undefined;
  shopName: string;
  shopAddress: string;
  customerName: string;
  customerPhone?: string | undefined;
  customerAddress: string;
  items: string;
  totalWon: number;
  lat: number;
  lng: number;
}

export interface CommandOptions {
  expectedVersion?: number | undefined;
  idempotencyKey?: string | undefined;
}

type Transition = {
  status: DeliveryStatus;
  eventType: string;
  data: Prisma.DeliveryUncheckedUpdateManyInput;
  riderId: number | null;
  note?: string;
};


/**
 * Least time between the starts of two reads of one center's changes (or full list) on one node.
 * A reconnect storm brings clients back a few at a time, and each read served about two of them
 * (15,000 clients back on three workers: about 350 reads a second, each a query through Prisma
 * and PostgreSQL on the core the handshakes need). A resync on a quiet node is read at once.
 */
const RESYNC_READ_SPACING_MS = 100;

const isUniqueViolation = (err: unknown) => err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';

export function createDeliveriesService(deps: DeliveriesServiceDeps) {
  const { db, notifier } = deps;
  const now = deps.now ?? (() => new Date());
  const windowMs = (deps.listWindowHours ?? LIST_WINDOW_HOURS) * 3_600_000;
  const ackTimeoutMs = (deps.deviceAckTimeoutSec ?? 60) * 1000;

  /** The order's shop: by id within the center, else by name (created on first use). */
  async function resolveShop(tx: Tx, input: NewDelivery): Promise<{ id: number; name: string; hasDevice: boolean }> {
    const hasDevice = { devices: { where: { revokedAt: null }, select: { id: true }, take: 1 } } as const;
    if (input.shopId !== undefined) {
      const shop = await tx.shop.findUnique({ where: { id: input.shopId }, include: hasDevice });
      if (!shop || shop.centerId !== input.centerId) throw new AppError('bad_request', `Shop ${input.shopId} is not a shop of center ${input.centerId}`);
      return { id: shop.id, name: shop.name, hasDevice: shop.devices.length > 0 };
    }
    const shop = await tx.shop.upsert({
      where: { centerId_name: { centerId: input.centerId, name: input.shopName } },
      create: { centerId: input.centerId, name: input.shopName, address: input.shopAddress },
      update: {},
      include: hasDevice,
    });
    return { id: shop.id, name: shop.name, hasDevice: shop.devices.length > 0 };
  }

  /** Recompute a rider's status from their active deliveries; returns the row if it changed. */
  async function refreshRider(tx: Tx, riderId: number): Promise<RiderRow | null> {
    const rider = await tx.rider.findUnique({ where: { id: riderId } });
    if (!rider || rider.status === 'off') return null;
    const active = await tx.delivery.count({ where: { riderId, status: { in: [...CARRIED_STATUSES] } } });
    const status = active > 0 ? 'busy' : 'idle';
    if (status === rider.status) return null;
    const updated = await tx.rider.update({ where: { id: riderId }, data: { status, version: { increment: 1 } } });
    return toRiderRow(updated);
  }

  type Outcome = { row: DeliveryRow; riders: RiderRow[]; riderUserIds: number[]; order: OrderRow | null; replay: boolean };

  /**
   * Apply one status change in one transaction: check who may act on the current row, then its
   * version, then the transition rule; update it if its version is still the one read, write
   * the timeline event (and the idempotency record), and notify after commit. A retry with a used
   * idempotency key returns the first answer and changes nothing.
   */
  async function transition(
    deliverySeq: number,
    actor: Actor,
    opts: CommandOptions,
    /** The command and its parameters: an idempotency key answers only the command it was made for. */
    command: { name: string; params?: Record<string, unknown> },
    allowed: { user: (u: SessionUser, current: DeliveryRow) => boolean; apiKey?: (k: ApiKeyPrincipal) => boolean },
    decide: (current: DeliveryRow, tx: Tx) => Promise<Transition> | Transition,
  ): Promise<DeliveryRow> {
    const scope = `delivery:${actor.user ? `user:${actor.user.id}` : actor.label}`;
    const key = opts.idempotencyKey;
    const fingerprint = JSON.stringify([command.name, deliverySeq, command.params ?? {}]);
    const replayOf = async (tx: Tx): Promise<Outcome | null> => {
      if (!key) return null;
      const prior = await tx.idempotencyRecord.findUnique({ where: { scope_key: { scope, key } } });
      if (!prior) return null;
      const answer = prior.response as unknown as IdempotentAnswer;
      if (answer.fingerprint !== fingerprint) {
        throw new AppError('conflict', 'This idempotency key was used for a different command');
      }
      return { row: answer.row, riders: [], riderUserIds: [], order: null, replay: true };
    };
    const run = () =>
      db.$transaction(async (tx): Promise<Outcome> => {
        const replay = await replayOf(tx);
        if (replay) return replay;
        const current = await repo.findBySeq(tx, deliverySeq);
        // Missing and not visible get the same answer: a refusal reveals nothing.
        if (!current || (actor.user && !policy.seeDelivery(actor.user, current))) throw new AppError('not_found', `Delivery ${deliverySeq} not found`);
        const currentRow = toDeliveryRow(current);
        if (actor.user) requireAllowed(allowed.user(actor.user, currentRow), 'You may not change this delivery');
        if (actor.apiKey) requireAllowed(allowed.apiKey?.(actor.apiKey) ?? false, 'This API key may not change this delivery');
        if (opts.expectedVersion !== undefined && opts.expectedVersion !== current.version) {
          throw new AppError('conflict', 'The delivery changed since you loaded it', { current: currentRow });
        }
        const t = await decide(currentRow, tx);
        const at = now();
        const won = await repo.updateIfVersion(tx, deliverySeq, current.version, t.data);
        if (!won) {
          // A concurrent retry of this very command may have won: answer as it did.
          const raced = await replayOf(tx);
          if (raced) return raced;
          const latest = await repo.findBySeq(tx, deliverySeq);
          throw new AppError('conflict', 'The delivery changed since you loaded it', { current: latest ? toDeliveryRow(latest) : currentRow });
        }
        await repo.addEvent(tx, {
          deliverySeq,
          type: t.eventType,
          status: t.status,
          riderId: t.riderId,
          actorUserId: actor.user?.id ?? null,
          actorLabel: actor.label,
          note: t.note ?? null,
          at,
        });
        const orderStatus = ORDER_STATUS_BY_DELIVERY[t.status];
        let order: OrderRow | null = null;
        if (orderStatus) {
          const o = await tx.order.update({
            where: { id: current.orderId },
            data: { status: orderStatus, version: { increment: 1 }, ...(orderStatus === 'cancelled' ? { cancelledAt: at, cancelReason: t.note ?? null } : {}) },
            include: { delivery: { select: { deliverySeq: true } } },
          });
          if (orderStatus === 'cancelled') order = toOrderRow(o);
        }
        const riders: RiderRow[] = [];
        for (const rid of new Set([current.riderId, t.riderId])) {
          if (rid === null) continue;
          const r = await refreshRider(tx, rid);
          if (r) riders.push(r);
        }
        const updated = (await repo.findBySeq(tx, deliverySeq))!;
        const row = toDeliveryRow(updated);
        if (key) {
          const answer: IdempotentAnswer = { fingerprint, row };
          await tx.idempotencyRecord.create({ data: { scope, key, statusCode: 200, response: answer as unknown as Prisma.InputJsonValue } });
        }
        const riderUserIds = [current.rider?.userId, updated.rider?.userId].filter((id): id is number => typeof id === 'number');
        return { row, riders, riderUserIds: [...new Set(riderUserIds)], order, replay: false };
      });

    let outcome: Outcome;
    try {
      outcome = await run();
    } catch (err) {
      // Two retries of one command raced to record the key: the loser replays the winner.
      if (key && isUniqueViolation(err)) outcome = await run();
      else throw err;
    }
    if (!outcome.replay) {
      notifier.deliveryChanged(outcome.row, { riderUserIds: outcome.riderUserIds });
      for (const r of outcome.riders) notifier.riderChanged(r);
      if (outcome.order) notifier.orderCancelled(outcome.order);
    }
    return outcome.row;
  }

  const mayDispatch = { user: (u: SessionUser, cur: DeliveryRow) => policy.dispatch(u, cur.centerId) };
  const mayRiderAction = { user: policy.riderAction };
  const mayCancel = {
    user: (u: SessionUser, cur: DeliveryRow) => policy.cancel(u, cur.centerId),
    apiKey: (k: ApiKeyPrincipal) => policy.hasScope(k, 'orders:cancel'),
  };

  // Identical reads at the same moment share one database read (a reconnect storm is thousands
  // of clients resyncing the same few centers). Each answer is still read after its request came.
  // Reads of one center start at least RESYNC_READ_SPACING_MS apart, so that the clients of a
  // storm, who come back a few at a time, are gathered into fewer reads.
  const fullLists = createReadBatcher({
    minIntervalMs: RESYNC_READ_SPACING_MS,
    key: (centerId: number) => String(centerId),
    run: async ([centerId]): Promise<DeliverySyncResponse> => {
      const { rows, asOf } = await repo.listForCenterAsOf(db, centerId!, windowMs);
      return { centerId: centerId!, rows: rows.map(toDeliveryRow), asOf: watermarkOf(asOf) };
    },
    pick: (batch) => batch,
  });
  // Watermarks differ from client to client: one read from the oldest, and each client gets the
  // rows at or after its own watermark, which is exactly what its own read would have returned.
  const changes = createReadBatcher({
    minIntervalMs: RESYNC_READ_SPACING_MS,
    key: (req: { centerId: number; sinceTx: number }) => String(req.centerId),
    run: async (reqs): Promise<DeliverySyncResponse> => {
      const centerId = reqs[0]!.centerId;
      const { rows, asOf } = await repo.changedSinceAsOf(db, centerId, Math.min(...reqs.map((r) => r.sinceTx)));
      return { centerId, rows: rows.map(toDeliveryRow), asOf: watermarkOf(asOf) };
    },
    pick: (batch, req): DeliverySyncResponse =>
      batch.rows.length === 0 ? batch : { ...batch, rows: batch.rows.filter((r) => r.txid >= req.sinceTx) },
  });

  return {
    /**
     * Today's list for a center (active + finished within the window), with the watermark it
     * brings a client to. The window is measured on the database clock.
     */
    listForCenter(centerId: number): Promise<DeliverySyncResponse> {
      return fullLists.read(centerId);
    },

    /** Rows changed by transactions at or after a client's watermark (cancellations included). */
    changedSince(centerId: number, sinceTx: number): Promise<DeliverySyncResponse> {
      return changes.read({ centerId, sinceTx });
    },

    /** A rider's deliveries: active ones plus those finished within the window. */
    async listForRider(riderId: number): Promise<DeliveryRow[]> {
      const rows = await repo.listForRider(db, riderId, new Date(now().getTime() - windowMs));
      return rows.map(toDeliveryRow);
    },

    async get(deliverySeq: number): Promise<DeliveryRow> {
      const d = await repo.findBySeq(db, deliverySeq);
      if (!d) throw new AppError('not_found', `Delivery ${deliverySeq} not found`);
      return toDeliveryRow(d);
    },

    /** Rows by number within one center (the snapshot repair fetch). */
    async getMany(centerId: number, seqs: number[]): Promise<DeliveryRow[]> {
      const rows = await repo.findMany(db, centerId, seqs);
      return rows.map(toDeliveryRow);
    },

    async timeline(deliverySeq: number): Promise<DeliveryTimelineEntry[]> {
      const events = await db.deliveryEvent.findMany({ where: { deliverySeq }, orderBy: { id: 'asc' } });
      return events.map((e) => ({ id: e.id, type: e.type, status: e.status, riderId: e.riderId, actorLabel: e.actorLabel, note: e.note, at: e.at.toISOString() }));
    },

    /** A new order and its waiting delivery, in one transaction. */
    async create(input: NewDelivery, actor: Actor): Promise<DeliveryRow> {
      if (actor.user) requireVisible(policy.seeCenter(actor.user, input.centerId), `Center ${input.centerId}`);
      if (actor.user || actor.apiKey) {
        requireAllowed(policy.createOrder(actor.user ? { user: actor.user } : { apiKey: actor.apiKey! }, input.centerId), 'You may not create orders here');
      }
      const row = await db.$transaction(async (tx) => {
        if (!(await tx.center.findUnique({ where: { id: input.centerId }, select: { id: true } }))) {
          throw new AppError('not_found', `Center ${input.centerId} not found`);
        }
        const at = now();
        const shop = await resolveShop(tx, input);
        const order = await tx.order.create({
          data: {
            orderNo: input.orderNo,
            centerId: input.centerId,
            shopId: shop.id,
            shopName: shop.name,
            customerName: input.customerName,
            customerPhone: input.customerPhone ?? null,
            customerAddress: input.customerAddress,
            items: input.items,
            totalWon: input.totalWon,
            createdAt: at,
          },
        });
        const d = await repo.create(tx, {
          centerId: input.centerId,
          orderId: order.id,
          orderNo: input.orderNo,
          shopId: shop.id,
          shopName: shop.name,
          shopAckDueAt: shop.hasDevice ? new Date(at.getTime() + ackTimeoutMs) : null,
          shopAddress: input.shopAddress,
          address: input.customerAddress,
          lat: input.lat,
          lng: input.lng,
          createdAt: at,
        });
        await repo.addEvent(tx, { deliverySeq: d.deliverySeq, type: 'created', status: 'waiting', actorUserId: actor.user?.id ?? null, actorLabel: actor.label, at });
        return toDeliveryRow(d);
      }).catch((err: unknown) => {
        if (isUniqueViolation(err)) throw new AppError('conflict', `Order ${input.orderNo} already exists`);
        throw err;
      });
      notifier.deliveryChanged(row, { riderUserIds: [] });
      return row;
    },

    assign(deliverySeq: number, riderId: number, actor: Actor, opts: CommandOptions = {}): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, opts, { name: 'assign', params: { riderId } }, mayDispatch, async (cur, tx) => {
        const rider = await tx.rider.findUnique({ where: { id: riderId } });
        if (!rider || rider.centerId !== cur.centerId) throw new AppError('bad_request', `Rider ${riderId} does not work for this center`);
        if (rider.status === 'off') throw new AppError('invalid_transition', `${rider.name} is off duty`);
        if (cur.status !== 'waiting' && cur.status !== 'assigned') {
          throw new AppError('invalid_transition', `Cannot assign a delivery that is ${cur.status}`, { current: cur });
        }
        if (cur.riderId === riderId) throw new AppError('invalid_transition', 'The delivery is already assigned to that rider', { current: cur });
        return {
          status: 'assigned',
          eventType: cur.status === 'assigned' ? 'reassigned' : 'assigned',
          data: { status: 'assigned', riderId, assignedAt: now() },
          riderId,
        };
      });
    },

    pickUp(deliverySeq: number, actor: Actor, opts: CommandOptions = {}): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, opts, { name: 'pick_up' }, mayRiderAction, (cur) => {
        if (cur.status !== 'assigned') throw new AppError('invalid_transition', `Cannot pick up a delivery that is ${cur.status}`, { current: cur });
        return { status: 'picked_up', eventType: 'picked_up', data: { status: 'picked_up', pickedUpAt: now() }, riderId: cur.riderId };
      });
    },

    deliver(deliverySeq: number, actor: Actor, opts: CommandOptions = {}): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, opts, { name: 'deliver' }, mayRiderAction, (cur) => {
        if (cur.status !== 'picked_up') throw new AppError('invalid_transition', `Cannot deliver a delivery that is ${cur.status}`, { current: cur });
        return { status: 'delivered', eventType: 'delivered', data: { status: 'delivered', deliveredAt: now() }, riderId: cur.riderId };
      });
    },

    cancel(deliverySeq: number, reason: string, actor: Actor, opts: CommandOptions = {}): Promise<DeliveryRow> {
      return transition(deliverySeq, actor, opts, { name: 'cancel', params: { reason } }, mayCancel, (cur) => {
        if (cur.status === 'delivered' || cur.status === 'cancelled') {
          throw new AppError('invalid_transition', `Cannot cancel a delivery that is ${cur.status}`, { current: cur });
        }
        return { status: 'cancelled', eventType: 'cancelled', data: { status: 'cancelled', cancelledAt: now() }, riderId: cur.riderId, note: reason };
      });
    },

    /**
     * A device of the order's shop acknowledged it: the first acknowledgement stamps the delivery
     * (new version), adds "received by the shop's device" to its timeline and notifies after
     * commit; later ones change nothing and return null. An order of another shop is not_found.
     */
    async shopReceived(orderNo: string, shopId: number, deviceLabel: string): Promise<DeliveryRow | null> {
      for (let attempt = 0; attempt < 3; attempt++) {
        const outcome = await db.$transaction(async (tx): Promise<DeliveryRow | null | 'raced'> => {
          const current = await tx.delivery.findFirst({ where: { orderNo }, include: { rider: { select: { name: true, userId: true } } } });
          if (!current || current.shopId !== shopId) throw new AppError('not_found', `Order ${orderNo} is not an order of shop ${shopId}`);
          if (current.shopReceivedAt) return null;
          const at = now();
          if (!(await repo.updateIfVersion(tx, current.deliverySeq, current.version, { shopReceivedAt: at }))) return 'raced';
          await repo.addEvent(tx, {
            deliverySeq: current.deliverySeq,
            type: 'shop_received',
            status: current.status,
            riderId: current.riderId,
            actorUserId: null,
            actorLabel: deviceLabel,
            note: "received by the shop's device",
            at,
          });
          return toDeliveryRow((await repo.findBySeq(tx, current.deliverySeq))!);
        });
        if (outcome === 'raced') continue;
        if (outcome) notifier.deliveryChanged(outcome, { riderUserIds: [] });
        return outcome;
      }
      throw new AppError('conflict', `Order ${orderNo} kept changing; acknowledge again`);
    },

    /** Cancel by order number (the consumer app's cancel flow). */
    async cancelOrder(orderNo: string, reason: string, actor: Actor, opts: CommandOptions = {}): Promise<DeliveryRow> {
      const d = await db.delivery.findFirst({ where: { orderNo }, select: { deliverySeq: true } });
      if (!d) throw new AppError('not_found', `Order ${orderNo} not found`);
      return this.cancel(d.deliverySeq, reason, actor, opts);
    },
  };
}

export type DeliveriesService = ReturnType<typeof createDeliveriesService>;
