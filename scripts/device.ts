/**
 * Register shops' order-receipt devices (MQTT and the polling fallback).
 *
 *   npm run device -- create <shopId> <name>   prints the device's username and password once; only a hash is stored
 *   npm run device -- list [shopId]
 *   npm run device -- revoke <username>
 *   npm run device -- shops [centerId]         the shops devices can be registered for
 *
 * Uses DATABASE_URL, or the embedded database in DATA_DIR (stop the server first: one process
 * owns an embedded data folder). With MQTT_URL set (and MQTT_DYNSEC on), the device's account and
 * ACL are created on (or removed from) the external Mosquitto broker too, through its dynamic
 * security plugin.
 */
import { loadConfig } from '../server/config';
import { runCli } from './cli';
import { openDatabase } from '../server/db/database';
import { applyMigrations } from '../server/db/migrate';
import { createDevicesService } from '../server/devices/devices.service';
import { createDynsec } from '../server/mqtt/dynsec';
import { connectExternalBroker } from '../server/mqtt/external';
import { createLogger } from '../server/logger';
import { mqttTopics } from '../protocol';

const USAGE = 'usage: npm run device -- create <shopId> <name> | list [shopId] | revoke <username> | shops [centerId]';

async function withBroker<T>(url: string | undefined, fn: (dynsec: ReturnType<typeof createDynsec> | undefined) => Promise<T>): Promise<T> {
  if (!url) return fn(undefined);
  const broker = await connectExternalBroker({ url, logger: createLogger('warn'), clientId: `dd-device-cli-${process.pid}` });
  try {
    return await fn(createDynsec(broker.client));
  } finally {
    await broker.close();
  }
}

async function main(): Promise<number> {
  const [cmd, a, ...rest] = process.argv.slice(2);
  const b = rest.join(' ');
  if (!cmd || !['create', 'list', 'revoke', 'shops'].includes(cmd) || (cmd === 'create' && (!a || !b)) || (cmd === 'revoke' && !a)) {
    console.error(USAGE);
    return 2;
  }
  const numeric = (v: string | undefined) => (v === undefined ? undefined : /^[1-9]\d{0,9}$/.test(v) ? Number(v) : NaN);
  const id = numeric(a);
  if ((cmd !== 'revoke' && Number.isNaN(id)) || (cmd === 'create' && id === undefined)) {
    console.error(`device: ${a ?? ''} is not a valid id\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  const brokerUrl = config.mqtt.mode === 'external' && config.mqtt.dynsec ? config.mqtt.url : undefined;
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    await applyMigrations(db.pool);
    const devices = createDevicesService({ db: db.prisma });
    if (cmd === 'create') {
      const created = await devices.create(id!, b);
      await withBroker(brokerUrl, async (dynsec) => {
        try {
          await dynsec?.provisionDevice(created);
        } catch (err) {
          await devices.revoke(created.username);
          throw err;
        }
      });
      console.log(`Created device "${created.name}" for shop ${created.shopId}${brokerUrl ? ' (and its account on the MQTT broker)' : ''}. The password is shown only now:\n`);
      console.log(`  username: ${created.username}\n  password: ${created.password}\n`);
      console.log(`Subscribe to ${mqttTopics.shopOrders(created.shopId)} (QoS 1); poll GET /api/shops/${created.shopId}/orders with HTTP Basic.`);
    } else if (cmd === 'list') {
      const rows = await db.prisma.device.findMany({ where: id ? { shopId: id } : {}, include: { shop: { select: { name: true } } }, orderBy: { id: 'asc' } });
      if (rows.length === 0) console.log('No devices.');
      for (const d of rows) {
        const state = d.revokedAt ? `revoked ${d.revokedAt.toISOString()}` : d.online ? 'online' : 'offline';
        console.log(`${d.username.padEnd(24)} shop ${String(d.shopId).padEnd(4)} ${d.shop.name.padEnd(22)} ${d.name.padEnd(24)} ${state}  last seen ${d.lastSeenAt?.toISOString() ?? 'never'}`);
      }
    } else if (cmd === 'revoke') {
      await devices.revoke(a!);
      await withBroker(brokerUrl, async (dynsec) => dynsec?.removeDevice(a!));
      console.log(`Revoked ${a}.`);
    } else {
      const shops = await db.prisma.shop.findMany({ where: id ? { centerId: id } : {}, include: { _count: { select: { devices: { where: { revokedAt: null } } } } }, orderBy: { id: 'asc' } });
      for (const s of shops) console.log(`${String(s.id).padEnd(5)} center ${String(s.centerId).padEnd(3)} ${s.name.padEnd(24)} ${s._count.devices} device(s)`);
    }
    return 0;
  } finally {
    await db.close();
  }
}

runCli('device', main);
