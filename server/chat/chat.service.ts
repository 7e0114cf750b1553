import { CHAT_PAGE_SIZE, type ChatMessage, type SessionUser } from '../../protocol';
import type { Db } from '../db/database';
import { Prisma, type ChatMessage as ChatMessageModel } from '../db/generated/client';
import { AppError } from '../errors';

function toMessage(m: ChatMessageModel, centerId: number): ChatMessage {
  return { id: m.id, centerId, userId: m.userId, authorName: m.authorName, body: m.body, createdAt: m.createdAt.toISOString() };
}

/**
 * Center chat kept in the database: history survives restarts. Message text is stored and sent
 * as plain text; clients render it as text, never as HTML.
 */
export function createChatService(db: Db, onMessage: (msg: ChatMessage) => void) {
  async function roomOf(centerId: number) {
    const room = await db.chatRoom.findUnique({ where: { centerId } });
    if (!room) throw new AppError('not_found', `No chat for center ${centerId}`);
    return room;
  }
  return {
    /** The newest page (oldest first), or the page before `beforeId`. */
    async history(centerId: number, beforeId?: number): Promise<ChatMessage[]> {
      const room = await roomOf(centerId);
      const rows = await db.chatMessage.findMany({
        where: { roomId: room.id, ...(beforeId ? { id: { lt: beforeId } } : {}) },
        orderBy: { id: 'desc' },
        take: CHAT_PAGE_SIZE,
      });
      return rows.reverse().map((m) => toMessage(m, centerId));
    },
    /** Store and broadcast a message; a retry with the same clientId returns the stored one, once. */
    async send(user: SessionUser, centerId: number, body: string, clientId?: string): Promise<ChatMessage> {
      const room = await roomOf(centerId);
      try {
        const m = await db.chatMessage.create({ data: { roomId: room.id, userId: user.id, authorName: user.name, body, clientId: clientId ?? null } });
        const msg = toMessage(m, centerId);
        onMessage(msg);
        return msg;
      } catch (err) {
        if (!(clientId && err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
        const prior = await db.chatMessage.findFirstOrThrow({ where: { roomId: room.id, userId: user.id, clientId } });
        return toMessage(prior, centerId);
      }
    },
  };
}
export type ChatService = ReturnType<typeof createChatService>;
