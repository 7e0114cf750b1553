import { z } from 'zod';
import { DELIVERY_STATUSES, idSchema, isActive, type DeliveryRow } from './deliveries';
import { isNewer } from './merge';
import { orderNoSchema } from './orders';

/**
 * The MQTT channel for shops' order-receipt devices: topics, payloads and delivery semantics,
 * written once for the server, the devices' reference client, the tests and the benchmark.
 *
 * Topics (all under MQTT_TOPIC_ROOT, versioned by its `v1`):
 *   dd/v1/shops/<shopId>/orders/<orderNo>            server -> devices   QoS 1, retained while the order is open
 *   dd/v1/shops/<shopId>/devices/<username>/status    device -> server    QoS 1, heartbeat and last will
 *   dd/v1/shops/<shopId>/devices/<username>/ack       device -> server    QoS 1, "this order reached the shop"
 *
 * A device subscribes to `dd/v1/shops/<shopId>/orders/+` (or `.../orders/#`); it may read nothing
 * else and write only its own status and ack topics.
 */
export const MQTT_PROTOCOL_VERSION = 1;
export const MQTT_TOPIC_ROOT = `dd/v${MQTT_PROTOCOL_VERSION}`;
/** Every message of this channel is sent at least once. */
export const MQTT_QOS = 1 as const;
/** A device publishes `online` this often; missing 2.5 heartbeats counts as offline. */
export const DEVICE_HEARTBEAT_SEC = 30;
export const DEVICE_OFFLINE_AFTER_SEC = Math.ceil(DEVICE_HEARTBEAT_SEC * 2.5);

/** Device usernames: what a topic level may safely hold. */
export const deviceUsernameSchema = z.string().min(3).max(64).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only');

/** Topic names and filters are built here and nowhere else. */
export const mqttTopics = {
  shopOrder: (shopId: number, orderNo: string) => `${MQTT_TOPIC_ROOT}/shops/${shopId}/orders/${orderNo}`,
  /** What a device subscribes to: every order of its shop. */
  shopOrders: (shopId: number) => `${MQTT_TOPIC_ROOT}/shops/${shopId}/orders/+`,
  deviceStatus: (shopId: number, username: string) => `${MQTT_TOPIC_ROOT}/shops/${shopId}/devices/${username}/status`,
  deviceAck: (shopId: number, username: string) => `${MQTT_TOPIC_ROOT}/shops/${shopId}/devices/${username}/ack`,
  /** What the server subscribes to (every device's status and acks). */
  allDeviceStatus: () => `${MQTT_TOPIC_ROOT}/shops/+/devices/+/status`,
  allDeviceAcks: () => `${MQTT_TOPIC_ROOT}/shops/+/devices/+/ack`,
} as const;

const TOPIC_RE = new RegExp(`^${MQTT_TOPIC_ROOT}/shops/([1-9]\\d{0,9})/(?:orders/([A-Za-z0-9_-]{1,64})|devices/([A-Za-z0-9_-]{3,64})/(status|ack))$`);

export type ParsedTopic =
  | { kind: 'order'; shopId: number; orderNo: string }
  | { kind: 'status' | 'ack'; shopId: number; username: string };

/** The inverse of `mqttTopics` for concrete topic names; null for anything outside the channel. */
export function parseMqttTopic(topic: string): ParsedTopic | null {
  const m = TOPIC_RE.exec(topic);
  if (!m) return null;
  const shopId = Number(m[1]);
  if (m[2] !== undefined) return { kind: 'order', shopId, orderNo: m[2] };
  return { kind: m[4] as 'status' | 'ack', shopId, username: m[3]! };
}

const isoDate = z.string().datetime({ offset: true });

export const SHOP_ORDER_EVENTS = ['order.created', 'order.status', 'order.cancelled'] as const;
export type ShopOrderEvent = (typeof SHOP_ORDER_EVENTS)[number];

