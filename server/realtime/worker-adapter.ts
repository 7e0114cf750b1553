import { createAdapter } from '@socket.io/cluster-adapter';
import type { BroadcastOptions } from 'socket.io-adapter';

type Broadcast = (packet: unknown, opts: BroadcastOptions) => unknown;

/**
 * Options for a broadcast that only this process can deliver: to one room that is the id of a
 * socket this process holds (what `socket.emit` sends), excepting no one. Marked local; anything
 * else is returned unchanged.
 */
export function localWhenOwnSocket(opts: BroadcastOptions, ownSockets: ReadonlyMap<string, unknown>): BroadcastOptions {
  if (opts.flags?.local || opts.rooms.size !== 1 || (opts.except && opts.except.size > 0)) return opts;
  const [room] = opts.rooms;
  return room !== undefined && ownSockets.has(room) ? { ...opts, flags: { ...opts.flags, local: true } } : opts;
}

/**
 * The cluster adapter (workers without Redis), except that an emit to one socket this worker
 * holds stays in this worker. With connection state recovery on, Socket.IO sends every
 * `socket.emit` through the adapter to give it an offset. This adapter keeps no recovery sessions
 * (a client that comes back resyncs from its watermark), so the offset serves nothing, and each
 * such emit cost an IPC message to the primary and one from it to every other worker: for every
 * connection's `hello`, among others.
 */
export function createWorkerAdapter(): (nsp: unknown) => unknown {
  const base = createAdapter() as (nsp: unknown) => { sids: Map<string, unknown>; broadcast: Broadcast };
  return function workerAdapter(nsp: unknown) {
    const adapter = base(nsp);
    const broadcast = adapter.broadcast.bind(adapter);
    adapter.broadcast = (packet, opts) => broadcast(packet, localWhenOwnSocket(opts, adapter.sids));
    return adapter;
  };
}
