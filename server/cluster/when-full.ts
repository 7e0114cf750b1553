import net from 'node:net';
import { LISTEN_BACKLOG } from '../config';
import type { Logger } from '../logger';

/** Connections a full worker must lose before it accepts again (so it does not flap at the cap): 100, or a tenth of a small cap. */
const resumeBelow = (cap: number) => cap - Math.max(1, Math.min(100, Math.floor(cap / 10)));

/**
 * A cluster worker at its connection cap stops accepting on the shared port, and starts again
 * once some of its connections have gone (`resumeBelow`).
 *
 * The workers share one listening socket and the kernel hands each new connection to one of the
 * workers waiting on it, without looking at how full they are. After a worker dies, its clients
 * come back all at once; a survivor at its cap would accept some of them only to close them
 * (`maxConnections`), and each of those clients retries after its back-off, possibly into the
 * same full worker. A worker that is not waiting on the socket is given nothing: the others (and
 * the dead worker's replacement) take them the first time.
 *
 * Only the listening handle closes: the worker's connections, its HTTP server and Socket.IO stay
 * as they are. The port stays open as long as any worker listens (the primary holds it).
 */
export interface WhenFull {
  /** The arguments the server listened with (a worker listens again with the same, to get the same shared handle). */
  listenedWith(options: net.ListenOptions): void;
  /** The server is shutting down: never listen again (its connections closing would otherwise reopen it). */
  stop(): void;
}

export function stopAcceptingWhenFull(server: net.Server, cap: number, logger: Logger): WhenFull {
  let accepting = true;
  let listenOptions: net.ListenOptions | null = null;
  let stopped = false;
  const resumeAt = resumeBelow(cap);
  const held = () => (server as net.Server & { _connections: number })._connections;

  server.on('connection', (socket: net.Socket) => {
    socket.once('close', onClose);
    if (accepting && listenOptions && held() >= cap) {
      accepting = false;
      // net.Server's own close: http.Server's would also close idle keep-alive connections.
      net.Server.prototype.close.call(server);
      logger.warn({ connections: held(), cap }, 'connection cap reached: not accepting until some connections go');
    }
  });
  function onClose() {
    if (accepting || stopped || !listenOptions || held() > resumeAt) return;
    accepting = true;
    const failed = (err: Error) => {
      accepting = false;
      logger.error({ err }, 'could not accept connections again');
    };
    server.once('error', failed);
    server.listen({ ...listenOptions, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', failed);
      logger.info({ connections: held(), cap }, 'accepting connections again');
    });
  }
  return {
    listenedWith(options) {
      listenOptions = options;
    },
    stop() {
      stopped = true;
    },
  };
}
