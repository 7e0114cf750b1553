import { publishRequestSchema } from '../../protocol';
import type { ApiKeyVerifier } from '../auth/apikeys';
import { requireScope } from '../auth/policy';
import { AppError } from '../errors';
import { idempotencyKeyOf, requireApiKey } from '../http/auth';
import type { RateLimit } from '../http/rate-limit';
import type { Router } from '../http/router';
import type { Metrics } from '../metrics';
import type { PublishService } from './publish.service';

/** POST /api/publish: back-end services without a socket emit notices (namespace, room, event, data). */
export function registerPublishRoutes(router: Router, deps: { keys: ApiKeyVerifier; publish: PublishService; apiLimit: RateLimit; metrics: Metrics }) {
  router.post('/api/publish', async (ctx) => {
    try {
      const key = await requireApiKey(ctx, deps.keys);
      requireScope(key, 'publish:notices');
      await deps.apiLimit(`key:${key.id}`);
      const req = await ctx.body(publishRequestSchema);
      const result = await deps.publish.publish(key.id, req, idempotencyKeyOf(ctx));
      deps.metrics.published.inc({ outcome: result.replayed ? 'replayed' : 'accepted' });
      return { status: 202, body: result };
    } catch (err) {
      deps.metrics.published.inc({ outcome: err instanceof AppError ? err.code : 'internal' });
      throw err;
    }
  });
}
