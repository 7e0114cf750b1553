import type { z } from 'zod';
import type { Ack, AckCallback } from '../../protocol';
import { AppError, nulRefusal, toErrorBody } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';

export interface CommandDeps {
  logger: Logger;
  metrics: Metrics;
}

/**
 * Run one command: validate the payload at the edge, run it, answer through the ack with
 * `{data}` or `{error}`. Unexpected errors are logged and reported generically. A client that
 * sends no ack function gets nothing back, but the command still runs safely.
 */
function execute<S extends z.ZodType, T>(
  deps: CommandDeps,
  name: string,
  schema: S,
  payload: unknown,
  ack: unknown,
  run: (input: z.infer<S>) => Promise<T>,
): void {
  const reply: AckCallback<T> = typeof ack === 'function' ? (ack as AckCallback<T>) : () => undefined;
  const parsed = schema.safeParse(payload ?? {});
  const refused = parsed.success ? nulRefusal(parsed.data, `${name} payload`) : AppError.fromZod(parsed.error, `${name} payload`);
  if (!parsed.success || refused) {
    deps.metrics.commands.inc({ command: name, outcome: 'bad_request' });
    reply({ error: toErrorBody(refused) });
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
}

/** A socket listener that Socket.IO calls with the socket as `this`. */
export type SharedListener<Sock> = (this: Sock, payload: unknown, ack?: unknown) => void;

/**
 * A command shared by every socket of a namespace: ONE function object, built once and
 * registered on each socket (Socket.IO calls listeners with the socket as `this`), where a
 * wrapper per socket would allocate a closure (and its context) per socket and command. With
 * thousands of sockets that would be most of a connection's handler memory.
 */
export function socketCommand<Sock, S extends z.ZodType, T>(
  deps: CommandDeps,
  name: string,
  schema: S,
  run: (socket: Sock, input: z.infer<S>) => Promise<T>,
): SharedListener<Sock> {
  return function (this: Sock, payload: unknown, ack?: unknown) {
    execute(deps, name, schema, payload, ack, (input) => run(this, input));
  };
}

/**
 * Give every socket of a namespace the same command listeners: the table is built once and each
 * connecting socket registers its function objects (see `socketCommand`), so a connection adds
 * no closures. Event names are the table's keys.
 */
export function shareCommands<Sock>(nsp: { on(event: 'connection', listener: (socket: Sock) => void): unknown }, table: Record<string, SharedListener<Sock>>): void {
  const entries = Object.entries(table);
  nsp.on('connection', (socket) => {
    const target = socket as unknown as { on(event: string, listener: SharedListener<Sock>): unknown };
    for (const [event, listener] of entries) target.on(event, listener);
  });
}
