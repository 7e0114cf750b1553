import type { SessionUser } from '../../protocol';

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
