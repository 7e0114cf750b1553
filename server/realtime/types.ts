import type { Namespace, Socket } from 'socket.io';
import type {
  CallcenterClientEvents,
  CallcenterServerEvents,
  ChatClientEvents,
  ChatServerEvents,
  DispatchClientEvents,
  DispatchServerEvents,
  MonitorClientEvents,
  MonitorServerEvents,
  SessionUser,
} from '../../protocol';

/** What the server keeps on every authenticated socket. */
export interface SocketData {
  user: SessionUser;
  /** The session the socket signed in with: signing out ends its sockets. */
  sid: string;
}

type NoServerToServer = Record<string, never>;
export type DispatchNamespace = Namespace<DispatchClientEvents, DispatchServerEvents, NoServerToServer, SocketData>;
export type ChatNamespace = Namespace<ChatClientEvents, ChatServerEvents, NoServerToServer, SocketData>;
export type CallcenterNamespace = Namespace<CallcenterClientEvents, CallcenterServerEvents, NoServerToServer, SocketData>;
export type MonitorNamespace = Namespace<MonitorClientEvents, MonitorServerEvents, NoServerToServer, SocketData>;
export type DispatchSocket = Socket<DispatchClientEvents, DispatchServerEvents, NoServerToServer, SocketData>;
export type ChatSocket = Socket<ChatClientEvents, ChatServerEvents, NoServerToServer, SocketData>;
export type CallcenterSocket = Socket<CallcenterClientEvents, CallcenterServerEvents, NoServerToServer, SocketData>;
export type MonitorSocket = Socket<MonitorClientEvents, MonitorServerEvents, NoServerToServer, SocketData>;

export interface Namespaces {
  dispatch: DispatchNamespace;
  chat: ChatNamespace;
  callcenter: CallcenterNamespace;
  monitor: MonitorNamespace;
}
