import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as IoServer, type Namespace } from 'socket.io';
import { z } from 'zod';
import { NAMESPACES, centerIdSchema, type DispatchClientEvents, type DispatchServerEvents } from '../protocol';
import { createCentersService } from './centers/centers.service';
import type { Db } from './db/database';
import { createDeliveriesService } from './deliveries/deliveries.service';
import { AppError } from './errors';
import { createRouter, sendJson } from './http/router';
import type { Logger } from './logger';
import { registerDispatchHandlers } from './realtime/dispatch.handlers';
import { createPublisher } from './realtime/publisher';

/** Everything the application needs from outside; tests inject their own. */
export interface AppDeps {
  db: Db;
  logger: Logger;
  /** Next.js request handler for pages; absent in API-only tests (404 for non-API paths). */
  nextHandler?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  now?: () => Date;
  listWindowHours?: number;
}

export type Application = Awaited<ReturnType<typeof createApplication>>;

/**
 * Build the whole server on one http server: REST under /api, Socket.IO under /socket.io,
 * and Next.js pages for everything else. Nothing listens until `listen` is called.
 */
export function createApplication(deps: AppDeps) {
  const { db, logger } = deps;
  const router = createRouter(logger);

  const httpServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/api/')) {
      void router.handle(req, res, url).then((handled) => {
        if (!handled) sendJson(res, 404, { error: { code: 'not_found', message: `No route ${url.pathname}` } });
      });
      return;
    }
    if (deps.nextHandler) {
      deps.nextHandler(req, res).catch((err: unknown) => {
        logger.error({ err, path: url.pathname }, 'page render failed');
        if (!res.headersSent) res.writeHead(500).end('Internal error');
      });
      return;
    }
    sendJson(res, 404, { error: { code: 'not_found', message: 'Not found' } });
  });

  const io = new IoServer(httpServer, {
    serveClient: false,
    pingInterval: 10_000,
    pingTimeout: 10_000,
    maxHttpBufferSize: 100_000,
  });
  // Each namespace has its own event maps; Socket.IO types `of()` with the server's, so narrow here once.
  const dispatch = io.of(NAMESPACES.dispatch) as unknown as Namespace<DispatchClientEvents, DispatchServerEvents>;
  const notifier = createPublisher(dispatch);

  const centers = createCentersService(db);
  const deliveries = createDeliveriesService({
    db,
    notifier,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.listWindowHours !== undefined ? { listWindowHours: deps.listWindowHours } : {}),
  });
  const services = { centers, deliveries };

  registerDispatchHandlers(dispatch, { logger, centers, deliveries });

  router.get('/api/health', async () => {
    await db.$queryRaw`SELECT 1`;
    return { status: 'ok' };
  });
  router.get('/api/centers', () => centers.list());
  router.get('/api/centers/:centerId/deliveries', async ({ params, query }) => {
    const centerId = centerIdSchema.safeParse(params.centerId);
    if (!centerId.success) throw new AppError('bad_request', 'centerId must be a positive integer');
    const since = z.string().datetime({ offset: true }).optional().safeParse(query.get('since') ?? undefined);
    if (!since.success) throw new AppError('bad_request', 'since must be an ISO-8601 timestamp');
    await centers.get(centerId.data);
    return since.data ? deliveries.changedSince(centerId.data, since.data) : deliveries.listForCenter(centerId.data);
  });

  let closing: Promise<void> | undefined;
  return {
    httpServer,
    io,
    services,
    router,
    /** Listen on a port (0 picks a free one); resolves with the bound port. */
    listen(port: number, host?: string): Promise<number> {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        httpServer.once('error', onError);
        httpServer.listen(port, host, () => {
          httpServer.off('error', onError);
          resolve((httpServer.address() as AddressInfo).port);
        });
      });
    },
    /** Stop accepting, disconnect sockets, close the http server. The caller closes the database. */
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        io.close(() => resolve());
        httpServer.closeAllConnections?.();
      });
      return closing;
    },
  };
}
