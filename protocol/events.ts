import { z } from 'zod';
import type { AckCallback } from './errors';
import type { SessionUser } from './auth';
import { chatMessageSchema, type ChatMessage } from './chat';
import {
  centerIdSchema,
  deliveryRowSchema,
  idSchema,
  riderRowSchema,
  type Center,
  type DeliveryRow,
  type DeliveryStatus,
  type DeliverySyncResponse,
  type RiderRow,
} from './deliveries';
import { orderNoSchema, orderRowSchema, type OrderRow } from './orders';
import type { DeliverySnapshot } from './snapshot';

/** Bumped whenever an event or payload changes incompatibly. */
export const PROTOCOL_VERSION = 1;

/** Socket.IO namespaces, one per concern. */
export const NAMESPACES = {
  dispatch: '/dispatch',
  chat: '/chat',
  callcenter: '/callcenter',
  monitor: '/monitor',
} as const;
export type NamespaceName = (typeof NAMESPACES)[keyof typeof NAMESPACES];

/** Room names are built here and nowhere else. */
export const rooms = {
  center: (centerId: number) => `center:${centerId}`,
  allCenters: () => 'hq:all',
  user: (userId: number) => `user:${userId}`,
  order: (orderNo: string) => `order:${orderNo}`,
} as const;
/** Every room name a publisher may address. */
export const roomNameSchema = z
  .string()
  .regex(/^(center:[1-9]\d{0,9}|hq:all|user:[1-9]\d{0,9}|order:[A-Za-z0-9_-]{1,64})$/, 'must be center:<id>, hq:all, user:<id> or order:<orderNo>');

/** The broadcast event for each delivery status a row can enter. */
export const DELIVERY_EVENT_BY_STATUS = {
  waiting: 'delivery:created',
  assigned: 'delivery:assigned',
  picked_up: 'delivery:picked_up',
  delivered: 'delivery:delivered',
  cancelled: 'delivery:cancelled',
} as const satisfies Record<DeliveryStatus, string>;
export type DeliveryEventName = (typeof DELIVERY_EVENT_BY_STATUS)[DeliveryStatus];
export const DELIVERY_EVENTS = Object.values(DELIVERY_EVENT_BY_STATUS) as DeliveryEventName[];

export const riderPositionSchema = z.object({
  riderId: z.number().int().positive(),
  centerId: z.number().int().positive(),
  lat: z.number().min(-90).max(90),
  lng: z.number().min(-180).max(180),
  at: z.string().datetime({ offset: true }),
});
export type RiderPosition = z.infer<typeof riderPositionSchema>;

/** A short message from a back-end service or the server to a user, a center or everyone. */
export const noticeSchema = z.object({
  title: z.string().min(1).max(100),
  body: z.string().max(500).default(''),
  level: z.enum(['info', 'warning', 'critical']).default('info'),
});
export type Notice = z.infer<typeof noticeSchema>;

export interface MonitorStats {
  serverTime: string;
  namespaces: { name: string; sockets: number; rooms: { name: string; sockets: number }[] }[];
  unknownEvents: number;
}

/**
 * The catalogue of what the server sends, per namespace, with the schema of each payload.
 * The HTTP publish API accepts exactly these (namespace, event) pairs, validated by these schemas.
 */
export const SERVER_EVENT_CATALOGUE = {
  '/dispatch': {
    ...Object.fromEntries(DELIVERY_EVENTS.map((e) => [e, deliveryRowSchema])),
    'rider:status': riderRowSchema,
    'rider:position': riderPositionSchema,
    'notice:posted': noticeSchema,
  },
  '/chat': { 'chat:message': chatMessageSchema, 'notice:posted': noticeSchema },
  '/callcenter': {
    ...Object.fromEntries(DELIVERY_EVENTS.map((e) => [e, deliveryRowSchema])),
    'order:cancelled': orderRowSchema,
    'notice:posted': noticeSchema,
  },
  '/monitor': { 'notice:posted': noticeSchema },
} as const satisfies Record<NamespaceName, Record<string, z.ZodType>>;

