import { z } from 'zod';
import { centerIdSchema, chatHistorySchema, chatSendSchema, rooms } from '../../protocol';
import { policy, requireVisible } from '../auth/policy';
import type { ChatService } from '../chat/chat.service';
import { command, type CommandDeps } from './ack';
import type { ChatNamespace, ChatSocket } from './types';

const centerRef = z.object({ centerId: centerIdSchema });

/** The /chat namespace: one room per center; history from the database. */
export function registerChatHandlers(nsp: ChatNamespace, deps: CommandDeps & { chat: ChatService }): void {
  nsp.on('connection', (socket: ChatSocket) => {
    const user = socket.data.user;
    const mayChat = (centerId: number) => {
      requireVisible(policy.chat(user, centerId), `Chat of center ${centerId}`);
    };
    socket.on(
      'chat:join',
      command(deps, 'chat:join', centerRef, async ({ centerId }) => {
        mayChat(centerId);
        // Join before reading, so a message sent in between arrives as an event (the client's
        // merge by id drops the overlap); leave again if the history cannot be read.
        await socket.join(rooms.center(centerId));
        try {
          return { centerId, messages: await deps.chat.history(centerId) };
        } catch (err) {
          await socket.leave(rooms.center(centerId));
          throw err;
        }
      }),
    );
    socket.on(
      'chat:leave',
      command(deps, 'chat:leave', centerRef, async ({ centerId }) => {
        await socket.leave(rooms.center(centerId));
        return { centerId };
      }),
    );
    socket.on(
      'chat:history',
      command(deps, 'chat:history', chatHistorySchema, async ({ centerId, beforeId }) => {
        mayChat(centerId);
        return deps.chat.history(centerId, beforeId);
      }),
    );
    socket.on(
      'chat:send',
      command(deps, 'chat:send', chatSendSchema, async ({ centerId, body, clientId }) => {
        mayChat(centerId);
        return deps.chat.send(user, centerId, body, clientId);
      }),
    );
  });
}
