import type { AckCallback } from './errors';
import type {
  Center,
  DeliveryRow,
  DeliverySyncRequest,
  DeliverySyncResponse,
  DeliveryStatus,
  RiderRow,
} from './deliveries';

/** Bumped whenever an event or payload changes incompatibly. */
export const PROTOCOL_VERSION = 1;

/** Socket.IO namespaces, one per concern. */
export const NAMESPACES = {
  dispatch: '/dispatch',
} as const;

/** Room names are built here and nowhere else. */
export const rooms = {
  center: (centerId: number) => `center:${centerId}`,
  allCenters: () => 'hq:all',
  user: (userId: number) => `user:${userId}`,
  order: (orderNo: string) => `order:${orderNo}`,
} as const;

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

/** What the /dispatch namespace sends to clients. */
export type DispatchServerEvents = {
  [E in DeliveryEventName]: (row: DeliveryRow) => void;
} & {
  'rider:status': (row: RiderRow) => void;
  hello: (info: { protocolVersion: number; serverTime: string }) => void;
};

/** Commands a /dispatch client sends; every one is answered through its ack. */
export interface DispatchClientEvents {
  'centers:list': (payload: unknown, ack: AckCallback<Center[]>) => void;
  'center:join': (payload: unknown, ack: AckCallback<{ centerId: number }>) => void;
  'center:leave': (payload: unknown, ack: AckCallback<{ centerId: number }>) => void;
  'deliveries:sync': (payload: unknown, ack: AckCallback<DeliverySyncResponse>) => void;
}

export type { DeliverySyncRequest };
