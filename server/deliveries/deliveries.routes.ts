import { z } from 'zod';
import { centerIdSchema, deliverySyncRequestSchema, idSchema, MAX_ID } from '../../protocol';
import type { SessionUser } from '../../protocol';
import { policy, requireVisible } from '../auth/policy';
import type { CentersService } from '../centers/centers.service';
import { AppError } from '../errors';
import { idempotencyKeyOf, requireUser, type SessionDeps } from '../http/auth';
import type { RouteContext, Router } from '../http/router';
import { actorOf, type DeliveriesService } from './deliveries.service';

const seqParam = z.coerce.number().int().positive().max(MAX_ID);
const versioned = { expectedVersion: z.number().int().positive().optional() };

function seqOf(ctx: RouteContext): number {
  const r = seqParam.safeParse(ctx.params.seq);
  if (!r.success) throw new AppError('bad_request', 'deliverySeq must be a positive integer');
  return r.data;
}

/** REST twins of the socket commands, for callers without a socket. */
export function registerDeliveryRoutes(router: Router, deps: { session: SessionDeps; centers: CentersService; deliveries: DeliveriesService }) {
  const { session, centers, deliveries } = deps;

  router.get('/api/centers', async (ctx) => {
    const user = await requireUser(ctx, session);
    const all = await centers.list();
    return all.filter((c) => policy.seeCenter(user, c.id));
  });

  router.get('/api/centers/:centerId/deliveries', async (ctx) => {
    const user = await requireUser(ctx, session);
    const centerId = centerIdSchema.safeParse(ctx.params.centerId);
    if (!centerId.success) throw new AppError('bad_request', 'centerId must be a positive integer');
    const sinceTx = deliverySyncRequestSchema.shape.sinceTx.safeParse(ctx.query.has('sinceTx') ? Number(ctx.query.get('sinceTx')) : undefined);
    if (!sinceTx.success) throw new AppError('bad_request', 'sinceTx must be a watermark (the asOf of an earlier answer)');
    requireVisible(policy.seeCenter(user, centerId.data), `Center ${centerId.data}`);
    await centers.get(centerId.data);
    return sinceTx.data !== undefined ? deliveries.changedSince(centerId.data, sinceTx.data) : deliveries.listForCenter(centerId.data);
  });

  router.get('/api/deliveries/:seq', async (ctx) => {
    const user = await requireUser(ctx, session);
    const seq = seqOf(ctx);
    const row = await deliveries.get(seq);
    requireVisible(policy.seeDelivery(user, row), `Delivery ${seq}`);
    return { delivery: row, timeline: await deliveries.timeline(row.deliverySeq) };
  });

  const commandRoute = <S extends z.ZodType>(
    path: string,
    schema: S,
    run: (seq: number, body: z.infer<S>, user: SessionUser, ctx: RouteContext) => Promise<unknown>,
  ) =>
    router.post(`/api/deliveries/:seq/${path}`, async (ctx) => {
      const user = await requireUser(ctx, session); // 401 before anything is read
      const seq = seqOf(ctx);
      const body = await ctx.body(schema);
      return run(seq, body, user, ctx);
    });

  const opts = (body: { expectedVersion?: number | undefined }, ctx: RouteContext) => ({
    expectedVersion: body.expectedVersion,
    idempotencyKey: idempotencyKeyOf(ctx),
  });

  commandRoute('assign', z.object({ riderId: idSchema, ...versioned }), (seq, b, user, ctx) =>
    deliveries.assign(seq, b.riderId, actorOf(user), opts(b, ctx)),
  );
  commandRoute('pick-up', z.object(versioned), (seq, b, user, ctx) => deliveries.pickUp(seq, actorOf(user), opts(b, ctx)));
  commandRoute('deliver', z.object(versioned), (seq, b, user, ctx) => deliveries.deliver(seq, actorOf(user), opts(b, ctx)));
  commandRoute('cancel', z.object({ reason: z.string().trim().min(1).max(200).default('Cancelled by dispatcher'), ...versioned }), (seq, b, user, ctx) =>
    deliveries.cancel(seq, b.reason, actorOf(user), opts(b, ctx)),
  );
}
