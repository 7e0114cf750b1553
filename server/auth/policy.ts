import type { SessionUser } from '../../protocol';
import { mqttTopics, parseMqttTopic } from '../../protocol/mqtt';

/**
 * Who may do what: pure functions over the signed-in user, decided on the server only.
 * dispatcher: their centers; hq and admin: every center; rider: own deliveries and their center's
 * chat; callcenter: order rooms and order cancellation.
 */
const everyCenter = (u: SessionUser) => u.role === 'hq' || u.role === 'admin';

export const policy = {
  joinCenter: (u: SessionUser, centerId: number) => everyCenter(u) || (u.role === 'dispatcher' && u.centerIds.includes(centerId)),
  joinAllCenters: (u: SessionUser) => everyCenter(u),
  dispatch: (u: SessionUser, centerId: number) => everyCenter(u) || (u.role === 'dispatcher' && u.centerIds.includes(centerId)),
  /** Picked up / delivered: the assigned rider, or a dispatcher of the center acting for them. */
  riderAction: (u: SessionUser, delivery: { centerId: number; riderId: number | null }) =>
    u.role === 'rider' ? u.riderId !== null && u.riderId === delivery.riderId : policy.dispatch(u, delivery.centerId),
  cancel: (u: SessionUser, centerId: number) => policy.dispatch(u, centerId) || u.role === 'callcenter',
  watchOrders: (u: SessionUser) => u.role === 'callcenter' || everyCenter(u),
  chat: (u: SessionUser, centerId: number) =>
    everyCenter(u) || ((u.role === 'dispatcher' || u.role === 'rider') && u.centerIds.includes(centerId)),
  shareLocation: (u: SessionUser) => u.role === 'rider' && u.riderId !== null,
  monitor: (u: SessionUser) => u.role === 'admin',
};

// ---------------------------------------------------------------------------------------------
// Shop devices (MQTT and the polling fallback). Separate functions: a device is not a user.
// ---------------------------------------------------------------------------------------------

/** An authenticated order-receipt device. */
export interface DevicePrincipal {
  deviceId: number;
  shopId: number;
  username: string;
}

/**
 * A device may subscribe only to its own shop's order topics: the whole set (`orders/+` or
 * `orders/#`) or one order. Any other filter (another shop, device topics, wildcards above the
 * shop, `$SYS`) is refused.
 */
export function deviceMaySubscribe(d: DevicePrincipal, filter: string): boolean {
  const parsed = parseMqttTopic(filter);
  if (parsed) return parsed.kind === 'order' && parsed.shopId === d.shopId;
  const base = mqttTopics.shopOrders(d.shopId).slice(0, -1); // ".../orders/"
  return filter === `${base}+` || filter === `${base}#`;
}

/** A device may publish only its own liveness and acknowledgement topics. */
export function deviceMayPublish(d: DevicePrincipal, topic: string): boolean {
  return topic === mqttTopics.deviceStatus(d.shopId, d.username) || topic === mqttTopics.deviceAck(d.shopId, d.username);
}

/** A device may poll only its own shop's orders. */
export function deviceMayReadShop(d: DevicePrincipal, shopId: number): boolean {
  return d.shopId === shopId;
}

/** Registering and revoking shop devices is an admin's job. */
export function mayManageDevices(u: SessionUser): boolean {
  return u.role === 'admin';
}
