import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../metrics';
import type { RefusalReason } from './transport';

/** MQTT channel metrics, registered on the application's registry. */
export function createMqttMetrics(metrics: Metrics) {
  const registers = [metrics.registry];
  return {
    refused: new Counter({
      name: 'dd_mqtt_refused_total',
      help: 'Device requests refused by the broker policy, by action (connect, subscribe, publish)',
      labelNames: ['action'] as const,
      registers,
    }),
    published: new Counter({
      name: 'dd_mqtt_published_total',
      help: 'Shop order messages published to the broker, by event',
      labelNames: ['event'] as const,
      registers,
    }),
    publishFailures: new Counter({ name: 'dd_mqtt_publish_failures_total', help: 'Publishes the broker did not accept', registers }),
    inbound: new Counter({
      name: 'dd_mqtt_device_messages_total',
      help: 'Device messages handled, by kind (status, ack) and outcome',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    clients: new Gauge({ name: 'dd_mqtt_connected_clients', help: 'MQTT clients connected to the embedded broker of this node', registers }),
  };
}
export type MqttMetrics = ReturnType<typeof createMqttMetrics>;
export const countRefusal = (m: MqttMetrics, action: RefusalReason) => m.refused.inc({ action });
