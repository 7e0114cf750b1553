import type { DeliveryStatus, OrderStatus } from '@/protocol';

export const ORDER_STATUS_LABEL: Record<OrderStatus, string> = {
  placed: 'Placed',
  in_delivery: 'On the way',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
};

export const DELIVERY_STATUS_LABEL: Record<DeliveryStatus, string> = {
  waiting: 'Waiting for a rider',
  assigned: 'Rider assigned',
  picked_up: 'Picked up',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
};

const won = new Intl.NumberFormat('ko-KR', { style: 'currency', currency: 'KRW' });
export const formatWon = (n: number): string => won.format(n);

const timeFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const timeSecFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayFmt = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "14:05" today, "3 Mar 14:05" otherwise: for list rows. */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  return sameDay(d, new Date()) ? timeFmt.format(d) : `${dayFmt.format(d)} ${timeFmt.format(d)}`;
}

/** "14:05:09" today, "3 Mar 14:05:09" otherwise: for the detail's times. */
export function longTime(iso: string): string {
  const d = new Date(iso);
  return sameDay(d, new Date()) ? timeSecFmt.format(d) : `${dayFmt.format(d)} ${timeSecFmt.format(d)}`;
}

/** "3 min ago" style, for the cancellation banner. */
export function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 10) return 'just now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  return h < 24 ? `${h} h ago` : `${Math.floor(h / 24)} d ago`;
}

/** Minutes between two instants, for "took 23 min". */
export function minutesBetween(fromIso: string, toIso: string): number {
  return Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 60_000));
}
