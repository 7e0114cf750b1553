import { randomBytes } from 'node:crypto';
import { cancelOrderBodySchema, newOrderBodySchema, orderNoSchema } from '../../protocol';
import type { AuthService } from '../auth/auth.service';
import { policy } from '../auth/policy';
import type { Db } from '../db/database';
import { actorOf, type DeliveriesService } from '../deliveries/deliveries.service';
import { AppError } from '../errors';
import { idempotencyKeyOf, requireCaller, requireUser } from '../http/auth';
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
  deps: { db: Db; auth: AuthService; orders: OrdersService; deliveries: DeliveriesService; apiLimit: RateLimit },
) {
  const { db, auth, orders, deliveries } = deps;
  const mayWatch = async (ctx: RouteContext) => {
    const user = await requireUser(ctx, auth);
    if (!policy.watchOrders(user)) throw new AppError('forbidden', 'Only call-center agents and HQ look up orders');
  };

  router.get('/api/orders', async (ctx) => {
    await mayWatch(ctx);
    return orders.search((ctx.query.get('q') ?? '').slice(0, 100));
  });
  /** A new order from the ordering system (API key) or a dispatcher: its delivery waits at the center. */
  router.post('/api/orders', async (ctx) => {
    const caller = await requireCaller(ctx, db, auth);
    if (caller.apiKey) await deps.apiLimit(`key:${caller.apiKey.id}`);
    const body = await ctx.body(newOrderBodySchema);
    const actor = caller.user ? actorOf(caller.user) : { label: `apikey:${caller.apiKey.prefix}` };
    const orderNo = body.orderNo ?? `O${Date.now().toString(36).toUpperCase()}${randomBytes(3).toString('hex').toUpperCase()}`;
    if (await db.order.findUnique({ where: { orderNo }, select: { id: true } })) {
      throw new AppError('conflict', `Order ${orderNo} already exists`);
    }
    const delivery = await deliveries.create({ ...body, orderNo }, actor);
    return { status: 201, body: { ...(await orders.get(orderNo)), delivery } };
  });

  router.get('/api/orders/:orderNo', async (ctx) => {
    await mayWatch(ctx);
    return orders.get(orderNoOf(ctx));
  });

  /**
   * What the consumer app's cancel flow calls (API key), or an agent (session): cancels the
   * order and its delivery in one transaction; the order room and the center hear at once.
   */
  router.post('/api/orders/:orderNo/cancel', async (ctx) => {
    const orderNo = orderNoOf(ctx);
    const caller = await requireCaller(ctx, db, auth);
    if (caller.apiKey) await deps.apiLimit(`key:${caller.apiKey.id}`);
    const { reason } = await ctx.body(cancelOrderBodySchema);
    const actor = caller.user ? actorOf(caller.user) : { label: `apikey:${caller.apiKey.prefix}` };
    const delivery = await deliveries.cancelOrder(orderNo, reason, actor, { idempotencyKey: idempotencyKeyOf(ctx) });
    return { status: 202, body: { id: `${orderNo}:cancel`, ...(await orders.get(orderNo)), delivery } };
  });
}
