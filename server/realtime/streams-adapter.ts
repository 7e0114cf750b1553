import { encode } from '@msgpack/msgpack';
import { createAdapter, type RedisStreamsAdapterOptions } from '@socket.io/redis-streams-adapter';
import type { Redis } from 'ioredis';
import type { Namespace } from 'socket.io';
import type { Logger } from '../logger';

/**
 * Socket.IO's Redis Streams adapter with one fault closed. With connection state recovery on,
 * the adapter stores each disconnecting socket's session with a Redis SET whose failure it never
 * handles (`persistSession` in @socket.io/redis-streams-adapter 0.3): while Redis is down, every
 * socket that drops makes an unhandled rejection, and Node ends the process, so a Redis restart
 * took whole nodes down with it. This writes the same session the same way (msgpack, base64,
 * PX expiry, the adapter's key prefix, read back by its own restoreSession) and logs a failure:
 * that session is then not recoverable, and its client resyncs from its watermark instead.
 */
export function createStreamsAdapter(
  redis: Redis,
  opts: RedisStreamsAdapterOptions & { sessionKeyPrefix: string; /** connectionStateRecovery.maxDisconnectionDuration */ sessionTtlMs: number },
  logger: Logger,
) {
  const { sessionTtlMs, ...adapterOpts } = opts;
  const base = createAdapter(redis, adapterOpts);
  let failing = false;
  // Socket.IO calls this with `new`: a plain function (an arrow function cannot be constructed)
  // that returns the adapter object, as the library's own factory does.
  return function streamsAdapter(nsp: Namespace) {
    const adapter = base(nsp);
    adapter.persistSession = (session: { pid: string }) => {
      const value = Buffer.from(encode(session)).toString('base64');
      redis.set(opts.sessionKeyPrefix + session.pid, value, 'PX', sessionTtlMs).then(
        () => {
          failing = false;
        },
        (err: unknown) => {
          // One line per outage, not one per socket.
          if (!failing) logger.warn({ err: (err as Error).message }, 'cannot keep sessions for recovery while Redis fails; their clients will resync');
          failing = true;
        },
      );
    };
    return adapter;
  };
}
