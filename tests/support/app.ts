import { io as ioc, type Socket } from 'socket.io-client';
import { API_KEY_SCOPES, type Ack, type ApiKeyScope, type Role, type SessionUser } from '../../protocol';
import { createApplication, type AppDeps, type Application } from '../../server/app';
import { createApiKey } from '../../server/auth/apikeys';
import { hashPassword } from '../../server/auth/password';
import type { Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import type { Adapter } from './adapters';
import type { Backend } from './backends';

export const TEST_PASSWORD = 'test-pass';
const TEST_SECRET = 'integration-test-secret-0123456789abcdef';

export interface TestAppOptions {
  deliveries?: number;
  ridersPerCenter?: number;
  apiRatePerSecond?: number;
  /** Snapshot period; 0 (the default here) leaves it to `app.snapshot.runOnce()`. */
  snapshotIntervalMs?: number;
  /** Socket ids that must miss a delivery event (fault injection). */
  lossInjector?: (event: string) => string[];
  /** Socket.IO adapter: in-memory (default) or Redis Streams on its own stream. */
  adapter?: Adapter;
  /** More application options (origins, proxies, limits, token life). */
  app?: Partial<Omit<AppDeps, 'db' | 'logger' | 'sessionSecret'>>;
}

export interface TestApp {
  app: Application;
  db: Database;
  url: string;
  /** A session token for a user, through the real POST /api/auth/token. */
  token(email: string, password?: string): Promise<string>;
  /** A real socket.io-client connected to a namespace of this server as that token's user. */
  connect(namespace: string, token: string | undefined, opts?: Parameters<typeof ioc>[1]): Promise<Socket>;
  /** A new user of a role, member of the given centers (and a rider profile for riders). */
  createUser(role: Role, centerIds: number[]): Promise<{ user: SessionUser; token: string }>;
  /** A new API key; every scope unless others are named. */
  apiKey(name?: string, scopes?: readonly ApiKeyScope[]): Promise<string>;
  close(): Promise<void>;
}

let userCounter = 0;

/** The real app on port 0 over a fresh database with a small seed; owns and removes its data. */
export async function startTestApp(backend: Backend, opts: TestAppOptions = {}): Promise<TestApp> {
  const { db, dispose } = await backend.open();
  const adapterRun = await (opts.adapter?.open() ?? Promise.resolve(undefined));
  await seedDemo(db.prisma, { password: TEST_PASSWORD, deliveries: opts.deliveries ?? 60, ridersPerCenter: opts.ridersPerCenter ?? 4 });
  const app = createApplication({
    db: db.prisma,
    logger: createLogger('silent'),
    sessionSecret: TEST_SECRET,
    apiRatePerSecond: opts.apiRatePerSecond ?? 1000,
    snapshotIntervalMs: opts.snapshotIntervalMs ?? 0,
    ...(opts.lossInjector ? { lossInjector: opts.lossInjector } : {}),
    ...(adapterRun?.deps ?? {}),
    ...opts.app,
  });
  const port = await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const sockets: Socket[] = [];
  const passwordHash = await hashPassword(TEST_PASSWORD);

  const t: TestApp = {
    app,
    db,
    url,
    async token(email, password = TEST_PASSWORD) {
      const res = await fetch(`${url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    connect(namespace, token, sockOpts) {
      const s = ioc(`${url}${namespace}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: token ? { token } : {},
        ...sockOpts,
      });
      sockets.push(s);
      return new Promise((resolve, reject) => {
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
      });
    },
    async createUser(role, centerIds) {
      userCounter += 1;
      const email = `${role}-${process.pid}-${userCounter}@test.local`;
      const u = await db.prisma.user.create({
        data: {
          email,
          name: `Test ${role} ${userCounter}`,
          role,
          passwordHash,
          memberships: { create: centerIds.map((centerId) => ({ centerId })) },
          ...(role === 'rider' && centerIds[0]
            ? { rider: { create: { centerId: centerIds[0], name: `Test rider ${userCounter}`, status: 'idle' } } }
            : {}),
        },
      });
      const token = await t.token(u.email);
      const user = (await app.services.auth.authenticate(token))!.user;
      return { user, token };
    },
    async apiKey(name = 'test-service', scopes = API_KEY_SCOPES) {
      return (await createApiKey(db.prisma, name, scopes)).key;
    },
    async close() {
      for (const s of sockets) s.disconnect();
      await app.close();
      await adapterRun?.dispose();
      await dispose();
    },
  };
  return t;
}

/** Resolve with the next `event` on `socket` that satisfies `match`, or reject after `ms`. */
export function nextEvent<T>(socket: Socket, event: string, match: (v: T) => boolean = () => true, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const on = (v: T) => {
      if (!match(v)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(v);
    };
    socket.on(event, on);
  });
}

export const ask = <T>(s: Socket, event: string, payload: unknown) => s.timeout(5000).emitWithAck(event, payload) as Promise<Ack<T>>;
export function data<T>(res: Ack<T>): T {
  if ('error' in res) throw new Error(`${res.error.code}: ${res.error.message}`);
  return res.data;
}

let fixtureCounter = 0;
/** A new waiting delivery created through the service (tests own their rows). */
export async function createTestDelivery(t: TestApp, centerId: number) {
  fixtureCounter += 1;
  const orderNo = `T${process.pid}-${Date.now().toString(36)}-${fixtureCounter}`;
  return t.app.services.deliveries.create(
    {
      centerId,
      orderNo,
      shopName: 'Test Shop',
      shopAddress: '1 Test-ro',
      customerName: 'Test Customer',
      customerAddress: '2 Test-ro',
      items: 'Test item x1',
      totalWon: 10000,
      lat: 37.5,
      lng: 127,
    },
    { label: 'test' },
  );
}
