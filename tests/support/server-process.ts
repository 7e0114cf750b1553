import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** One parsed pino log line of a server process. */
export type LogLine = Record<string, unknown> & { msg?: string; pid?: number; time?: number };

export interface ServerProcess {
  child: ChildProcess;
  /** Every JSON log line so far (primary and workers write to the same stdout). */
  logs: LogLine[];
  /** Resolve with the first log line (past or future) that matches, or reject after `ms`. */
  waitForLog(match: (l: LogLine) => boolean, ms?: number, label?: string): Promise<LogLine>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  stderr(): string;
}

/**
 * Start the real server entry (server/index.ts through tsx) as its own process with `env` on top
 * of a quiet test environment; the test owns it and must stop it.
 */
export function startServerProcess(env: Record<string, string>, opts: { prefix?: string[] } = {}): ServerProcess {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const cmd = [...(opts.prefix ?? []), process.execPath, '--import', 'tsx', 'server/index.ts'];
  const child = spawn(cmd[0]!, cmd.slice(1), {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', SERVE_PAGES: 'off', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let buf = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    logs,
    exited,
    stderr: () => err,
    waitForLog(match, ms = 30_000, label = 'log line') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = logs.find(match);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${label} not logged within ${ms} ms; stderr: ${err.slice(-500)}; last logs: ${JSON.stringify(logs.slice(-5))}`));
        }, ms);
        if (!check()) waiters.add(check);
      });
    },
  };
}
