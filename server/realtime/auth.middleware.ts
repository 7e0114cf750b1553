import type { Namespace, Socket } from 'socket.io';
import type { SocketData } from './types';
import { CLIENT_COMMANDS, PROTOCOL_VERSION, SESSION_COOKIE, rooms, type Hello, type NamespaceName, type SessionUser } from '../../protocol';
import { readCookie, type AuthService } from '../auth/auth.service';
import type { Metrics } from '../metrics';
import { RateLimiterMemory } from 'rate-limiter-flexible';

/** Any namespace's socket as the shared middleware sees it: every namespace greets with `hello`. */
type AuthSocket = Socket<Record<string, never>, Pick<Hello, 'hello'>, Record<string, never>, SocketData>;

/** Commands one socket may send per second before it is told to slow down. */
export const COMMANDS_PER_SECOND = 30;

/**
 * Every namespace: refuse sockets without a valid session cookie or `auth: { token }`, keep the
 * user on the socket, put it in its private room, greet it, count (then ignore) events that are
 * not commands of this namespace, and answer a socket that floods commands with `rate_limited`
 * instead of running them.
 */
export function secureNamespace(
  nsp: Namespace,
  name: NamespaceName,
  deps: { auth: AuthService; metrics: Metrics },
  allow: (user: SessionUser) => boolean = () => true,
): void {
  const known = new Set<string>(CLIENT_COMMANDS[name]);
  const limiter = new RateLimiterMemory({ keyPrefix: `sock:${name}`, points: COMMANDS_PER_SECOND, duration: 1 });
  nsp.use((socket: AuthSocket, next) => {
    const fromAuth = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    const token = typeof fromAuth === 'string' ? fromAuth : readCookie(socket.handshake.headers.cookie, SESSION_COOKIE);
    deps.auth.authenticate(token).then(
      (user) => {
        if (!user) return next(new Error('unauthorized'));
        if (!allow(user)) return next(new Error('forbidden'));
        socket.data.user = user;
        next();
      },
      () => next(new Error('unavailable')),
    );
  });
  nsp.on('connection', (socket: AuthSocket) => {
    const user = socket.data.user;
    void socket.join(rooms.user(user.id));
    deps.metrics.sockets.inc({ namespace: name });
    socket.on('disconnect', () => deps.metrics.sockets.dec({ namespace: name }));
    socket.onAny((event: string) => {
      if (!known.has(event)) deps.metrics.unknownEvents.inc({ namespace: name });
    });
    socket.use((packet, next) => {
      limiter.consume(socket.id).then(
        () => next(),
        () => {
          deps.metrics.commands.inc({ command: String(packet[0]), outcome: 'rate_limited' });
          const ack: unknown = packet[packet.length - 1];
          if (typeof ack === 'function') (ack as (res: unknown) => void)({ error: { code: 'rate_limited', message: 'Too many commands; slow down' } });
        },
      );
    });
    socket.on('disconnect', () => void limiter.delete(socket.id));
    socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, serverTime: new Date().toISOString(), user });
  });
}
