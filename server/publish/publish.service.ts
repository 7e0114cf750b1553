import { createHash, randomUUID } from 'node:crypto';
import { isPublishable, PUBLISHABLE_EVENTS, SERVER_EVENT_CATALOGUE, type PublishRequest } from '../../protocol';
import type { Db } from '../db/database';
import { Prisma } from '../db/generated/client';
import { AppError } from '../errors';
import type { Publisher } from '../realtime/publisher';

export interface PublishResult {
  id: string;
  /** True when this answer repeats an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

const MAX_DATA_BYTES = 16 * 1024;

/**
 * The HTTP publish API's core: check the (namespace, event) pair against the catalogue (only
 * events it marks publishable: notices, never rows) and the data against the event's schema, then emit to the room. With an idempotency key the request is
 * recorded first (one row per key and caller); a retry finds the record and emits nothing.
 */
export function createPublishService(db: Db, publisher: Publisher) {
  return {
    async publish(callerId: number, req: PublishRequest, idempotencyKey?: string): Promise<PublishResult> {
      const events: Record<string, { safeParse(d: unknown): { success: boolean; data?: unknown; error?: unknown } }> =
        SERVER_EVENT_CATALOGUE[req.namespace];
      const schema = Object.hasOwn(events, req.event) ? events[req.event] : undefined;
      if (!schema) {
        throw new AppError('bad_request', `Unknown event ${req.event} for ${req.namespace}`, { events: [...PUBLISHABLE_EVENTS[req.namespace]] });
      }
      // Rows come only from committed changes: a key may never publish one.
      if (!isPublishable(req.namespace, req.event)) {
        throw new AppError('forbidden', `${req.event} carries a row; rows are emitted only for committed changes`, {
          events: [...PUBLISHABLE_EVENTS[req.namespace]],
        });
      }
      const size = Buffer.byteLength(JSON.stringify(req.data ?? null));
      if (size > MAX_DATA_BYTES) throw new AppError('payload_too_large', `data is ${size} bytes; the limit is ${MAX_DATA_BYTES}`);
      const parsed = schema.safeParse(req.data);
      if (!parsed.success) {
        const issues = (parsed.error as { issues?: { path: (string | number)[]; message: string }[] }).issues ?? [];
        throw new AppError('bad_request', `Invalid data for ${req.event}`, issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
      }
      const id = randomUUID();
      if (idempotencyKey) {
        const scope = `publish:${callerId}`;
        const requestHash = createHash('sha256').update(JSON.stringify(req)).digest('hex');
        try {
          await db.idempotencyRecord.create({ data: { scope, key: idempotencyKey, statusCode: 202, response: { id, requestHash } } });
        } catch (err) {
          if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
          const prior = await db.idempotencyRecord.findUniqueOrThrow({ where: { scope_key: { scope, key: idempotencyKey } } });
          const stored = prior.response as { id: string; requestHash: string };
          if (stored.requestHash !== requestHash) {
            throw new AppError('conflict', 'This Idempotency-Key was used for a different request');
          }
          return { id: stored.id, replayed: true };
        }
      }
      publisher.publish(req.namespace, req.room, req.event, parsed.data);
      return { id, replayed: false };
    },
  };
}
export type PublishService = ReturnType<typeof createPublishService>;
