import { Adapter, SessionAwareAdapter, type BroadcastOptions } from 'socket.io-adapter';

/**
 * Emits to one socket stay with the process that holds it.
 *
 * With connection state recovery on, Socket.IO sends every `socket.emit` through the adapter to
 * give it an offset. The cluster adapter would send each to the primary and from there to every
 * other worker, and the in-memory adapter keeps each for the whole recovery window: for a connect
 * storm, every connection's `hello` with its rooms and payload. The product's emits to one socket
 * are greetings that every connection, recovered or not, sends again (`hello`, the monitor's
 * first overview). What the greeting must still carry is an offset: a client that has received
 * none cannot recover its session. The Redis Streams adapter still appends them to the stream,
 * whose entry ids are the offsets.
 */
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

type Broadcast = (packet: unknown, opts: BroadcastOptions) => unknown;

/** Make a cluster adapter (workers, Redis Streams) deliver emits to its own sockets itself. */
export function keepOwnSocketEmitsLocal<A extends { sids: Map<string, unknown>; broadcast: Broadcast }>(adapter: A): A {
  const broadcast = adapter.broadcast.bind(adapter);
  adapter.broadcast = (packet, opts) => broadcast(packet, localWhenOwnSocket(opts, adapter.sids));
  return adapter;
}

interface StoredPacket {
  id: string;
}

/**
 * One process's adapter with recovery. An emit to one of its sockets is sent without being kept,
 * and carries the offset of the newest kept broadcast: the client is up to date as of that
 * packet, and a recovery replays what its rooms got after it, as it would after a kept greeting.
 * Before any broadcast there is no such offset, and the greeting is kept as Socket.IO would.
 */
export class SingleNodeAdapter extends SessionAwareAdapter {
  override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
    const newest = (this as unknown as { packets: StoredPacket[] }).packets.at(-1);
    const event = packet.type === 2 && packet.id === undefined && opts.flags?.volatile === undefined;
    if (newest && event && localWhenOwnSocket(opts, this.sids) !== opts) {
      packet.data.push(newest.id);
      Adapter.prototype.broadcast.call(this, packet, opts);
      return;
    }
    super.broadcast(packet, opts);
  }
}
