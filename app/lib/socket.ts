import { io, type Socket } from 'socket.io-client';
import { NAMESPACES, isAckError, type Ack, type DispatchClientEvents, type DispatchServerEvents } from '@/protocol';

export type DispatchSocket = Socket<DispatchServerEvents, DispatchClientEvents>;

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
export async function request<E extends CommandName>(
  socket: DispatchSocket,
  event: E,
  payload: unknown,
  timeoutMs = 10_000,
): Promise<AckData<E>> {
  // Commands take (payload, ack); Socket.IO's generic tuple types cannot be narrowed per E here.
  const withTimeout = socket.timeout(timeoutMs) as unknown as {
    emitWithAck(event: E, payload: unknown): Promise<Ack<AckData<E>>>;
  };
  const res = await withTimeout.emitWithAck(event, payload);
  if (isAckError(res)) throw new Error(`${res.error.code}: ${res.error.message}`);
  return res.data;
}
