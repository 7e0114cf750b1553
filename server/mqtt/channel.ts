import type { Server as HttpServer } from 'node:http';
import type { DeliveryRow, ShopStatus } from '../../protocol';
import type { DeliveriesService } from '../deliveries/deliveries.service';
import type { DevicesService, NewDeviceCredentials } from '../devices/devices.service';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { createMqttBridge, type MqttBridge } from './bridge';
import { createDynsec, type Dynsec } from './dynsec';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded';
import { connectExternalBroker } from './external';
import { createMqttMetrics } from './mqtt.metrics';

/** Where the shop devices' broker is. */
export type MqttOptions =
  | { mode: 'embedded'; port: number; host?: string | undefined; websocket?: boolean | undefined }
  | { mode: 'external'; url: string; dynsec?: boolean | undefined; shareGroup?: string | undefined };

/** The path of MQTT over WebSocket on the main http server (embedded broker). */
export const MQTT_WS_PATH = '/mqtt';

/**
 * The shop devices' MQTT channel of one application: the broker (embedded aedes, or a client of
 * an external one, with Mosquitto dynamic-security provisioning), and the bridge between committed
 * changes and topics. Nothing listens or connects until `start`.
 */
export function createMqttChannel(
  opts: MqttOptions,
  deps: { httpServer: HttpServer; devices: DevicesService; deliveries: DeliveriesService; metrics: Metrics; logger: Logger; onShopStatus(s: ShopStatus): void },
) {
  const metrics = createMqttMetrics(deps.metrics);
  const logger = deps.logger.child({ component: 'mqtt' });
  let bridge: MqttBridge | undefined;
  let embedded: EmbeddedBroker | undefined;
  let dynsec: Dynsec | undefined;

  return {
    metrics,
    /** After commit: the change goes to its shop's topic (dropped before start). */
    deliveryChanged(row: DeliveryRow): void {
      bridge?.deliveryChanged(row);
    },
    async start(): Promise<void> {
      if (opts.mode === 'embedded') {
        embedded = await startEmbeddedBroker({
          port: opts.port,
          host: opts.host,
          httpServer: opts.websocket === false ? undefined : deps.httpServer,
          wsPath: MQTT_WS_PATH,
          authenticate: (u, p) => deps.devices.authenticate(u, p),
          metrics,
          logger,
        });
        bridge = createMqttBridge({ transport: embedded, ...deps, metrics, logger });
        logger.info({ port: embedded.port, websocket: opts.websocket === false ? null : MQTT_WS_PATH }, 'embedded MQTT broker listening');
      } else {
        const external = await connectExternalBroker({ url: opts.url, shareGroup: opts.shareGroup, logger });
        if (opts.dynsec !== false) {
          dynsec = createDynsec(external.client);
          const username = decodeURIComponent(new URL(opts.url).username);
          if (username) await dynsec.ensureServerRole(username);
        }
        bridge = createMqttBridge({ transport: external, ...deps, metrics, logger });
        logger.info({ broker: new URL(opts.url).host, dynsec: opts.dynsec !== false }, 'publishing to external MQTT broker');
      }
      await bridge.start();
    },
    /** The embedded broker's TCP port (undefined for an external broker or before start). */
    port: (): number | undefined => embedded?.port,
    /** Creates a new device's account on the external broker (dynamic security), when managed here. */
    provision: (d: NewDeviceCredentials): Promise<void> => (dynsec ? dynsec.provisionDevice(d) : Promise.resolve()),
    removeDevice: (username: string): Promise<void> => (dynsec ? dynsec.removeDevice(username) : Promise.resolve()),
    /** Resolves once everything published so far reached the broker. */
    flush: (): Promise<void> => bridge?.flush() ?? Promise.resolve(),
    async close(): Promise<void> {
      dynsec?.dispose();
      await bridge?.close();
    },
  };
}
export type MqttChannel = ReturnType<typeof createMqttChannel>;
