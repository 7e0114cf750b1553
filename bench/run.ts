/**
 * `npm run bench [-- options]`: run the benchmarks against a real server in its own process and
 * print a markdown report (progress goes to stderr).
 *
 *   npm run bench                                   every benchmark, default options
 *   npm run bench -- --only publish-latency --clients 1,1000 --messages 200
 *   npm run bench -- --list | --help
 *
 * A benchmark is a module exporting a `Benchmark` (bench/types.ts); add it to BENCHMARKS below and
 * it gets its own section. The server (production build, throw-away PostgreSQL database) is
 * started on first use and shared; the server is pinned to one CPU and this process to another
 * when taskset and two CPUs are available. Everything is torn down at the end, on failure, on
 * Ctrl-C, and when the time budget (--budget seconds) runs out.
 */
import fs from 'node:fs';
import os from 'node:os';
import { assignDialog } from './assign-dialog';
import { capacity } from './capacity';
import { liveList } from './live-list';
import { monitorUpdate } from './monitor-update';
import { mqttFanout } from './mqtt-fanout';
import { publishLatency } from './publish-latency';
import { allowedCpus, classifyOutput, Cleanup, hasTaskset, parseArgs, pinSelf, startServer, UsageError, type OptionSpec, type ParsedArgs, type ServerHandle } from './lib';
import type { Benchmark, BenchContext, BenchReport } from './types';

const BENCHMARKS: Benchmark[] = [publishLatency, assignDialog, liveList, capacity, mqttFanout, monitorUpdate];

const RUNNER_OPTIONS: OptionSpec[] = [
  { name: 'only', description: 'comma-separated benchmark names to run', defaultText: 'all' },
  { name: 'budget', description: 'seconds the whole run may take before it is stopped and cleaned up', defaultText: '170' },
  { name: 'pg', description: 'PostgreSQL admin URL used to create and drop the throw-away database (or BENCH_PG_URL)', defaultText: 'postgresql://postgres@127.0.0.1:5432/postgres' },
];

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function usage(): string {
  const opt = (o: OptionSpec) => `    --${o.name.padEnd(10)} ${o.description} (default: ${o.defaultText})`;
  return [
    'usage: npm run bench -- [--only name[,name]] [options]',
    '',
    'runner options:',
    ...RUNNER_OPTIONS.map(opt),
    '',
    ...BENCHMARKS.flatMap((b) => [`${b.name}: ${b.summary}`, ...b.options.map(opt), '']),
  ].join('\n');
}

function select(args: ParsedArgs): Benchmark[] {
  const unknown = args.only.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length) throw new UsageError(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  const chosen = args.only.length ? BENCHMARKS.filter((b) => args.only.includes(b.name)) : BENCHMARKS;
  const known = new Set([...RUNNER_OPTIONS, ...chosen.flatMap((b) => b.options)].map((o) => o.name));
  const stray = [...args.options.keys()].filter((k) => !known.has(k));
  if (stray.length) throw new UsageError(`unknown option ${stray.map((s) => `--${s}`).join(', ')} for ${chosen.map((b) => b.name).join(', ')}`);
  return chosen;
}

