import { centerIdSchema } from '../../protocol';
import type { AuthService } from '../auth/auth.service';
import { policy } from '../auth/policy';
import { AppError } from '../errors';
import { requireUser } from '../http/auth';
import type { Router } from '../http/router';
import type { RidersService } from './riders.service';

export function registerRiderRoutes(router: Router, deps: { auth: AuthService; riders: RidersService }) {
  router.get('/api/centers/:centerId/riders', async (ctx) => {
    const user = await requireUser(ctx, deps.auth);
    const centerId = centerIdSchema.safeParse(ctx.params.centerId);
    if (!centerId.success) throw new AppError('bad_request', 'centerId must be a positive integer');
    if (!policy.joinCenter(user, centerId.data)) throw new AppError('forbidden', 'You may not see this center');
    return deps.riders.list(centerId.data);
  });
}
