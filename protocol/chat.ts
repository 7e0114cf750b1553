import { z } from 'zod';
import { centerIdSchema, idSchema } from './deliveries';

export const CHAT_MAX_LENGTH = 500;
export const CHAT_PAGE_SIZE = 50;

export const chatMessageSchema = z.object({
  id: z.number().int().positive(),
  centerId: z.number().int().positive(),
  userId: z.number().int().positive().nullable(),
  authorName: z.string(),
  body: z.string(),
  createdAt: z.string().datetime({ offset: true }),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const chatSendSchema = z.object({
  centerId: centerIdSchema,
  body: z
    .string()
    .trim()
    .min(1, 'Message is empty')
    .max(CHAT_MAX_LENGTH, `Message is longer than ${CHAT_MAX_LENGTH} characters`),
  /** Chosen by the sender per message: a retry with the same id is answered with the stored message. */
  clientId: z.string().min(8).max(100).regex(/^[A-Za-z0-9_:.-]+$/).optional(),
});
export const chatHistorySchema = z.object({
  centerId: centerIdSchema,
  beforeId: idSchema.optional(),
});
