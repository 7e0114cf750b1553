import { createAdapter } from '@socket.io/cluster-adapter';
import { keepOwnSocketEmitsLocal } from './own-socket-emits';
import type { BroadcastOptions } from 'socket.io-adapter';

/**
 * The cluster adapter (workers without Redis), except that an emit to one socket this worker
 * holds stays in this worker (server/realtime/own-socket-emits.ts). This adapter keeps no
 * recovery sessions: a client that comes back resyncs from its watermark.
 */
export function createWorkerAdapter(): (nsp: unknown) => unknown {
  const base = createAdapter() as (nsp: unknown) => { sids: Map<string, unknown>; broadcast: (packet: unknown, opts: BroadcastOptions) => unknown };
  return function workerAdapter(nsp: unknown) {
    return keepOwnSocketEmitsLocal(base(nsp));
  };
}