/**
 * What a shop's order topic carries, and what each item of the polling answer is. The message
 * carries the order number, not the order: a device fetches details from the API if it needs them.
 * `modDate` + `version` are the row's merge key: a device keeps a message only when
 * `isNewerShopOrder(incoming, held)` (the same rule as the dispatcher's browser), so duplicates
 * (QoS 1 is at-least-once), retained replays and reordered messages are harmless.
 */
export const shopOrderMessageSchema = z.object({
  v: z.literal(MQTT_PROTOCOL_VERSION),
  event: z.enum(SHOP_ORDER_EVENTS),
  shopId: idSchema,
  orderNo: z.string(),
  deliverySeq: idSchema,
  status: z.enum(DELIVERY_STATUSES),
  /** When a device of the shop first acknowledged it (null until then). */
  receivedAt: isoDate.nullable(),
  modDate: isoDate,
  version: z.number().int().positive(),
});
export type ShopOrderMessage = z.infer<typeof shopOrderMessageSchema>;

/** The message a committed delivery row becomes on its shop's topic (null for a row without a shop). */
export function toShopOrderMessage(row: DeliveryRow): ShopOrderMessage | null {
  if (row.shopId === null || row.shopId === undefined) return null;
  const event: ShopOrderEvent = row.status === 'cancelled' ? 'order.cancelled' : row.status === 'waiting' && row.version === 1 ? 'order.created' : 'order.status';
  return {
    v: MQTT_PROTOCOL_VERSION,
    event,
    shopId: row.shopId,
    orderNo: row.orderNo,
    deliverySeq: row.deliverySeq,
    status: row.status,
    receivedAt: row.shopReceivedAt ?? null,
    modDate: row.modDate,
    version: row.version,
  };
}

/** Open orders keep their last state retained on the broker; closed ones are cleared. */
export const isRetainedState = (msg: Pick<ShopOrderMessage, 'status'>): boolean => isActive(msg.status);

/** The merge rule devices apply: the shared one from protocol/merge.ts. */
export const isNewerShopOrder = (incoming: ShopOrderMessage, held: ShopOrderMessage | undefined): boolean => isNewer(incoming, held);

/** device -> server on its ack topic: "this order (at this version) is in the shop". */
export const deviceAckSchema = z.object({
  v: z.literal(MQTT_PROTOCOL_VERSION).default(MQTT_PROTOCOL_VERSION),
  orderNo: orderNoSchema,
  version: z.number().int().positive().optional(),
});
export type DeviceAck = z.infer<typeof deviceAckSchema>;

/** device -> server on its status topic: heartbeat (`online`) and last will (`offline`). */
export const deviceStatusSchema = z.object({
  v: z.literal(MQTT_PROTOCOL_VERSION).default(MQTT_PROTOCOL_VERSION),
  state: z.enum(['online', 'offline']),
});
export type DeviceStatusMessage = z.infer<typeof deviceStatusSchema>;

/**
 * GET /api/shops/:id/orders?since=<asOf> (device credentials): what the topic would have carried.
 * `since` is the `asOf` of the previous answer: a database watermark (see protocol/merge.ts), so
 * no change is missed whatever the clocks say.
 */
export const shopOrdersQuerySchema = z.object({ since: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional() });
export interface ShopOrdersResponse {
  shopId: number;
  /**
   * Without `since`: every open order (the retained state). With it: every change since then,
   * oldest first. At most a page (1,000); the rest comes by polling on from `asOf`.
   */
  messages: ShopOrderMessage[];
  /** The next `since` to send: after a full page, where that page stopped. */
  asOf: number;
}

/** A shop's device liveness as dispatchers see it (`shop:status` on /dispatch). */
export interface ShopStatus {
  shopId: number;
  centerId: number;
  name: string;
  /** Registered, not revoked devices. */
  devices: number;
  online: number;
  /** True when the shop has devices and none is online: its orders will not reach it. */
  offline: boolean;
}
export const shopsStatusRequestSchema = z.object({ centerId: idSchema });
