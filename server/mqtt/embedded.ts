import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { deviceMayPublish, deviceMaySubscribe, type DevicePrincipal } from '../auth/policy';
import type { Logger } from '../logger';
import { countRefusal, type MqttMetrics } from './mqtt.metrics';
import type { MqttTransport } from './transport';

export interface EmbeddedBrokerOptions {
  /** TCP port for MQTT (0 picks a free one). */
  port: number;
  host?: string | undefined;
  /** Serve MQTT over WebSocket on this http server at `wsPath` too. */
  httpServer?: HttpServer | undefined;
  wsPath?: string | undefined;
  /** Device credentials -> principal, or null to refuse. */
  authenticate(username: string | undefined, password: string | undefined): Promise<DevicePrincipal | null>;
  metrics: MqttMetrics;
  logger: Logger;
}

export type EmbeddedBroker = MqttTransport & { readonly port: number; readonly connectedClients: () => number };

function authError(): AuthenticateError {
  const err = new Error('Bad device username or password') as AuthenticateError;
  err.returnCode = 4; // BAD_USERNAME_OR_PASSWORD (a const enum in aedes' types)
  return err;
}

/**
 * The embedded broker: aedes (mosca's maintained successor) in this process, on its own TCP port
 * and over WebSocket on the main http server. Only devices connect to it; every connect,
 * subscribe and publish goes through the device rules of server/auth/policy.ts, and every
 * refusal is counted. The server itself publishes and subscribes in process (no socket).
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { metrics, logger } = opts;
  const principals = new WeakMap<Client, DevicePrincipal>();
  const broker = new Aedes({
    id: 'dispatch-desk',
    // A subscriber that stops reading must not stall delivery to everyone else (aedes' docs:
    // without a drain timeout one frozen client can deadlock a topic).
    drainTimeout: 10_000,
    authenticate(client, username, password, done) {
      opts
        .authenticate(username, password?.toString('utf8'))
        .then((principal) => {
          if (!principal) {
            countRefusal(metrics, 'connect');
            return done(authError(), false);
          }
          principals.set(client, principal);
          done(null, true);
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'device authentication failed');
          const e = new Error('Server unavailable') as AuthenticateError;
          e.returnCode = 3;
          done(e, false);
        });
    },
    authorizeSubscribe(client, sub, done) {
      const p = principals.get(client);
      if (p && deviceMaySubscribe(p, sub.topic)) return done(null, sub);
      countRefusal(metrics, 'subscribe');
      done(null, null); // SUBACK 0x80: refused, the connection stays
    },
    authorizePublish(client, packet, done) {
      const p = client ? principals.get(client) : undefined;
      if (!client) return done(null); // the server's own publishes
      if (p && deviceMayPublish(p, packet.topic)) return done(null);
      countRefusal(metrics, 'publish');
      done(new Error('Not authorized to publish here'));
    },
  });
  await broker.listen();
  broker.on('clientReady', () => metrics.clients.set(broker.connectedClients));
  broker.on('clientDisconnect', () => metrics.clients.set(broker.connectedClients));
  broker.on('clientError', (client, err) => logger.debug({ err: err.message, clientId: client.id }, 'mqtt client error'));

  const tcp: NetServer = createNetServer((socket: Socket) => broker.handle(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(opts.port, opts.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  tcp.on('error', (err) => logger.error({ err }, 'mqtt listener error'));

  let wss: WebSocketServer | undefined;
  let onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  if (opts.httpServer && opts.wsPath) {
    const path = opts.wsPath;
    const ws = new WebSocketServer({ noServer: true });
    wss = ws;
    onUpgrade = (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== path) return; // Socket.IO and Next handle theirs
      ws.handleUpgrade(req, socket, head, (conn) => broker.handle(createWebSocketStream(conn), req));
    };
    opts.httpServer.on('upgrade', onUpgrade);
  }

  return {
    kind: 'embedded',
    port: (tcp.address() as AddressInfo).port,
    connectedClients: () => broker.connectedClients,
    publish(topic, payload, o) {
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: o.qos, retain: o.retain, dup: false }, (err) => (err ? reject(err) : resolve())),
      );
    },
    subscribe(filter, handler) {
      return new Promise((resolve) =>
        broker.subscribe(
          filter,
          (packet, cb) => {
            handler(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
            cb();
          },
          () => resolve(),
        ),
      );
    },
    async close() {
      if (onUpgrade) opts.httpServer?.off('upgrade', onUpgrade);
      for (const c of wss?.clients ?? []) c.terminate();
      wss?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
