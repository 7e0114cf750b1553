import {
  MQTT_QOS,
  deviceAckSchema,
  deviceStatusSchema,
  isRetainedState,
  mqttTopics,
  parseMqttTopic,
  toShopOrderMessage,
  type DeliveryRow,
  type ShopStatus,
} from '../../protocol';
import type { DeliveriesService } from '../deliveries/deliveries.service';
import type { DevicesService } from '../devices/devices.service';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { MqttMetrics } from './mqtt.metrics';
import type { MqttTransport } from './transport';

export interface MqttBridgeDeps {
  transport: MqttTransport;
  devices: DevicesService;
  deliveries: DeliveriesService;
  metrics: MqttMetrics;
  logger: Logger;
  /** A shop's device liveness flipped: dispatchers are told. */
  onShopStatus(status: ShopStatus): void;
}

/**
 * Between committed changes and the broker, both ways:
 * - out: each committed delivery change of a shop's order becomes one QoS 1 message on
 *   dd/v1/shops/<shopId>/orders/<orderNo>. While the order is open the message is retained (a
 *   device that comes back sees the last state at once); its final state (delivered, cancelled)
 *   is published unretained and then the retained state is cleared with an empty retained
 *   payload, so the broker holds open orders only. Publishes leave in commit order.
 * - in: device heartbeats / last wills (liveness) and acknowledgements ("received by the shop's
 *   device" on the order's timeline).
 */
export function createMqttBridge(deps: MqttBridgeDeps) {
  const { transport, devices, deliveries, metrics, logger } = deps;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  function enqueue(step: () => Promise<void>): void {
    chain = chain.then(step).catch((err: unknown) => {
      metrics.publishFailures.inc();
      logger.warn({ err: (err as Error).message }, 'mqtt publish failed');
    });
  }

  async function onStatus(topic: string, payload: Buffer): Promise<void> {
    const t = parseMqttTopic(topic);
    const body = safeJson(payload);
    const msg = deviceStatusSchema.safeParse(body);
    if (!t || t.kind !== 'status' || !msg.success) return void metrics.inbound.inc({ kind: 'status', outcome: 'invalid' });
    const changed = await devices.recordStatus(t.username, t.shopId, msg.data.state);
    metrics.inbound.inc({ kind: 'status', outcome: 'ok' });
    if (changed) deps.onShopStatus(changed);
  }

  async function onAck(topic: string, payload: Buffer): Promise<void> {
    const t = parseMqttTopic(topic);
    const msg = deviceAckSchema.safeParse(safeJson(payload));
    if (!t || t.kind !== 'ack' || !msg.success) return void metrics.inbound.inc({ kind: 'ack', outcome: 'invalid' });
    try {
      const row = await deliveries.shopReceived(msg.data.orderNo, t.shopId, `device:${t.username}`);
      metrics.inbound.inc({ kind: 'ack', outcome: row ? 'ok' : 'repeat' });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      metrics.inbound.inc({ kind: 'ack', outcome: 'refused' });
    }
  }

  const guard = (kind: string, fn: (topic: string, payload: Buffer) => Promise<void>) => (topic: string, payload: Buffer) => {
    if (closed) return;
    fn(topic, payload).catch((err: unknown) => logger.error({ err, kind, topic }, 'device message failed'));
  };

  return {
    /** Called after commit for every delivery change (from the same notifier as Socket.IO). */
    deliveryChanged(row: DeliveryRow): void {
      const msg = toShopOrderMessage(row);
      if (!msg || closed) return;
      const topic = mqttTopics.shopOrder(msg.shopId, msg.orderNo);
      const payload = JSON.stringify(msg);
      enqueue(async () => {
        if (isRetainedState(msg)) {
          await transport.publish(topic, payload, { qos: MQTT_QOS, retain: true });
        } else {
          await transport.publish(topic, payload, { qos: MQTT_QOS, retain: false });
          await transport.publish(topic, '', { qos: MQTT_QOS, retain: true }); // clear the retained state
        }
        metrics.published.inc({ event: msg.event });
      });
    },
    async start(): Promise<void> {
      await transport.subscribe(mqttTopics.allDeviceStatus(), guard('status', onStatus));
      await transport.subscribe(mqttTopics.allDeviceAcks(), guard('ack', onAck));
    },
    /** Resolves when every publish queued so far has been handed to the broker. */
    flush(): Promise<void> {
      return chain;
    },
    async close(): Promise<void> {
      closed = true;
      await chain;
      await transport.close();
    },
  };
}
export type MqttBridge = ReturnType<typeof createMqttBridge>;

function safeJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
