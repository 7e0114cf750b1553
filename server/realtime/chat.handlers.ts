import { z } from 'zod';
import { centerIdSchema, chatHistorySchema, chatSendSchema, rooms } from '../../protocol';
import { policy, requireVisible } from '../auth/policy';
import type { ChatService } from '../chat/chat.service';
import { shareCommands, socketCommand, type CommandDeps } from './ack';
import type { ChatNamespace, ChatSocket } from './types';

const centerRef = z.object({ centerId: centerIdSchema });

const mayChat = (socket: ChatSocket, centerId: number) => {
  requireVisible(policy.chat(socket.data.user, centerId), `Chat of center ${centerId}`);
};

/** The /chat namespace: one room per center; history from the database. Commands are shared by every socket (see socketCommand). */
export function registerChatHandlers(nsp: ChatNamespace, deps: CommandDeps & { chat: ChatService }): void {
  const join = socketCommand(deps, 'chat:join', centerRef, async (socket: ChatSocket, { centerId }) => {
    mayChat(socket, centerId);
    // Join before reading, so a message sent in between arrives as an event (the client's
    // merge by id drops the overlap); leave again if the history cannot be read.
    await socket.join(rooms.center(centerId));
    try {
      return { centerId, messages: await deps.chat.history(centerId) };
    } catch (err) {
      await socket.leave(rooms.center(centerId));
      throw err;
    }
  });
  const leave = socketCommand(deps, 'chat:leave', centerRef, async (socket: ChatSocket, { centerId }) => {
    await socket.leave(rooms.center(centerId));
    return { centerId };
  });
  const history = socketCommand(deps, 'chat:history', chatHistorySchema, async (socket: ChatSocket, { centerId, beforeId }) => {
    mayChat(socket, centerId);
    return deps.chat.history(centerId, beforeId);
  });
  const send = socketCommand(deps, 'chat:send', chatSendSchema, async (socket: ChatSocket, { centerId, body, clientId }) => {
    mayChat(socket, centerId);
    return deps.chat.send(socket.data.user, centerId, body, clientId);
  });
  shareCommands<ChatSocket>(nsp, { 'chat:join': join, 'chat:leave': leave, 'chat:history': history, 'chat:send': send });
}
