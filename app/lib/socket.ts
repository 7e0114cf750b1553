import { io } from 'socket.io-client';
import { NAMESPACES, isAckError, type Ack, type DispatchClientEvents } from '@/protocol';
import type { DispatchClientSocket } from './delivery-sync';

export type DispatchSocket = DispatchClientSocket;

/** The browser's /dispatch socket; the session cookie authenticates it. */
export function connectDispatch(): DispatchSocket {
  return io(NAMESPACES.dispatch, {
    transports: ['websocket', 'polling'],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
}

type CommandName = keyof DispatchClientEvents;
type AckData<E extends CommandName> = Parameters<DispatchClientEvents[E]>[1] extends (res: Ack<infer T>) => void ? T : never;

/** Send a command and resolve with its data; rejects with the server's error message. */
export async function request<E extends CommandName>(socket: DispatchSocket, event: E, payload: unknown, timeoutMs = 10_000): Promise<AckData<E>> {
  // Commands take (payload, ack); Socket.IO's generic tuple types cannot be narrowed per E here.
  const withTimeout = socket.timeout(timeoutMs) as unknown as { emitWithAck(event: E, payload: unknown): Promise<Ack<AckData<E>>> };
  const res = await withTimeout.emitWithAck(event, payload);
  if (isAckError(res)) throw Object.assign(new Error(res.error.message), { code: res.error.code, details: res.error.details });
  return res.data;
}
