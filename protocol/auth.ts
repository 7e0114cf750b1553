import { z } from 'zod';

export const ROLES = ['dispatcher', 'hq', 'rider', 'callcenter', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The signed-in user as clients see it. */
export const sessionUserSchema = z.object({
  id: z.number().int().positive(),
  email: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  centerIds: z.array(z.number().int().positive()),
  riderId: z.number().int().positive().nullable(),
});
export type SessionUser = z.infer<typeof sessionUserSchema>;

export const credentialsSchema = z.object({
  email: z.string().trim().toLowerCase().email().max(200),
  password: z.string().min(1).max(200),
});

export const SESSION_COOKIE = 'dd_session';
