import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino: fast, well kept, the Node default for services). */
export function createLogger(level: string, name = 'dispatch-desk'): Logger {
  return pino({ name, level });
}