/**
 * Events the HTTP publish API may carry, per namespace. Rows (deliveries, riders, orders, chat
 * messages) are never publishable: they come only from committed changes, so a key cannot forge
 * a row that wins the merge on every screen. Integrators publish notices, or call the domain
 * endpoints (orders) whose changes the server then emits itself.
 */
export const PUBLISHABLE_EVENTS = {
  '/dispatch': ['notice:posted'],
  '/chat': ['notice:posted'],
  '/callcenter': ['notice:posted'],
  '/monitor': ['notice:posted'],
} as const satisfies { [N in NamespaceName]: readonly (keyof (typeof SERVER_EVENT_CATALOGUE)[N])[] };

/** Whether a key may publish `event` on `namespace` (only catalogued, non-row events). */
export function isPublishable(namespace: NamespaceName, event: string): boolean {
  return (PUBLISHABLE_EVENTS[namespace] as readonly string[]).includes(event);
}

/** What an API key may do; set when the key is created, checked on every route that takes keys. */
export const API_KEY_SCOPES = ['publish:notices', 'orders:create', 'orders:cancel'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

type DeliveryEvents = { [E in DeliveryEventName]: (row: DeliveryRow) => void };
/** What every namespace sends: the greeting after the handshake, and notices. */
export interface Hello {
  hello: (info: { protocolVersion: number; serverTime: string; user: SessionUser }) => void;
  'notice:posted': (notice: Notice) => void;
}

// ---------------------------------------------------------------------------------------------
// /dispatch: dispatchers, HQ and riders
// ---------------------------------------------------------------------------------------------
export type DispatchServerEvents = DeliveryEvents &
  Hello & {
    'rider:status': (row: RiderRow) => void;
    'rider:position': (pos: RiderPosition) => void;
    'deliveries:snapshot': (snapshot: DeliverySnapshot) => void;
  };

export const centerJoinSchema = z.union([z.object({ centerId: centerIdSchema }), z.object({ all: z.literal(true) })]);
export const idempotencyKeySchema = z.string().min(8).max(100).regex(/^[A-Za-z0-9_:.-]+$/);
const deliveryRef = {
  deliverySeq: idSchema,
  /** When given, the command fails with `conflict` (and the current row) if the row moved on. */
  expectedVersion: z.number().int().positive().optional(),
  /** Retries with the same key get the first answer and change nothing twice. */
  idempotencyKey: idempotencyKeySchema.optional(),
};
export const assignCommandSchema = z.object({ ...deliveryRef, riderId: idSchema });
export const deliveryCommandSchema = z.object(deliveryRef);
export const cancelCommandSchema = z.object({ ...deliveryRef, reason: z.string().trim().min(1).max(200).default('Cancelled by dispatcher') });
export const positionCommandSchema = z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) });
export type AssignCommand = z.infer<typeof assignCommandSchema>;
export type DeliveryCommand = z.infer<typeof deliveryCommandSchema>;
export type CancelCommand = z.infer<typeof cancelCommandSchema>;

export interface DeliveryTimelineEntry {
  id: number;
  type: string;
  status: DeliveryStatus;
  riderId: number | null;
  actorLabel: string;
  note: string | null;
  at: string;
}

