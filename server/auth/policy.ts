import type { ApiKeyScope, NamespaceName, SessionUser } from '../../protocol';
import { AppError } from '../errors';

/**
 * Who may do what: the one place that decides, for Socket.IO commands, REST routes and any
 * other transport (devices, publish API) alike. Pure functions over the caller, decided on the
 * server only.
 *
 * Two kinds of question, with two answers:
 * - **may see** (a center, a delivery, orders): refused as `not_found`, the same answer as for
 *   something that does not exist, so a refusal never reveals what exists;
 * - **may do** (a command on something the caller can see): refused as `forbidden`.
 *
 * Roles: dispatcher: their centers; hq and admin: every center; rider: own deliveries and their
 * center's chat; callcenter: orders (look-up, watch, cancel). API keys act only through their
 * scopes, and never as a user.
 */

/** An authenticated API key (a back-end service). */
export interface ApiKeyPrincipal {
  id: number;
  name: string;
  prefix: string;
  scopes: readonly ApiKeyScope[];
}

/** Whoever is calling: a signed-in user, or a service with an API key. */
export type Principal = { user: SessionUser; apiKey?: undefined } | { apiKey: ApiKeyPrincipal; user?: undefined };

/** What a delivery needs to be judged: its center and its rider. */
export interface DeliveryRef {
  centerId: number;
  riderId: number | null;
}

const everyCenter = (u: SessionUser) => u.role === 'hq' || u.role === 'admin';
const memberOf = (u: SessionUser, centerId: number) => u.centerIds.includes(centerId);

export const policy = {
  // ------------------------------------------------------------------ namespaces
  /** Which namespaces a user may connect to at all. */
  connect(u: SessionUser, namespace: NamespaceName): boolean {
    return namespace === '/monitor' ? u.role === 'admin' : true;
  },

  // ------------------------------------------------------------------ may see (refused: not_found)
  /** A center's live list, riders and room. */
  seeCenter: (u: SessionUser, centerId: number) => everyCenter(u) || (u.role === 'dispatcher' && memberOf(u, centerId)),
  /** The all-centers (HQ) room. */
  seeAllCenters: (u: SessionUser) => everyCenter(u),
  /**
   * One delivery: its center's staff, call-center agents (who see it through its order), or the
   * rider it is assigned to.
   */
  seeDelivery: (u: SessionUser, d: DeliveryRef) =>
    policy.seeCenter(u, d.centerId) || u.role === 'callcenter' || (u.role === 'rider' && u.riderId !== null && u.riderId === d.riderId),
  /** Order look-up and order rooms. */
  seeOrders: (u: SessionUser) => u.role === 'callcenter' || everyCenter(u),
  /** A center's chat (read, join, send). */
  chat: (u: SessionUser, centerId: number) => everyCenter(u) || ((u.role === 'dispatcher' || u.role === 'rider') && memberOf(u, centerId)),
  /** The rider's own list. */
  ownDeliveries: (u: SessionUser) => u.role === 'rider' && u.riderId !== null,

  // ------------------------------------------------------------------ may do (refused: forbidden)
  /** Assign / reassign, and acting for riders. */
  dispatch: (u: SessionUser, centerId: number) => everyCenter(u) || (u.role === 'dispatcher' && memberOf(u, centerId)),
  /** Picked up / delivered: the assigned rider, or a dispatcher of the center acting for them. */
  riderAction: (u: SessionUser, d: DeliveryRef) =>
    u.role === 'rider' ? u.riderId !== null && u.riderId === d.riderId : policy.dispatch(u, d.centerId),
  cancel: (u: SessionUser, centerId: number) => policy.dispatch(u, centerId) || u.role === 'callcenter',
  shareLocation: (u: SessionUser) => u.role === 'rider' && u.riderId !== null,
  /** Change roles and memberships of other users. */
  administer: (u: SessionUser) => u.role === 'admin',

  // ------------------------------------------------------------------ API keys and mixed callers
  hasScope: (key: ApiKeyPrincipal, scope: ApiKeyScope) => key.scopes.includes(scope),
  /** Create an order (and its delivery) at a center. */
  createOrder: (p: Principal, centerId: number) => (p.apiKey ? policy.hasScope(p.apiKey, 'orders:create') : policy.dispatch(p.user, centerId)),
  /** Cancel an order (and its delivery) by order number. */
  cancelOrder: (p: Principal, centerId: number) => (p.apiKey ? policy.hasScope(p.apiKey, 'orders:cancel') : policy.cancel(p.user, centerId)),
};

/** Refuse as if the thing did not exist. */
export function requireVisible(allowed: boolean, what: string): void {
  if (!allowed) throw new AppError('not_found', `${what} not found`);
}

/** Refuse an action on something the caller may see. */
export function requireAllowed(allowed: boolean, message = 'You may not do this'): void {
  if (!allowed) throw new AppError('forbidden', message);
}

/** Refuse an API key without the scope a route needs. */
export function requireScope(key: ApiKeyPrincipal, scope: ApiKeyScope): void {
  if (!policy.hasScope(key, scope)) throw new AppError('forbidden', `This API key lacks the ${scope} scope`);
}
