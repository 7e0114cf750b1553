import type { Namespace, Socket } from 'socket.io';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { SocketData } from './types';
import { CLIENT_COMMANDS, PROTOCOL_VERSION, SESSION_COOKIE, rooms, type Hello, type NamespaceName } from '../../protocol';
import { readCookie, type AuthService } from '../auth/auth.service';
import { policy } from '../auth/policy';
import type { Metrics } from '../metrics';
import { routesOf } from './ack';

/** Any namespace's socket as the shared middleware sees it: every namespace greets with `hello`. */
type AuthSocket = Socket<Record<string, never>, Pick<Hello, 'hello'>, Record<string, never>, SocketData>;

/** Commands one socket may send per second before it is told to slow down. */
export const COMMANDS_PER_SECOND = 30;

/** What is left of a handshake's `auth` once its token was used (usually nothing: one shared object). */
const NO_AUTH: Record<string, unknown> = Object.freeze({});
function withoutToken(auth: Record<string, unknown>): Record<string, unknown> {
  const rest = Object.entries(auth).filter(([key]) => key !== 'token');
  return rest.length ? Object.fromEntries(rest) : NO_AUTH;
}

/**
 * Every namespace: refuse sockets without a valid session (cookie or `auth: { token }`) or not
 * allowed in this namespace by the policy, keep the user and its session id on the socket, put it
 * in its private room, greet it, count (then ignore) events that are not commands of
 * this namespace, and answer a socket that floods commands with `rate_limited` instead of running
 * them. A fresh token costs no database read; an expired or stale one is renewed from the database.
 *
 * Every socket gets the same two listeners, built once per namespace: one for every event it
 * sends (commands, observers, the rate limit; server/realtime/ack.ts) and one for its disconnect.
 */
export function secureNamespace(nsp: Namespace, name: NamespaceName, deps: { auth: AuthService; metrics: Metrics; commandsPerSecond?: number }): void {
  const known = new Set<string>(CLIENT_COMMANDS[name]);
  /** Metric labels come only from the catalogue: a client's made-up event names become `other`. */
  const label = (event: unknown) => (typeof event === 'string' && known.has(event) ? event : 'other');
  const limiter = new RateLimiterMemory({ keyPrefix: `sock:${name}`, points: deps.commandsPerSecond ?? COMMANDS_PER_SECOND, duration: 1 });
  nsp.use((socket: AuthSocket, next) => {
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const fromAuth = auth?.token;
    const token = typeof fromAuth === 'string' ? fromAuth : readCookie(socket.handshake.headers.cookie, SESSION_COOKIE);
    deps.auth.authenticate(token).then(
      (session) => {
        if (!session) return next(new Error('unauthorized'));
        if (!policy.connect(session.user, name)) return next(new Error('forbidden'));
        socket.data.user = session.user;
        socket.data.sid = session.sid;
        // The socket keeps its user, not the bearer token it came with (a reconnect, recovered or
        // not, brings its own handshake and is authenticated again).
        if (auth && fromAuth !== undefined) socket.handshake.auth = withoutToken(auth);
        next();
      },
      () => next(new Error('unavailable')),
    );
  });
  const routes = routesOf<AuthSocket>(nsp);
  const refuse = (event: string, ack: unknown) => {
    deps.metrics.commands.inc({ command: label(event), outcome: 'rate_limited' });
    if (typeof ack === 'function') (ack as (res: unknown) => void)({ error: { code: 'rate_limited', message: 'Too many commands; slow down' } });
  };
  /**
   * The one listener of every event a socket sends (Socket.IO calls `onAny` listeners with the
   * socket as `this`, the ack function last): observers see it, unknown names are counted, and
   * a command runs only once the rate limiter admits it and while the socket is still connected.
   */
  function dispatch(this: AuthSocket, event: string, ...args: unknown[]) {
    for (const observe of routes.observers) observe.call(this, event);
    if (!known.has(event)) deps.metrics.unknownEvents.inc({ namespace: name });
    limiter.consume(this.id).then(
      () => {
        if (this.connected) routes.commands.get(event)?.apply(this, args as [unknown, unknown?]);
      },
      () => refuse(event, args[args.length - 1]),
    );
  }
  // Everything kept per socket is released when it goes.
  function depart(this: AuthSocket, reason: string) {
    deps.metrics.sockets.dec({ namespace: name });
    void limiter.delete(this.id);
    for (const fn of routes.departures) fn.call(this, reason);
  }
  nsp.on('connection', (socket: AuthSocket) => {
    const user = socket.data.user;
    void socket.join(rooms.user(user.id));
    deps.metrics.sockets.inc({ namespace: name });
    socket.onAny(dispatch);
    socket.on('disconnect', depart);
    socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, serverTime: new Date().toISOString(), user });
  });
}
