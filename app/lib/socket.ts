import { useEffect } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { EventsMap } from '@socket.io/component-emitter';
import { NAMESPACES, isAckError, type Ack, type DispatchClientEvents, type ErrorBody, type NamespaceName } from '@/protocol';
import type { DispatchClientSocket } from './delivery-sync';

export type DispatchSocket = DispatchClientSocket;

/**
 * A browser socket to one namespace; the session cookie authenticates it. It is created closed:
 * `useSocketLifetime` opens it while the component that owns it is mounted.
 */
export function connectNamespace<S extends EventsMap, C extends EventsMap>(namespace: NamespaceName): Socket<S, C> {
  return io(namespace, {
    autoConnect: false,
    transports: ['websocket', 'polling'],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
}

/**
 * Keep a socket open while the calling component is mounted (and closed after). Components
 * create the socket during render (`useMemo`, not connected) so it is there for the first
 * render that needs it; only opening and closing are effects.
 */
export function useSocketLifetime(socket: { connect(): unknown; disconnect(): unknown } | null): void {
  useEffect(() => {
    if (!socket) return;
    socket.connect();
    return () => {
      socket.disconnect();
    };
  }, [socket]);
}

export function connectDispatch(): DispatchSocket {
  return connectNamespace(NAMESPACES.dispatch);
}

/** What a command answers with, read from the namespace's typed command map. */
export type CommandData<C, E extends keyof C> = C[E] extends (payload: unknown, ack: (res: Ack<infer T>) => void) => void ? T : never;

/** An error a command or request answered with: the server's code and message. */
export type ServerError = Error & { code?: ErrorBody['code']; details?: unknown };

/**
 * Send a command on any namespace and resolve with its data; rejects with a ServerError carrying
 * the server's code, message and details (or a timeout).
 */
export async function sendCommand<S extends EventsMap, C extends EventsMap, E extends keyof C & string>(
  socket: Socket<S, C>,
  event: E,
  payload: unknown,
  timeoutMs = 10_000,
): Promise<CommandData<C, E>> {
  // Commands take (payload, ack); Socket.IO's generic tuple types cannot be narrowed per E here.
  const withTimeout = socket.timeout(timeoutMs) as unknown as { emitWithAck(event: E, payload: unknown): Promise<Ack<CommandData<C, E>>> };
  const res = await withTimeout.emitWithAck(event, payload);
  if (isAckError(res)) throw Object.assign(new Error(res.error.message), { code: res.error.code, details: res.error.details }) as ServerError;
  return res.data;
}

/** /dispatch commands. */
export function request<E extends Extract<keyof DispatchClientEvents, string>>(socket: DispatchSocket, event: E, payload: unknown, timeoutMs = 10_000) {
  return sendCommand(socket, event, payload, timeoutMs);
}
