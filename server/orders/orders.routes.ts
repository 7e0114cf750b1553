import { randomBytes } from 'node:crypto';
import { cancelOrderBodySchema, newOrderBodySchema, orderNoSchema } from '../../protocol';
import type { ApiKeyVerifier } from '../auth/apikeys';
import { policy, requireScope, requireVisible, type Principal } from '../auth/policy';
import { actorOf, actorOfKey, type DeliveriesService } from '../deliveries/deliveries.service';
import { AppError } from '../errors';
import { idempotencyKeyOf, requireCaller, requireUser, type SessionDeps } from '../http/auth';
import type { RateLimit } from '../http/rate-limit';
import type { RouteContext, Router } from '../http/router';
import type { OrdersService } from './orders.service';

function orderNoOf(ctx: RouteContext): string {
  const r = orderNoSchema.safeParse(ctx.params.orderNo);
  if (!r.success) throw new AppError('bad_request', 'orderNo is not a valid order number');
  return r.data;
}

export function registerOrderRoutes(
  router: Router,
  deps: { session: SessionDeps; keys: ApiKeyVerifier; orders: OrdersService; deliveries: DeliveriesService; apiLimit: RateLimit },
) {
  const { session, orders, deliveries } = deps;
  const mayWatch = async (ctx: RouteContext) => {
    const user = await requireUser(ctx, session);
    requireVisible(policy.seeOrders(user), 'Orders');
  };
  const actorFor = (caller: Principal) => (caller.user ? actorOf(caller.user) : actorOfKey(caller.apiKey));

  router.get('/api/orders', async (ctx) => {
    await mayWatch(ctx);
    return orders.search((ctx.query.get('q') ?? '').slice(0, 100));
  });
  /**
   * A new order from the ordering system (API key with `orders:create`) or a dispatcher of the
   * center: its delivery waits at the center. The policy module decides for both kinds of caller.
   */
  router.post('/api/orders', async (ctx) => {
    const caller = await requireCaller(ctx, deps.keys, session);
    if (caller.apiKey) {
      requireScope(caller.apiKey, 'orders:create');
      await deps.apiLimit(`key:${caller.apiKey.id}`);
    }
    const body = await ctx.body(newOrderBodySchema);
    const orderNo = body.orderNo ?? `O${Date.now().toString(36).toUpperCase()}${randomBytes(3).toString('hex').toUpperCase()}`;
    // Authorization (visibility of the center, then the right to create there) before any read.
    const delivery = await deliveries.create({ ...body, orderNo }, actorFor(caller));
    return { status: 201, body: { ...(await orders.get(orderNo)), delivery } };
  });

  router.get('/api/orders/:orderNo', async (ctx) => {
    await mayWatch(ctx);
    return orders.get(orderNoOf(ctx));
  });

  /**
   * What the consumer app's cancel flow calls (API key with `orders:cancel`), or an agent
   * (session): cancels the order and its delivery in one transaction; the order room and the
   * center hear at once.
   */
  router.post('/api/orders/:orderNo/cancel', async (ctx) => {
    const orderNo = orderNoOf(ctx);
    const caller = await requireCaller(ctx, deps.keys, session);
    if (caller.apiKey) {
      requireScope(caller.apiKey, 'orders:cancel');
      await deps.apiLimit(`key:${caller.apiKey.id}`);
    }
    const { reason } = await ctx.body(cancelOrderBodySchema);
    const delivery = await deliveries.cancelOrder(orderNo, reason, actorFor(caller), { idempotencyKey: idempotencyKeyOf(ctx) });
    return { status: 202, body: { id: `${orderNo}:cancel`, ...(await orders.get(orderNo)), delivery } };
  });
}
