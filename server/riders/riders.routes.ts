import { centerIdSchema } from '../../protocol';
import { policy, requireVisible } from '../auth/policy';
import { AppError } from '../errors';
import { requireUser, type SessionDeps } from '../http/auth';
import type { Router } from '../http/router';
import type { RidersService } from './riders.service';

export function registerRiderRoutes(router: Router, deps: { session: SessionDeps; riders: RidersService }) {
  router.get('/api/centers/:centerId/riders', async (ctx) => {
    const user = await requireUser(ctx, deps.session);
    const centerId = centerIdSchema.safeParse(ctx.params.centerId);
    if (!centerId.success) throw new AppError('bad_request', 'centerId must be a positive integer');
    requireVisible(policy.seeCenter(user, centerId.data), `Center ${centerId.data}`);
    return deps.riders.list(centerId.data);
  });
}