export interface DispatchClientEvents {
  'centers:list': (payload: unknown, ack: AckCallback<Center[]>) => void;
  'center:join': (payload: unknown, ack: AckCallback<{ centerId: number | 'all' }>) => void;
  'center:leave': (payload: unknown, ack: AckCallback<{ centerId: number | 'all' }>) => void;
  'deliveries:sync': (payload: unknown, ack: AckCallback<DeliverySyncResponse>) => void;
  'deliveries:mine': (payload: unknown, ack: AckCallback<DeliveryRow[]>) => void;
  'deliveries:fetch': (payload: unknown, ack: AckCallback<DeliveryRow[]>) => void;
  'delivery:timeline': (payload: unknown, ack: AckCallback<DeliveryTimelineEntry[]>) => void;
  'delivery:assign': (payload: unknown, ack: AckCallback<DeliveryRow>) => void;
  'delivery:pick_up': (payload: unknown, ack: AckCallback<DeliveryRow>) => void;
  'delivery:deliver': (payload: unknown, ack: AckCallback<DeliveryRow>) => void;
  'delivery:cancel': (payload: unknown, ack: AckCallback<DeliveryRow>) => void;
  'riders:list': (payload: unknown, ack: AckCallback<RiderRow[]>) => void;
  'rider:position': (payload: unknown, ack: AckCallback<RiderPosition>) => void;
}

// ---------------------------------------------------------------------------------------------
// /chat: one room per center
// ---------------------------------------------------------------------------------------------
export type ChatServerEvents = Hello & { 'chat:message': (msg: ChatMessage) => void };
export interface ChatClientEvents {
  'chat:join': (payload: unknown, ack: AckCallback<{ centerId: number; messages: ChatMessage[] }>) => void;
  'chat:leave': (payload: unknown, ack: AckCallback<{ centerId: number }>) => void;
  'chat:history': (payload: unknown, ack: AckCallback<ChatMessage[]>) => void;
  'chat:send': (payload: unknown, ack: AckCallback<ChatMessage>) => void;
}

// ---------------------------------------------------------------------------------------------
// /callcenter: one room per watched order
// ---------------------------------------------------------------------------------------------
export type CallcenterServerEvents = DeliveryEvents & Hello & { 'order:cancelled': (order: OrderRow) => void };
export const orderWatchSchema = z.object({ orderNo: orderNoSchema });
export interface CallcenterClientEvents {
  'order:watch': (payload: unknown, ack: AckCallback<{ order: OrderRow; delivery: DeliveryRow | null }>) => void;
  'order:unwatch': (payload: unknown, ack: AckCallback<{ orderNo: string }>) => void;
  'orders:search': (payload: unknown, ack: AckCallback<OrderRow[]>) => void;
}

// ---------------------------------------------------------------------------------------------
// /monitor: operators (admin only)
// ---------------------------------------------------------------------------------------------
export type MonitorServerEvents = Hello & { 'monitor:stats': (stats: MonitorStats) => void };
export interface MonitorClientEvents {
  'monitor:stats': (payload: unknown, ack: AckCallback<MonitorStats>) => void;
}

/** Commands each namespace accepts; anything else is ignored and counted. */
export const CLIENT_COMMANDS = {
  '/dispatch': [
    'centers:list', 'center:join', 'center:leave', 'deliveries:sync', 'deliveries:mine', 'deliveries:fetch', 'delivery:timeline',
    'delivery:assign', 'delivery:pick_up', 'delivery:deliver', 'delivery:cancel', 'riders:list', 'rider:position',
  ],
  '/chat': ['chat:join', 'chat:leave', 'chat:history', 'chat:send'],
  '/callcenter': ['order:watch', 'order:unwatch', 'orders:search'],
  '/monitor': ['monitor:stats'],
} as const satisfies {
  '/dispatch': readonly (keyof DispatchClientEvents)[];
  '/chat': readonly (keyof ChatClientEvents)[];
  '/callcenter': readonly (keyof CallcenterClientEvents)[];
  '/monitor': readonly (keyof MonitorClientEvents)[];
};

/** Body of POST /api/publish. */
export const publishRequestSchema = z.object({
  namespace: z.enum([NAMESPACES.dispatch, NAMESPACES.chat, NAMESPACES.callcenter, NAMESPACES.monitor]),
  room: roomNameSchema,
  event: z.string().min(1).max(64),
  data: z.unknown(),
});
export type PublishRequest = z.infer<typeof publishRequestSchema>;
