import type { DeliveryRow, OrderRow } from '@/protocol';
import { effectiveOrderStatus, mergeDelivery, mergeOrder, type OrderDetail } from '../lib/callcenter';

/** The order open on the agent's screen. Every source goes through the same merge. */
export interface DetailState {
  orderNo: string;
  /** Null until the first answer when opened by URL; the search row meanwhile otherwise. */
  order: OrderRow | null;
  delivery: DeliveryRow | null;
  /** The full detail (with its delivery) has arrived at least once. */
  loaded: boolean;
  error: string | null;
  /** The socket is in the order's room (the watch was acknowledged and the link has not dropped since). */
  watched: boolean;
  /** When the order turned cancelled while it was open (ms since epoch), for the banner. */
  cancelledLiveAt: number | null;
}

export type DetailAction =
  | { type: 'open'; orderNo: string; row?: OrderRow }
  | { type: 'close' }
  | { type: 'detail'; orderNo: string; detail: OrderDetail; watched?: boolean }
  | { type: 'unwatched' }
  | { type: 'order'; row: OrderRow }
  | { type: 'delivery'; row: DeliveryRow }
  | { type: 'error'; orderNo: string; message: string };

function withLiveCancel(prev: DetailState, next: DetailState): DetailState {
  if (!prev.loaded || !prev.order || !next.order || next.cancelledLiveAt !== null) return next;
  const before = effectiveOrderStatus(prev.order, prev.delivery);
  const after = effectiveOrderStatus(next.order, next.delivery);
  return before !== 'cancelled' && after === 'cancelled' ? { ...next, cancelledLiveAt: Date.now() } : next;
}

export function detailReducer(state: DetailState | null, action: DetailAction): DetailState | null {
  if (action.type === 'open') {
    if (state?.orderNo === action.orderNo) return state;
    return { orderNo: action.orderNo, order: action.row ?? null, delivery: null, loaded: false, error: null, watched: false, cancelledLiveAt: null };
  }
  if (action.type === 'close') return null;
  if (!state) return null;
  switch (action.type) {
    case 'detail': {
      if (action.orderNo !== state.orderNo) return state;
      const next: DetailState = {
        ...state,
        order: mergeOrder(state.order, action.detail.order),
        delivery: mergeDelivery(state.delivery, action.detail.delivery),
        loaded: true,
        error: null,
        watched: action.watched ?? state.watched,
      };
      return withLiveCancel(state, next);
    }
    case 'order': {
      if (action.row.orderNo !== state.orderNo) return state;
      const order = mergeOrder(state.order, action.row);
      return order === state.order ? state : withLiveCancel(state, { ...state, order });
    }
    case 'delivery': {
      if (action.row.orderNo !== state.orderNo) return state;
      const delivery = mergeDelivery(state.delivery, action.row);
      return delivery === state.delivery ? state : withLiveCancel(state, { ...state, delivery });
    }
    case 'unwatched':
      return state.watched ? { ...state, watched: false } : state;
    case 'error':
      return action.orderNo === state.orderNo ? { ...state, error: action.message } : state;
  }
}
