import type { Cleanup, OptionSpec, ParsedArgs, ServerHandle } from './lib';

/** What every benchmark gets from the runner. */
export interface BenchContext {
  args: ParsedArgs;
  /** The shared server under test, started on first use and stopped by the runner. */
  server(): Promise<ServerHandle>;
  /** Progress line (stderr), not part of the report. */
  log(msg: string): void;
  /** PostgreSQL admin URL; the server's database is `server().database` on the same host. */
  adminUrl: string;
  /** performance.now() by which the benchmark must have finished. */
  deadline: number;
  /** The run's cleanup: steps added here run even when the time budget runs out or on Ctrl-C. */
  cleanup: Cleanup;
  /** CPU for servers under test and the CPU this process is pinned to (null: not pinned). */
  cpus: { server: number | null; bench: number | null };
}

/** A benchmark's section of the report. */
export interface BenchReport {
  title: string;
  /** Markdown blocks (tables, paragraphs) printed in order. */
  blocks: string[];
  /** Anything odd: loss, errors, caveats. */
  notes: string[];
}

export interface Benchmark {
  name: string;
  summary: string;
  options: OptionSpec[];
  run(ctx: BenchContext): Promise<BenchReport>;
}
