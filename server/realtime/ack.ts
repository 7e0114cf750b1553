import type { z } from 'zod';
import type { Ack, AckCallback } from '../../protocol';
import { AppError, toErrorBody } from '../errors';
import type { Logger } from '../logger';

/**
 * Wrap a command handler: validate the payload at the edge, run it, answer through the ack with
 * `{data}` or `{error}`. Unexpected errors are logged and reported generically. A client that
 * sends no ack function gets nothing back but the command still runs safely.
 */
export function command<S extends z.ZodType, T>(
  logger: Logger,
  name: string,
  schema: S,
  run: (input: z.infer<S>) => Promise<T>,
): (payload: unknown, ack?: unknown) => void {
  return (payload, ack) => {
    const reply: AckCallback<T> = typeof ack === 'function' ? (ack as AckCallback<T>) : () => undefined;
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      reply({ error: toErrorBody(AppError.fromZod(parsed.error, `${name} payload`)) });
      return;
    }
    run(parsed.data).then(
      (data) => reply({ data } satisfies Ack<T>),
      (err: unknown) => {
        if (!(err instanceof AppError)) logger.error({ err, command: name }, 'command failed');
        reply({ error: toErrorBody(err) });
      },
    );
  };
}
