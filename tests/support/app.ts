import { io as ioc, type Socket } from 'socket.io-client';
import { createApplication, type Application } from '../../server/app';
import type { Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import type { Backend } from './backends';

export interface TestApp {
  app: Application;
  db: Database;
  url: string;
  /** A real socket.io-client connected to a namespace of this server. */
  connect<S extends Socket = Socket>(namespace: string, opts?: Parameters<typeof ioc>[1]): Promise<S>;
  close(): Promise<void>;
}

/** The real app on port 0 over a fresh database with a small seed; owns and removes its data. */
export async function startTestApp(backend: Backend, seed = { deliveries: 60, ridersPerCenter: 4 }): Promise<TestApp> {
  const { db, dispose } = await backend.open();
  await seedDemo(db.prisma, { password: 'test-pass', ...seed });
  const app = createApplication({ db: db.prisma, logger: createLogger('silent') });
  const port = await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const sockets: Socket[] = [];
  return {
    app,
    db,
    url,
    connect(namespace, opts) {
      const s = ioc(`${url}${namespace}`, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
      sockets.push(s);
      return new Promise((resolve, reject) => {
        s.once('connect', () => resolve(s as never));
        s.once('connect_error', reject);
      });
    },
    async close() {
      for (const s of sockets) s.disconnect();
      await app.close();
      await dispose();
    },
  };
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
