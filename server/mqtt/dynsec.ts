import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { MQTT_TOPIC_ROOT, mqttTopics } from '../../protocol';

const CONTROL = '$CONTROL/dynamic-security/v1';
const SERVER_ROLE = 'dd-server';
const deviceRole = (username: string) => `dd-device-${username}`;

interface DynsecResponse {
  command: string;
  error?: string;
  correlationData?: string;
  data?: { client?: { roles?: { rolename: string }[] } };
}

/**
 * Keeps an external Mosquitto's ACL in step with the device registry, through its dynamic security
 * plugin (`$CONTROL/dynamic-security/v1`), as the admin user of MQTT_URL:
 * - a role `dd-server` lets the server publish and subscribe under dd/v1/ (given to itself);
 * - each device is a dynsec client with its own password and a role `dd-device-<username>` that
 *   may subscribe to its shop's orders and publish only its own status and ack topics.
 * Everything else stays refused by the plugin's default ACL (publish and subscribe denied).
 */
export function createDynsec(client: MqttClient, opts: { timeoutMs?: number } = {}) {
  const pending = new Map<string, (r: DynsecResponse) => void>();
  let subscribed: Promise<unknown> | undefined;
  const onMessage = (topic: string, payload: Buffer) => {
    if (topic !== `${CONTROL}/response`) return;
    try {
      const body = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
      for (const r of body.responses ?? []) {
        const resolve = r.correlationData ? pending.get(r.correlationData) : undefined;
        if (resolve) resolve(r);
      }
    } catch {
      // not a dynsec answer
    }
  };
  client.on('message', onMessage);

  /** Run commands; an error other than the ones tolerated (e.g. "already exists") rejects. */
  async function run(commands: ({ command: string } & Record<string, unknown>)[], tolerate: RegExp = /^$/): Promise<DynsecResponse[]> {
    subscribed ??= client.subscribeAsync(`${CONTROL}/response`, { qos: 1 });
    await subscribed;
    const tagged = commands.map((c) => ({ ...c, correlationData: randomUUID() }));
    const answers = tagged.map(
      (c) =>
        new Promise<DynsecResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            pending.delete(c.correlationData);
            reject(new Error(`the broker did not answer ${c.command} on ${CONTROL}: is the dynamic security plugin enabled and the MQTT_URL user its admin?`));
          }, opts.timeoutMs ?? 5_000);
          pending.set(c.correlationData, (r) => {
            clearTimeout(timer);
            pending.delete(c.correlationData);
            resolve(r);
          });
        }),
    );
    await client.publishAsync(CONTROL, JSON.stringify({ commands: tagged }), { qos: 1 });
    const responses = await Promise.all(answers);
    for (const r of responses) {
      if (r.error && !tolerate.test(r.error)) throw new Error(`dynamic security ${r.command}: ${r.error}`);
    }
    return responses;
  }

  return {
    /** Give the server's own MQTT user the right to publish orders and hear devices. */
    async ensureServerRole(serverUsername: string): Promise<void> {
      await run(
        [
          {
            command: 'createRole',
            rolename: SERVER_ROLE,
            acls: [
              { acltype: 'publishClientSend', topic: `${MQTT_TOPIC_ROOT}/#`, priority: 0, allow: true },
              { acltype: 'subscribePattern', topic: `${MQTT_TOPIC_ROOT}/#`, priority: 0, allow: true },
            ],
          },
        ],
        /already exists/i,
      );
      const [me] = await run([{ command: 'getClient', username: serverUsername }]);
      if (me?.data?.client?.roles?.some((r) => r.rolename === SERVER_ROLE)) return;
      // Mosquitto disconnects a client whose roles change (so it re-authenticates): the answer may
      // never come; the client reconnects (and resubscribes) by itself.
      const reconnected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
      await client.publishAsync(CONTROL, JSON.stringify({ commands: [{ command: 'addClientRole', username: serverUsername, rolename: SERVER_ROLE, priority: 10 }] }), { qos: 1 });
      await Promise.race([reconnected, new Promise((resolve) => setTimeout(resolve, opts.timeoutMs ?? 5_000))]);
      const [after] = await run([{ command: 'getClient', username: serverUsername }]);
      if (!after?.data?.client?.roles?.some((r) => r.rolename === SERVER_ROLE)) throw new Error(`could not give ${serverUsername} the ${SERVER_ROLE} role`);
    },

    /** Create (or replace) a device's client and role on the broker. */
    async provisionDevice(d: { username: string; password: string; shopId: number }): Promise<void> {
      const role = deviceRole(d.username);
      await run([{ command: 'deleteClient', username: d.username }, { command: 'deleteRole', rolename: role }], /not found/i);
      await run([
        {
          command: 'createRole',
          rolename: role,
          acls: [
            { acltype: 'subscribePattern', topic: `${MQTT_TOPIC_ROOT}/shops/${d.shopId}/orders/#`, priority: 0, allow: true },
            { acltype: 'publishClientSend', topic: mqttTopics.deviceStatus(d.shopId, d.username), priority: 0, allow: true },
            { acltype: 'publishClientSend', topic: mqttTopics.deviceAck(d.shopId, d.username), priority: 0, allow: true },
          ],
        },
        { command: 'createClient', username: d.username, password: d.password, roles: [{ rolename: role }] },
      ]);
    },

    /** A revoked device can no longer connect; a connected one is disconnected by the broker. */
    async removeDevice(username: string): Promise<void> {
      await run([{ command: 'deleteClient', username }, { command: 'deleteRole', rolename: deviceRole(username) }], /not found/i);
    },

    dispose() {
      client.off('message', onMessage);
    },
  };
}
export type Dynsec = ReturnType<typeof createDynsec>;
