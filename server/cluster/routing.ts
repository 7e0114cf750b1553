import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { LISTEN_BACKLOG } from '../config';

/**
 * Workers accept connections themselves, on the port they share (node:cluster's SCHED_NONE: the
 * kernel hands each connection to one of the workers waiting on it). Nothing passes through the
 * primary, except the rare connection that has to reach one particular worker: an HTTP
 * long-polling request (or its upgrade to WebSocket) of an Engine.IO session another worker holds.
 * Each worker names itself in the session ids it gives out, reads a connection's first bytes,
 * and hands a connection meant for another worker to the primary, which passes it on.
 */

/** A connection on its way to the worker that holds its session, with the bytes already read. */
export interface RouteMessage {
  type: 'dd:route';
  /** The cluster worker id the session belongs to. */
  to: number;
  data: Uint8Array;
}

export const isRouteMessage = (m: unknown): m is RouteMessage =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'dd:route' && Number.isInteger((m as { to?: unknown }).to) && (m as { data?: unknown }).data instanceof Uint8Array;

/** An Engine.IO session id naming the worker that holds it: 20 random characters, then `w<worker id>`. */
export function workerSessionId(workerId: number): string {
  return `${randomBytes(15).toString('base64url')}w${workerId}`;
}

const SID = /[?&]sid=[\w-]{20}w(\d{1,9})(?=[&#\s]|$)/;
/** The bytes of a request line worth looking at: the target is never longer than this. */
const HEAD_BYTES = 2048;

/** The worker whose session the request starting with these bytes belongs to, if it names one. */
export function sessionWorker(firstBytes: Uint8Array): number | undefined {
  const buf = Buffer.from(firstBytes.buffer, firstBytes.byteOffset, Math.min(firstBytes.byteLength, HEAD_BYTES));
  const eol = buf.indexOf('\r\n');
  const m = SID.exec(buf.toString('latin1', 0, eol === -1 ? buf.length : eol));
  return m ? Number(m[1]) : undefined;
}

type RawHandle = { readStop?: () => number; onread?: (buf: Buffer) => void } | null | undefined;
const rawHandle = (socket: Socket) => (socket as unknown as { _handle?: RawHandle })._handle;

/**
 * Give a connection whose first bytes were read here to the HTTP server, bytes first: the same
 * re-injection @socket.io/sticky's workers do (its parser may read the handle directly, so the
 * bytes go in through the handle's read callback, not the stream).
 */
function inject(httpServer: HttpServer, socket: Socket, data: Uint8Array): void {
  httpServer.emit('connection', socket);
  rawHandle(socket)?.onread?.(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  socket.resume();
}

/** A client that opens a connection and sends nothing is closed after this long. */
const FIRST_BYTES_TIMEOUT_MS = 30_000;

export interface WorkerListener {
  port: number;
  /** Stop accepting; connections already taken are the application's to close. */
  close(): void;
}

/**
 * Listen on the cluster's shared port as this worker, route each connection by its first bytes
 * (here, or through the primary to the worker holding its session), and give out session ids
 * that name this worker. Call once the application is ready to serve: until then this worker
 * takes no connections and the others (or the kernel's listen queue) keep them.
 */
export async function listenAsWorker(
  app: { httpServer: HttpServer; io: { engine: { generateId: (req: never) => string | PromiseLike<string> } } },
  port: number,
  host?: string,
): Promise<WorkerListener> {
  const self = cluster.worker?.id;
  if (self === undefined || !process.send) throw new Error('listenAsWorker runs in a cluster worker');
  app.io.engine.generateId = () => workerSessionId(self);
  const send = process.send.bind(process) as (message: RouteMessage, handle: Socket, cb: (err: Error | null) => void) => boolean;

  const route = (socket: Socket, data: Buffer) => {
    const to = sessionWorker(data);
    if (to === undefined || to === self) return inject(app.httpServer, socket, data);
    // Another worker's session: stop reading (the rest stays in the kernel for that worker) and
    // send the connection with what was read.
    rawHandle(socket)?.readStop?.();
    send({ type: 'dd:route', to, data }, socket, (err) => {
      if (err) socket.destroy();
    });
  };

  process.on('message', (m: unknown, handle: unknown) => {
    if (isRouteMessage(m) && handle instanceof Socket) inject(app.httpServer, handle, m.data);
  });

  const server = createServer({ noDelay: true }, (socket) => {
    const onError = () => socket.destroy();
    socket.on('error', onError);
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      socket.off('error', onError);
      // Out of the stream's 'data' dispatch before the HTTP server takes the socket over.
      queueMicrotask(() => route(socket, chunk));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    // Not awaited: the listening server counts every connection it accepted until that closes.
    close: () => void server.close(),
  };
}
