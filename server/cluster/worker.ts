import { setupWorker } from '@socket.io/sticky';
import type { SendHandle } from 'node:child_process';
import type { Server } from 'socket.io';

type Held = [message: unknown, handle: SendHandle];
const isSticky = (m: unknown) => typeof m === 'object' && m !== null && String((m as { type?: unknown }).type).startsWith('sticky:');

/**
 * In a cluster worker, keep the connections the primary hands over before the server is built
 * (the primary routes to a worker as soon as it is forked). A received socket buffers what it
 * reads until resumed, so nothing is lost. `release` attaches Socket.IO's sticky worker side and
 * replays what was held, in order.
 */
export function holdStickyConnections() {
  const held: Held[] = [];
  const hold = (message: unknown, handle: SendHandle) => {
    if (isSticky(message)) held.push([message, handle]);
  };
  process.on('message', hold);
  return {
    release(io: Server) {
      setupWorker(io);
      process.off('message', hold);
      for (const [message, handle] of held.splice(0)) process.emit('message', message, handle);
    },
  };
}
