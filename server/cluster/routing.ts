import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * Workers accept connections themselves, on the port they share (node:cluster's SCHED_NONE: the
 * kernel hands each connection to one of the workers waiting on it). Nothing passes through the
 * primary, except what has to reach one particular worker: a request of an Engine.IO session
 * another worker holds (HTTP long-polling, or its upgrade to WebSocket). Session ids name the
 * worker that holds them. A worker that gets another worker's polling request forwards it, over
 * HTTP, to that worker's private port on 127.0.0.1; an upgrade is relayed there byte for byte for
 * as long as it lasts. Requests are routed one by one: a keep-alive connection (a browser's, or a
 * load balancer's pool) may carry requests of sessions on different workers. Only clients that
 * fell back to long-polling take this hop; WebSocket clients connect straight to their worker.
 */

/** A worker tells the primary the private port its forwarded requests go to. */
export interface PeerMessage {
  type: 'dd:peer';
  port: number;
}

/** The primary tells every worker where each worker's private port is. */
export interface PeersMessage {
  type: 'dd:peers';
  peers: [workerId: number, port: number][];
}

/** Whether an IPC message between the primary and a worker is of this type. */
export const isIpcMessage = (m: unknown, type: string): m is Record<string, unknown> => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;
export const isPeerMessage = (m: unknown): m is PeerMessage => isIpcMessage(m, 'dd:peer') && Number.isInteger(m.port);
export const isPeersMessage = (m: unknown): m is PeersMessage =>
  isIpcMessage(m, 'dd:peers') && Array.isArray(m.peers) && m.peers.every((p) => Array.isArray(p) && p.length === 2 && p.every((n) => Number.isInteger(n)));

/** An Engine.IO session id naming the worker that holds it: 20 random characters, then `w<worker id>`. */
export function workerSessionId(workerId: number): string {
  return `${randomBytes(15).toString('base64url')}w${workerId}`;
}

const SID = /[?&]sid=[\w-]{20}w(\d{1,9})(?=[&#]|$)/;

/** The worker named by the session id in a request target (`/socket.io/?...&sid=...`), if any. */
export function sessionWorker(url: string | undefined): number | undefined {
  const m = url === undefined ? null : SID.exec(url);
  return m ? Number(m[1]) : undefined;
}

/** A request's head as it came on the wire (method, target, headers as sent), for the worker it is handed to. */
export function requestHead(req: Pick<IncomingMessage, 'method' | 'url' | 'httpVersion' | 'rawHeaders'>): string {
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** Headers of one hop only: never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const endToEnd = (headers: IncomingMessage['headers']): OutgoingHttpHeaders => {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
};

interface Engine {
  generateId: (req: never) => string | PromiseLike<string>;
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
}

export interface WorkerRouting {
  /** Stop the private port and the relays to other workers. */
  close(): void;
}

/**
 * Route Engine.IO requests to the worker holding their session, and give out session ids that
 * name this worker. Call before the http server listens on the shared port.
 */
export async function routeSessionsToWorkers(app: { httpServer: HttpServer; io: { engine: unknown } }): Promise<WorkerRouting> {
  const self = cluster.worker?.id;
  if (self === undefined || !process.send) throw new Error('routeSessionsToWorkers runs in a cluster worker');
  const engine = app.io.engine as Engine;
  const send = process.send.bind(process) as (message: PeerMessage) => boolean;
  const peers = new Map<number, number>();
  const agent = new Agent({ keepAlive: true });

  engine.generateId = () => workerSessionId(self);

  /**
   * The private port of the other worker holding this request's session; none for a session of
   * ours, a new session, or a worker that is gone (Engine.IO then answers: unknown session).
   */
  const peerPort = (req: IncomingMessage): number | undefined => {
    const to = sessionWorker(req.url);
    return to === undefined || to === self ? undefined : peers.get(to);
  };

  const handleRequest = engine.handleRequest.bind(engine);
  engine.handleRequest = (req, res) => {
    const port = peerPort(req);
    if (port === undefined) return handleRequest(req, res);
    const forwarded = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: endToEnd(req.headers), agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      answer.pipe(res);
    });
    forwarded.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('worker unavailable');
      else res.destroy();
    });
    // A client that leaves ends its long poll on the other worker too.
    res.on('close', () => {
      if (!res.writableFinished) forwarded.destroy();
    });
    req.pipe(forwarded);
  };

  const relays = new Set<Socket>();
  const handleUpgrade = engine.handleUpgrade.bind(engine);
  engine.handleUpgrade = (req, socket, head) => {
    const port = peerPort(req);
    if (port === undefined) return handleUpgrade(req, socket, head);
    // Relay the connection to the worker's private port: the request as it came, then both ways.
    const peer = connect({ host: '127.0.0.1', port, noDelay: true });
    peer.write(requestHead(req), 'latin1');
    if (head.length > 0) peer.write(head);
    socket.setNoDelay(true);
    socket.pipe(peer).pipe(socket);
    relays.add(socket);
    const end = () => {
      relays.delete(socket);
      socket.destroy();
      peer.destroy();
    };
    for (const s of [socket, peer]) {
      s.on('error', end);
      s.on('close', end);
    }
  };

  process.on('message', (m: unknown) => {
    if (!isPeersMessage(m)) return;
    peers.clear();
    for (const [id, port] of m.peers) peers.set(id, port);
  });

  // Forwarded requests come in on a port of this worker's own (exclusive: not the cluster's).
  const own = createServer({ noDelay: true }, (socket) => app.httpServer.emit('connection', socket));
  await new Promise<void>((resolve, reject) => {
    own.once('error', reject);
    own.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      own.off('error', reject);
      resolve();
    });
  });
  send({ type: 'dd:peer', port: (own.address() as AddressInfo).port });
  return {
    close() {
      own.close();
      agent.destroy();
      for (const socket of relays) socket.destroy();
    },
  };
}
