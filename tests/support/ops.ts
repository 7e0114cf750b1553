import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { ALERT_SIGNATURE_HEADER, type AlertWebhookBody } from '../../protocol';
import { createApplication, type AppDeps, type Application } from '../../server/app';
import { createLogger } from '../../server/logger';
import { connectRedis } from '../../server/redis';

/** A free TCP port on loopback (for a private service that must be restarted on the same port). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface ReceivedHook {
  body: AlertWebhookBody;
  signatureValid: boolean;
  at: number;
}

/**
 * A local alert-webhook receiver on port 0: checks each body's HMAC signature with the shared
 * secret, can refuse the next N deliveries (500) to exercise retries, and counts attempts.
 */
export async function startWebhookReceiver(secret: string) {
  const received: ReceivedHook[] = [];
  let refuseNext = 0;
  let attempts = 0;
  const waiters: { match: (h: ReceivedHook) => boolean; resolve: (h: ReceivedHook) => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts += 1;
      if (refuseNext > 0) {
        refuseNext -= 1;
        res.writeHead(500).end('not now');
        return;
      }
      const raw = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const got = Buffer.from(String(req.headers[ALERT_SIGNATURE_HEADER] ?? ''));
      const hook: ReceivedHook = {
        body: JSON.parse(raw.toString('utf8')) as AlertWebhookBody,
        signatureValid: got.length === expected.length && timingSafeEqual(got, expected),
        at: Date.now(),
      };
      received.push(hook);
      res.writeHead(204).end();
      for (const w of [...waiters]) {
        if (w.match(hook)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(hook);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`;
  return {
    url,
    received,
    attempts: () => attempts,
    refuse(n: number) {
      refuseNext = n;
    },
    /** The first hook (already received or coming) that matches, or a rejection after ms. */
    waitFor(match: (h: ReceivedHook) => boolean, ms = 20_000): Promise<ReceivedHook> {
      const have = received.find(match);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const w = { match, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no matching webhook within ${ms} ms; got ${JSON.stringify(received.map((h) => [h.body.status, h.body.alert.kind, h.body.alert.subject]))}`));
          }
        }, ms);
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A TCP proxy the test can cut (every connection dropped, new ones refused) and restore. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1') {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(targetPort, targetHost);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen();
  return {
    port,
    async cut() {
      const s = server;
      server = null;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise((r) => s.close(r));
    },
    restore: listen,
    close() {
      return this.cut();
    },
  };
}

/** A private redis-server (no persistence) on its own port: the test may stop and restart it. */
export async function startPrivateRedis(port?: number) {
  const p = port ?? (await freePort());
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(p, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('private redis-server did not start (is redis-server installed?)');
  };
  await start();
  return {
    url: `redis://127.0.0.1:${p}`,
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      await new Promise((r) => {
        c.once('exit', r);
        c.kill('SIGKILL');
      });
    },
    start,
  };
}

/** The real entry point as a separate process (a node of the cluster); resolves once it listens. */
export async function spawnNode(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; pid: number; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', SERVE_PAGES: 'off', SIMULATOR: 'off', DEMO_SEED: 'off', LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start: ${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+).*Dispatch Desk is live/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}: ${out}`));
    });
  });
  return { child, port, pid: child.pid!, output: () => out };
}

/**
 * Users of a cluster under test: session tokens from one node's sign-in (`signInUrl`, read when
 * called: the nodes start in `beforeAll`), and Socket.IO sockets on websocket without
 * reconnection, each kept in `sockets` for the suite to close.
 */
export function clusterUsers(signInUrl: () => string, password: string) {
  const sockets: Socket[] = [];
  const connect = (url: string, ns: string, token: string) => {
    const s = io(`${url}${ns}`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    sockets.push(s);
    return new Promise<Socket>((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  };
  const token = async (email: string) => {
    const res = await fetch(`${signInUrl()}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    return ((await res.json()) as { token: string }).token;
  };
  return { sockets, connect, token };
}

/**
 * `count` application nodes in this process on one database and one Redis (`prefix`), each with a
 * Redis client of its own and its node id `<nodeIdPrefix>-<i>`; `close` stops nodes and clients.
 */
export async function startRedisNodes(o: {
  count: number;
  db: AppDeps['db'];
  redisUrl: string;
  prefix: string;
  secret: string;
  nodeIdPrefix: string;
  ops: AppDeps['ops'];
}) {
  const nodes: { app: Application; url: string }[] = [];
  const clients: Redis[] = [];
  for (let i = 0; i < o.count; i++) {
    const redis = await connectRedis(o.redisUrl);
    clients.push(redis);
    const app = createApplication({
      db: o.db,
      logger: createLogger('silent'),
      sessionSecret: o.secret,
      snapshotIntervalMs: 0,
      redis,
      redisStream: `${o.prefix}:events`,
      redisPrefix: o.prefix,
      nodeId: `${o.nodeIdPrefix}-${i}`,
      ...(o.ops ? { ops: o.ops } : {}),
    });
    nodes.push({ app, url: `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}` });
  }
  return {
    nodes,
    async close() {
      for (const { app } of nodes) await app.close();
      for (const c of clients) c.disconnect();
    },
  };
}
