import { z } from 'zod';
import { idSchema, type DeliveryStatus } from './deliveries';

export const ORDER_STATUSES = ['placed', 'in_delivery', 'delivered', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** The order status a delivery status moves its order to; the others leave the order as placed. */
export const ORDER_STATUS_BY_DELIVERY: Partial<Record<DeliveryStatus, OrderStatus>> = {
  picked_up: 'in_delivery',
  delivered: 'delivered',
  cancelled: 'cancelled',
};

const isoDate = z.string().datetime({ offset: true });

export const orderNoSchema = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only');

export const orderRowSchema = z.object({
  orderNo: z.string(),
  centerId: z.number().int().positive(),
  shopName: z.string(),
  customerName: z.string(),
  customerPhone: z.string().nullable(),
  customerAddress: z.string(),
  items: z.string(),
  totalWon: z.number().int(),
  status: z.enum(ORDER_STATUSES),
  cancelReason: z.string().nullable(),
  cancelledAt: isoDate.nullable(),
  createdAt: isoDate,
  /** Database time of the last change: display only. */
  modDate: isoDate,
  /** Incremented by every committed change of the order: the merge rule compares this. */
  version: z.number().int().positive(),
  deliverySeq: z.number().int().positive().nullable(),
});
export type OrderRow = z.infer<typeof orderRowSchema>;

export const cancelOrderBodySchema = z.object({
  reason: z.string().trim().min(1).max(200).default('Cancelled by customer'),
});

/** Body of POST /api/orders: a new order and its delivery at a center. */
export const newOrderBodySchema = z.object({
  centerId: idSchema,
  orderNo: orderNoSchema.optional(),
  shopName: z.string().trim().min(1).max(100),
  shopAddress: z.string().trim().min(1).max(200),
  customerName: z.string().trim().min(1).max(100),
  customerPhone: z.string().trim().regex(/^[0-9+() -]{4,30}$/, 'digits, spaces, + ( ) - only').optional(),
  customerAddress: z.string().trim().min(1).max(200),
  items: z.string().trim().min(1).max(500),
  totalWon: z.number().int().min(0).max(100_000_000),
  lat: z.number().min(-90).max(90),
  lng: z.number().min(-180).max(180),
});
export type NewOrderBody = z.infer<typeof newOrderBodySchema>;
