import { z } from 'zod';

/** The board lists the deliveries created in the last this-many hours (the day's window). */
export const LIST_WINDOW_HOURS = 24;

export const DELIVERY_STATUSES = ['waiting', 'assigned', 'picked_up', 'delivered', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
/** Statuses a delivery is still moving in. */
export const ACTIVE_STATUSES = ['waiting', 'assigned', 'picked_up'] as const satisfies readonly DeliveryStatus[];
/** Statuses in which a rider carries the delivery (their load). */
export const CARRIED_STATUSES = ['assigned', 'picked_up'] as const satisfies readonly DeliveryStatus[];

export const isActive = (status: DeliveryStatus): boolean => (ACTIVE_STATUSES as readonly DeliveryStatus[]).includes(status);
export const isCarried = (status: DeliveryStatus): boolean => (CARRIED_STATUSES as readonly DeliveryStatus[]).includes(status);

export const RIDER_STATUSES = ['off', 'idle', 'busy'] as const;
export type RiderStatus = (typeof RIDER_STATUSES)[number];

const isoDate = z.string().datetime({ offset: true });

/** A delivery as it travels in events, snapshots, polling answers and resyncs: the whole row. */
export const deliveryRowSchema = z.object({
  deliverySeq: z.number().int().positive(),
  centerId: z.number().int().positive(),
  orderNo: z.string(),
  shopName: z.string(),
  shopAddress: z.string(),
  address: z.string(),
  lat: z.number(),
  lng: z.number(),
  riderId: z.number().int().positive().nullable(),
  riderName: z.string().nullable(),
  status: z.enum(DELIVERY_STATUSES),
  createdAt: isoDate,
  assignedAt: isoDate.nullable(),
  pickedUpAt: isoDate.nullable(),
  deliveredAt: isoDate.nullable(),
  cancelledAt: isoDate.nullable(),
  /** Database time of the last change: display only (see merge.ts for what orders rows). */
  modDate: isoDate,
  /** Incremented by every committed change: the merge rule compares this. */
  version: z.number().int().positive(),
  /** The shop preparing the order (absent from rows of older servers). */
  shopId: z.number().int().positive().nullable().optional(),
  /** When the shop's order-receipt device acknowledged the order. */
  shopReceivedAt: isoDate.nullable().optional(),
  /** Set when the shop had a device at creation: unacknowledged past it, dispatchers are told. */
  shopAckDueAt: isoDate.nullable().optional(),
  /** Id of the database transaction that wrote this version (`pg_current_xact_id()`). */
  txid: z.number().int().nonnegative(),
});
export type DeliveryRow = z.infer<typeof deliveryRowSchema>;

export const riderRowSchema = z.object({
  id: z.number().int().positive(),
  centerId: z.number().int().positive(),
  name: z.string(),
  status: z.enum(RIDER_STATUSES),
  lat: z.number().nullable(),
  lng: z.number().nullable(),
  lastSeenAt: isoDate.nullable(),
  modDate: isoDate,
  version: z.number().int().positive(),
});
export type RiderRow = z.infer<typeof riderRowSchema>;

export const centerSchema = z.object({
  id: z.number().int().positive(),
  code: z.string(),
  name: z.string(),
  lat: z.number(),
  lng: z.number(),
});
export type Center = z.infer<typeof centerSchema>;

/** Database ids are 32-bit integers: anything larger is a bad request, not a server error. */
export const MAX_ID = 2_147_483_647;
export const idSchema = z.number().int().positive().max(MAX_ID);
export const centerIdSchema = z.coerce.number().int().positive().max(MAX_ID);

/**
 * Ask for a center's deliveries changed by transactions at or after the watermark `sinceTx` (an
 * `asOf` of an earlier answer), or all of today's when absent.
 */
export const deliverySyncRequestSchema = z.object({
  centerId: centerIdSchema,
  sinceTx: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type DeliverySyncRequest = z.infer<typeof deliverySyncRequestSchema>;

export interface DeliverySyncResponse {
  centerId: number;
  rows: DeliveryRow[];
  /**
   * The watermark this answer brings a client to: `pg_snapshot_xmin` of the database snapshot the
   * rows were read in. The next resync asks for `sinceTx: asOf` (see merge.ts).
   */
  asOf: number;
}

/** Counters per status, in catalogue order. */
export function countByStatus(rows: Iterable<Pick<DeliveryRow, 'status'>>): Record<DeliveryStatus, number> {
  const counts = { waiting: 0, assigned: 0, picked_up: 0, delivered: 0, cancelled: 0 };
  for (const r of rows) counts[r.status] += 1;
  return counts;
}

/** GET /api/settings */
export interface ClientSettings {
  lateAfterMinutes: number;
  snapshotIntervalMs: number;
  /** Seconds a shop's device has to acknowledge a new order before dispatchers are told. */
  deviceAckTimeoutSec?: number;
}

/** An active delivery created longer ago than the threshold. */
export function isLate(row: Pick<DeliveryRow, 'status' | 'createdAt'>, nowMs: number, lateAfterMinutes: number): boolean {
  return isActive(row.status) && nowMs - Date.parse(row.createdAt) > lateAfterMinutes * 60_000;
}

/** An active delivery whose shop has a device that has not acknowledged it in time. */
export function isAwaitingShopAck(row: Pick<DeliveryRow, 'status' | 'shopReceivedAt' | 'shopAckDueAt'>, nowMs: number): boolean {
  return isActive(row.status) && !row.shopReceivedAt && !!row.shopAckDueAt && nowMs > Date.parse(row.shopAckDueAt);
}

/** Distance in km between two points (haversine). */
export function distanceKm(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}
