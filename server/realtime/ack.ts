import type { z } from 'zod';
import type { Ack, AckCallback } from '../../protocol';
import { AppError, toErrorBody } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';

export interface CommandDeps {
  logger: Logger;
  metrics: Metrics;
}

/**
 * Wrap a command handler: validate the payload at the edge, run it, answer through the ack with
 * `{data}` or `{error}`. Unexpected errors are logged and reported generically. A client that
 * sends no ack function gets nothing back, but the command still runs safely.
 */
export function command<S extends z.ZodType, T>(
  deps: CommandDeps,
  name: string,
  schema: S,
  run: (input: z.infer<S>) => Promise<T>,
): (payload: unknown, ack?: unknown) => void {
  return (payload, ack) => {
    const reply: AckCallback<T> = typeof ack === 'function' ? (ack as AckCallback<T>) : () => undefined;
    const parsed = schema.safeParse(payload ?? {});
    if (!parsed.success) {
      deps.metrics.commands.inc({ command: name, outcome: 'bad_request' });
      reply({ error: toErrorBody(AppError.fromZod(parsed.error, `${name} payload`)) });
      return;
    }
    const end = deps.metrics.commandSeconds.startTimer({ command: name });
    run(parsed.data).then(
      (data) => {
        end();
        deps.metrics.commands.inc({ command: name, outcome: 'ok' });
        reply({ data } satisfies Ack<T>);
      },
      (err: unknown) => {
        end();
        const body = toErrorBody(err);
        deps.metrics.commands.inc({ command: name, outcome: body.code });
        if (!(err instanceof AppError)) deps.logger.error({ err, command: name }, 'command failed');
        reply({ error: body });
      },
    );
  };
}
