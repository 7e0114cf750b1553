import type { Logger } from '../logger';
import type { PeriodLock } from './lock';

export interface PeriodicJobOptions {
  name: string;
  intervalMs: number;
  lock: PeriodLock;
  logger: Logger;
  run: (period: number) => Promise<unknown>;
  now?: () => number;
  /** Only the cluster's job owner runs (see leadership.ts); default: this process always may. */
  leader?: () => boolean;
}

/**
 * A job that runs once per period across all server processes: every process ticks, the one that
 * claims the period (local lock, or SET NX in Redis) runs it. Runs never overlap in a process;
 * a failed run is logged and the next period tries again.
 */
export function createPeriodicJob(opts: PeriodicJobOptions) {
  const now = opts.now ?? (() => Date.now());
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function tick(): Promise<boolean> {
    if (opts.leader && !opts.leader()) return false;
    const period = Math.floor(now() / opts.intervalMs);
    if (!(await opts.lock.claim(opts.name, period, opts.intervalMs * 2))) return false;
    await opts.run(period);
    return true;
  }

  return {
    tick,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (running) return;
        running = tick()
          .then(() => undefined)
          .catch((err: unknown) => opts.logger.error({ err, job: opts.name }, 'periodic job failed'))
          .finally(() => {
            running = undefined;
          });
      }, opts.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
export type PeriodicJob = ReturnType<typeof createPeriodicJob>;
