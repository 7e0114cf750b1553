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

/** Something every event a socket sends is shown (a counter, presence): called with the socket as `this`. */
export type EventObserver<Sock> = (this: Sock, event: string) => void;
/** Called with the socket as `this` when it disconnects. */
export type Departure<Sock> = (this: Sock, reason: string) => void;

/**
 * A namespace's commands, event observers and disconnect hooks: one table per namespace, read by
 * one listener per socket (server/realtime/auth.middleware.ts, which runs every event through the
 * namespace's gate first). A socket then holds one `onAny` listener and one `disconnect` listener
 * instead of one per command and feature: Node keeps a socket's listeners in a dictionary that
 * grew to about 800 bytes with the 17 commands of /dispatch.
 */
export interface Routes<Sock> {
  commands: Map<string, SharedListener<Sock>>;
  observers: EventObserver<Sock>[];
  departures: Departure<Sock>[];
}

const routesByNamespace = new WeakMap<object, Routes<unknown>>();

/** The routes of a namespace (made on first use: features register before or after the gate). */
export function routesOf<Sock>(nsp: object): Routes<Sock> {
  let routes = routesByNamespace.get(nsp);
  if (!routes) routesByNamespace.set(nsp, (routes = { commands: new Map(), observers: [], departures: [] }));
  return routes;
}

/**
 * Give every socket of a namespace the same commands: the table is built once and each event is
 * looked up in it (see `socketCommand`), so a connection adds no closures and no listeners.
 * Event names are the table's keys; a name registered twice is a programming error.
 */
export function shareCommands<Sock>(nsp: object, table: Record<string, SharedListener<Sock>>): void {
  const { commands } = routesOf<Sock>(nsp);
  for (const [event, listener] of Object.entries(table)) {
    if (commands.has(event)) throw new Error(`command ${event} is registered twice`);
    commands.set(event, listener);
  }
}

/** Show every event of a namespace's sockets to `observer` (before the rate limit: flooding counts too). */
export function observeEvents<Sock>(nsp: object, observer: EventObserver<Sock>): void {
  routesOf<Sock>(nsp).observers.push(observer);
}

/** Run `fn` when any socket of the namespace disconnects. */
export function onDeparture<Sock>(nsp: object, fn: Departure<Sock>): void {
  routesOf<Sock>(nsp).departures.push(fn);
}
