/**
 * The capacity benchmark's baselines, each run as its own process next to the product:
 *
 *   node --import tsx bench/capacity-baseline.ts socketio PORT [PING_S TIMEOUT_S]   bare Socket.IO 4.8, websocket only
 *   node --import tsx bench/capacity-baseline.ts ws PORT [PING_S]                   raw `ws`, room fan-out by hand
 *
 * Both do what the product does for a capacity client and nothing else: no authentication, a
 * `/dispatch` namespace (Socket.IO) with a `join` command answered through an ack, a `ping`
 * command answered through an ack, and `POST /publish {room, event, data}` that emits `event` to
 * every member of `room` (the product's HTTP publish API without the API key, the catalogue and
 * the schema check). `GET /stats` answers the event-loop delay since the last call.
 * Heartbeats match the product's: a ping every PING_S seconds (default 10); Socket.IO closes a
 * connection TIMEOUT_S (default 10) after an unanswered ping, raw `ws` at the next ping.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { WebSocketServer, type WebSocket } from 'ws';
import { rawText } from './ws-text';

const [kind, portArg, pingArg = '10', timeoutArg = '10'] = process.argv.slice(2);
const pingMs = Number(pingArg) * 1000;
const timeoutMs = Number(timeoutArg) * 1000;
if ((kind !== 'socketio' && kind !== 'ws') || !portArg || !Number.isInteger(Number(portArg)) || !(pingMs > 0) || !(timeoutMs > 0)) {
  process.stderr.write('usage: capacity-baseline.ts socketio|ws PORT [PING_SECONDS [TIMEOUT_SECONDS]]\n');
  process.exit(2);
}

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

interface PublishBody {
  room: string;
  event: string;
  data: unknown;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isPublishBody(v: unknown): v is PublishBody {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.room === 'string' && typeof o.event === 'string';
}

let emit: (room: string, event: string, data: unknown) => void = () => undefined;

const httpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
  if (req.method === 'GET' && req.url === '/stats') {
    const body = JSON.stringify({ lagP99Ms: lag.percentile(99) / 1e6, lagMaxMs: lag.max / 1e6 });
    lag.reset();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    readBody(req).then(
      (text) => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        if (!isPublishBody(body)) {
          res.writeHead(400).end('{"error":"room and event required"}');
          return;
        }
        emit(body.room, body.event, body.data);
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}');
      },
      () => res.writeHead(400).end(),
    );
    return;
  }
  res.writeHead(404).end();
});

if (kind === 'socketio') {
  const io = new Server(httpServer, { serveClient: false, transports: ['websocket'], pingInterval: pingMs, pingTimeout: timeoutMs });
  const nsp = io.of('/dispatch');
  nsp.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack: unknown) => {
      if (typeof room === 'string') void socket.join(room);
      if (typeof ack === 'function') (ack as (r: unknown) => void)({ data: { room } });
    });
    socket.on('ping', (_payload: unknown, ack: unknown) => {
      if (typeof ack === 'function') (ack as (r: unknown) => void)({ data: { ok: true } });
    });
  });
  emit = (room, event, data) => nsp.to(room).emit(event, data);
} else {
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false });
  const rooms = new Map<string, Set<WebSocket>>();
  const alive = new WeakSet<WebSocket>();
  wss.on('connection', (ws) => {
    const joined = new Set<string>();
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    ws.on('message', (raw) => {
      let msg: { t?: unknown; id?: unknown; room?: unknown };
      try {
        msg = JSON.parse(rawText(raw)) as typeof msg;
      } catch {
        return;
      }
      if (msg.t === 'join' && typeof msg.room === 'string') {
        let members = rooms.get(msg.room);
        if (!members) rooms.set(msg.room, (members = new Set()));
        members.add(ws);
        joined.add(msg.room);
      }
      if (msg.t === 'join' || msg.t === 'ping') ws.send(JSON.stringify({ t: 'ack', id: msg.id }));
    });
    ws.on('close', () => {
      for (const r of joined) rooms.get(r)?.delete(ws);
    });
  });
  // Same liveness job as the Socket.IO servers: a ping every interval, drop who did not answer.
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, pingMs).unref();
  emit = (room, event, data) => {
    const members = rooms.get(room);
    if (!members) return;
    const frame = JSON.stringify({ t: 'msg', event, data });
    for (const ws of members) ws.send(frame);
  };
}

httpServer.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`listening ${kind} ${(httpServer.address() as { port: number }).port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
