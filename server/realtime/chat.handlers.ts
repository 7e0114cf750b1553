import { z } from 'zod';
import { centerIdSchema, chatHistorySchema, chatSendSchema, rooms } from '../../protocol';
import { policy } from '../auth/policy';
import type { ChatService } from '../chat/chat.service';
import { AppError } from '../errors';
import { command, type CommandDeps } from './ack';
import type { ChatNamespace, ChatSocket } from './types';

const centerRef = z.object({ centerId: centerIdSchema });

/** The /chat namespace: one room per center; history from the database. */
export function registerChatHandlers(nsp: ChatNamespace, deps: CommandDeps & { chat: ChatService }): void {
  nsp.on('connection', (socket: ChatSocket) => {
    const user = socket.data.user;
    const mayChat = (centerId: number) => {
      if (!policy.chat(user, centerId)) throw new AppError('forbidden', 'You may not use this center’s chat');
    };
    socket.on(
      'chat:join',
      command(deps, 'chat:join', centerRef, async ({ centerId }) => {
        mayChat(centerId);
        const messages = await deps.chat.history(centerId);
        await socket.join(rooms.center(centerId));
        return { centerId, messages };
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
