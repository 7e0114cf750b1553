import os from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../logger';
import type { MqttTransport } from './transport';

/**
 * An external broker (Mosquitto here; EMQX, HiveMQ elsewhere) reached with the `mqtt` client.
 * The server publishes shop order messages to it and hears device topics through a shared
 * subscription (`$share/<group>/...`), so in a cluster each device message is handled by one
 * process only. Reconnects by itself; publishes wait for the connection (QoS 1, queued).
 */
export async function connectExternalBroker(opts: { url: string; shareGroup?: string; logger: Logger; clientId?: string }): Promise<MqttTransport & { client: MqttClient }> {
  const { logger } = opts;
  const share = opts.shareGroup ?? 'dispatch-desk';
  const client = await mqtt.connectAsync(opts.url, {
    clientId: opts.clientId ?? `dd-server-${os.hostname()}-${process.pid}`.slice(0, 64),
    clean: true,
    reconnectPeriod: 2_000,
    connectTimeout: 10_000,
    protocolVersion: 4,
  });
  client.on('error', (err) => logger.warn({ err: err.message }, 'mqtt broker error'));
  client.on('offline', () => logger.warn('mqtt broker unreachable; retrying'));
  client.on('reconnect', () => logger.info('mqtt broker reconnecting'));
  const handlers: { filter: string; handler: (topic: string, payload: Buffer) => void }[] = [];
  client.on('message', (topic, payload) => {
    for (const h of handlers) if (matches(h.filter, topic)) h.handler(topic, payload);
  });

  return {
    kind: 'external',
    client,
    async publish(topic, payload, o) {
      await client.publishAsync(topic, payload, { qos: o.qos, retain: o.retain });
    },
    async subscribe(filter, handler) {
      handlers.push({ filter, handler });
      const granted = await client.subscribeAsync(`$share/${share}/${filter}`, { qos: 1 });
      if (granted.some((g) => g.qos === 128)) throw new Error(`the broker refused the server's subscription to ${filter}: grant it to the MQTT_URL user`);
    },
    async close() {
      await client.endAsync();
    },
  };
}

/** MQTT topic filter match (+ one level, # the rest). */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
