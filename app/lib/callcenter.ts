import type { Socket } from 'socket.io-client';
import {
  NAMESPACES,
  ORDER_STATUS_BY_DELIVERY,
  isNewer,
  type CallcenterClientEvents,
  type CallcenterServerEvents,
  type DeliveryRow,
  type OrderRow,
  type OrderStatus,
} from '@/protocol';
import { connectNamespace, sendCommand, type ServerError } from './socket';

/** The browser's /callcenter socket: one per page, authenticated by the session cookie. */
export type CallcenterSocket = Socket<CallcenterServerEvents, CallcenterClientEvents>;

export function connectCallcenter(): CallcenterSocket {
  return connectNamespace(NAMESPACES.callcenter);
}

export type { ServerError };

/** Send a /callcenter command and resolve with its data; rejects with the server's error (or a timeout). */
export function ccRequest<E extends Extract<keyof CallcenterClientEvents, string>>(socket: CallcenterSocket, event: E, payload: unknown, timeoutMs = 8000) {
  return sendCommand(socket, event, payload, timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// The open order's detail, kept equal to the database from acks, REST answers and events.
// ---------------------------------------------------------------------------------------------

export interface OrderDetail {
  order: OrderRow;
  delivery: DeliveryRow | null;
}

/**
 * Delivery and order rows follow the shared merge rule (protocol/merge.ts): the higher
 * database-assigned version wins; no clock decides.
 */
export function mergeDelivery(held: DeliveryRow | null, incoming: DeliveryRow | null): DeliveryRow | null {
  if (!incoming) return held;
  if (held && held.deliverySeq !== incoming.deliverySeq) return incoming;
  return isNewer(incoming, held ?? undefined) ? incoming : held;
}

export function mergeOrder(held: OrderRow | null, incoming: OrderRow): OrderRow {
  if (!held || held.orderNo !== incoming.orderNo) return incoming;
  return isNewer(incoming, held) ? incoming : held;
}

/** How far an order has come: its status only moves forward. */
const ORDER_PROGRESS: Record<OrderStatus, number> = { placed: 0, in_delivery: 1, delivered: 2, cancelled: 2 };

/**
 * The order's status as the screen shows it. The server changes the order in the same commit as
 * its delivery but only announces cancellations; the delivery row therefore tells the rest. An
 * order's status only moves forward, so the further of the two is the current one (no clock
 * needed to tell which row is newer).
 */
export function effectiveOrderStatus(order: OrderRow, delivery: DeliveryRow | null): OrderStatus {
  if (order.status === 'cancelled' || order.status === 'delivered') return order.status;
  const fromDelivery = delivery ? ORDER_STATUS_BY_DELIVERY[delivery.status] : undefined;
  if (fromDelivery && ORDER_PROGRESS[fromDelivery] > ORDER_PROGRESS[order.status]) return fromDelivery;
  return order.status;
}

/** Statuses after which nothing can change any more (nothing left to cancel). */
export function isFinal(status: OrderStatus): boolean {
  return status === 'cancelled' || status === 'delivered';
}

/** What to tell an agent when a cancellation was refused. */
export function describeCancelError(err: unknown): string {
  const e = err as ServerError;
  const current = (e.details as { current?: { status?: unknown } } | undefined)?.current?.status;
  switch (e.code) {
    case 'invalid_transition':
      if (current === 'delivered') return 'Already delivered: this order can no longer be cancelled.';
      if (current === 'cancelled') return 'Already cancelled: nothing more to do.';
      return e.message;
    case 'unauthorized':
      return 'Your session has expired. Sign in again, then retry.';
    case 'forbidden':
      return 'You are not allowed to cancel this order.';
    case 'not_found':
      return 'This order no longer exists.';
    case 'rate_limited':
      return 'Too many requests just now. Wait a moment and retry.';
    case 'bad_request':
      return 'Enter a reason (up to 200 characters).';
    default:
      return e instanceof TypeError ? 'The server cannot be reached. Check the connection and retry.' : (e.message || 'The cancellation failed. Retry.');
  }
}

/** A fresh Idempotency-Key for one cancellation attempt (retries of it reuse the key). */
export function newIdempotencyKey(): string {
  const rnd = typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  return `cc-cancel-${rnd}`;
}
