/**
 * The server process of the chaos test: the real application on PostgreSQL with the traffic
 * simulator, plus one fault the network would cause: each delivery event is skipped for a random
 * few of the connected dispatch sockets (CHAOS_LOSS_RATE), as a lost packet would be. Started,
 * stopped and restarted by chaos.test.ts; talks to it over the IPC channel.
 */
import { createApplication, type Application } from '../../server/app';
import { loadConfig } from '../../server/config';
import { openDatabase } from '../../server/db/database';
import { applyMigrations } from '../../server/db/migrate';
import { seedDemo } from '../../server/demo/seed';
import { createSimulator } from '../../server/demo/simulator';
import { createLogger } from '../../server/logger';

const config = loadConfig();
const lossRate = Number(process.env.CHAOS_LOSS_RATE ?? '0');
const logger = createLogger('warn', 'chaos-server');
const send = (msg: unknown) => process.send?.(msg);

const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
await applyMigrations(db.pool);
await seedDemo(db.prisma, { password: config.demo.password, deliveries: 150, ridersPerCenter: 40 });

let lost = 0;
const app: Application = createApplication({
  db: db.prisma,
  logger,
  sessionSecret: config.sessionSecret ?? 'chaos-secret-0123456789abcdefghijklmnop',
  snapshotIntervalMs: config.snapshotIntervalMs,
  lossInjector: () => {
    const skipped = [...(app.ns.dispatch.sockets.keys() ?? [])].filter(() => Math.random() < lossRate);
    lost += skipped.length;
    return skipped;
  },
});
await app.listen(config.port, '127.0.0.1');
const simulator = createSimulator({
  db: db.prisma,
  deliveries: app.services.deliveries,
  logger,
  ordersPerMinute: config.simulator.ordersPerMinute,
  tickMs: config.simulator.tickMs,
  pace: config.simulator.pace,
});
if (config.simulator.enabled) simulator.start();

process.on('message', (msg: { type?: string }) => {
  if (msg.type === 'stop-simulator') {
    void simulator.stop().then(() => send({ type: 'simulator-stopped', stats: simulator.stats, lost }));
  }
});
const shutdown = async () => {
  await simulator.stop();
  await app.close();
  await db.close();
  if (process.send) process.send({ type: 'exit', lost }, () => process.exit(0));
  else process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
send({ type: 'ready' });