function printReport(report: BenchReport): void {
  const out = [`## ${report.title}`, '', ...report.blocks.flatMap((b) => [b, ''])];
  if (report.notes.length) out.push('Notes:', ...report.notes.map((n) => `- ${n}`), '');
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<number> {
  let args: ParsedArgs;
  let chosen: Benchmark[];
  try {
    args = parseArgs(process.argv.slice(2));
    chosen = select(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${usage()}\n`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (args.list) {
    for (const b of BENCHMARKS) process.stdout.write(`${b.name}\t${b.summary}\n`);
    return 0;
  }
  const budgetS = Number(args.options.get('budget') ?? 170);
  if (!Number.isFinite(budgetS) || budgetS < 30) {
    process.stderr.write('bench: --budget must be at least 30 seconds\n');
    return 2;
  }
  const adminUrl = args.options.get('pg') ?? process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

  const started = performance.now();
  const cleanup = new Cleanup();
  let exiting = false;
  const abort = (why: string, code: number) => {
    if (exiting) return;
    exiting = true;
    log(`${why}: cleaning up`);
    void cleanup.run().then((failures) => {
      for (const f of failures) log(`cleanup failed: ${f}`);
      process.exit(code);
    });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => abort(`got ${sig}`, 130));
  const watchdog = setTimeout(() => abort(`time budget of ${budgetS} s exceeded`, 1), budgetS * 1000);
  watchdog.unref();

  // CPUs: server on the first allowed one, this process on the second.
  const cpus = allowedCpus();
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  let serverCpu: number | null = null;
  let benchCpu: number | null = null;
  let pinning = `not pinned (${!hasTaskset() ? 'no taskset' : `only ${cpus.length} CPU allowed`})`;
  if (cpus.length >= 2 && hasTaskset()) {
    if (pinSelf(cpus[1]!)) {
      benchCpu = cpus[1]!;
      serverCpu = cpus[0]!;
      pinning = `server on CPU ${serverCpu}, bench client on CPU ${benchCpu} (taskset); PostgreSQL not pinned`;
    } else {
      pinning = 'not pinned (taskset -p failed)';
    }
  }

  let serverStart: Promise<ServerHandle> | undefined;
  const ctx: BenchContext = {
    args,
    log,
    adminUrl,
    deadline: started + (budgetS - 20) * 1000,
    cpus: { server: serverCpu, bench: benchCpu },
    cleanup,
    server() {
      serverStart ??= startServer({ cleanup, log, cpu: serverCpu, adminUrl });
      return serverStart;
    },
  };

  /** The kernel's cap on a listening socket's queue: past it, a burst of connects waits for TCP's SYN retries (1, 3, 7, 15 s). */
  const listenQueue = () => {
    try {
      return `net.core.somaxconn ${fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()} (a server's backlog is capped there; connects past it wait for TCP's SYN retries)`;
    } catch {
      return 'unknown (no /proc/sys/net/core/somaxconn)';
    }
  };
  process.stdout.write(
    [
      '# Dispatch Desk benchmarks',
      '',
      `- ${new Date().toISOString()}, Node ${process.version}, ${cpuModel}, ${cpus.length} CPU(s) allowed: ${cpus.join(',')}`,
      `- pinning: ${pinning}`,
      `- listen queue: ${listenQueue()}`,
      '',
    ].join('\n') + '\n',
  );

  let code = 0;
  try {
    for (const b of chosen) {
      try {
        const report = await b.run(ctx);
        printReport(report);
      } catch (err) {
        code = 1;
        if (err instanceof UsageError) {
          process.stderr.write(`bench: ${err.message}\n\n${usage()}\n`);
          return 2;
        }
        printReport({ title: b.name, blocks: [`FAILED: ${(err as Error).stack ?? String(err)}`], notes: [] });
      }
    }
    if (serverStart) {
      const server = await serverStart.catch(() => undefined);
      if (server) {
        const { warnings, errors, other } = classifyOutput(server.output());
        const footer = [`Server: pid ${server.pid}, \`${server.command}\`, database ${server.database} (dropped at the end).`];
        footer.push(`Server log at LOG_LEVEL=warn: ${errors.length} error(s), ${warnings.length} warning(s); ${other.length} other output line(s) (Next.js start-up).`);
        const shown = [...errors, ...warnings].slice(-10);
        if (shown.length) footer.push(`\n\`\`\`\n${shown.join('\n')}\n\`\`\``);
        process.stdout.write(`${footer.join('\n')}\n`);
      }
    }
  } finally {
    if (!exiting) {
      exiting = true;
      log('cleaning up');
      for (const f of await cleanup.run()) {
        log(`cleanup failed: ${f}`);
        code = 1;
      }
      log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
