/**
 * Shared pieces of the benchmarks: option parsing, statistics, markdown tables, CPU pinning,
 * process readings from /proc, and a real server in its own process over a throw-away
 * PostgreSQL database (created here, dropped WITH (FORCE) at the end, even on failure).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import WebSocket, { type RawData } from 'ws';
import { createApiKey } from '../server/auth/apikeys';
import { mallocEnv } from '../server/cluster/primary';
import { openDatabase } from '../server/db/database';
import { seedDemo } from '../server/demo/seed';
import { rawText } from './ws-text';

export { sleep };

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** One option a benchmark understands: `--name value` or `--name=value`. */
export interface OptionSpec {
  name: string;
  description: string;
  /** Shown in --help; the benchmark applies it. */
  defaultText: string;
}

export interface ParsedArgs {
  /** Benchmarks named by --only (comma separated or repeated); empty means all. */
  only: string[];
  help: boolean;
  list: boolean;
  options: Map<string, string>;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { only: [], help: false, list: false, options: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (arg === '--list') {
      out.list = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string;
    if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      value = next;
      i += 1;
    }
    if (name === 'only') out.only.push(...value.split(',').map((s) => s.trim()).filter(Boolean));
    else out.options.set(name, value);
  }
  return out;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** A comma-separated list of positive integers (`1,1000`). */
export function intListOption(args: ParsedArgs, name: string, fallback: number[]): number[] {
  const raw = args.options.get(name);
  if (raw === undefined) return fallback;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new UsageError(`--${name} must be a comma-separated list of whole numbers (got "${raw}")`);
  }
  return values;
}

export function intOption(args: ParsedArgs, name: string, fallback: number, min = 0): number {
  const raw = args.options.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be a whole number >= ${min} (got "${raw}")`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables
// ---------------------------------------------------------------------------------------------

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted.length ? sorted[0]! : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

export function fmt(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  return n.toFixed(digits);
}

export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// CPUs and /proc
// ---------------------------------------------------------------------------------------------

/** CPUs this process may run on (Cpus_allowed_list), e.g. [0, 1]. */
export function allowedCpus(): number[] {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1]?.trim();
    if (list) {
      const cpus: number[] = [];
      for (const part of list.split(',')) {
        const [a, b] = part.split('-').map(Number);
        if (a === undefined || !Number.isInteger(a)) continue;
        for (let c = a; c <= (b ?? a); c++) cpus.push(c);
      }
      if (cpus.length) return cpus;
    }
  } catch {
    // not Linux: fall through
  }
  return Array.from({ length: os.availableParallelism() }, (_, i) => i);
}

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Pin every thread of this process to one CPU; true when it worked. */
export function pinSelf(cpu: number): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Resident set size of a process in MB, from /proc/<pid>/status (VmRSS). */
export function readRssMb(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s*(\d+)\s*kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Live heap of a Node process after forced full garbage collections, in MB, read through its
 * inspector (the process was started with `--inspect=127.0.0.1:<port>`): what its objects hold,
 * without the allocator's and the young generation's slack that RSS includes. Null when the
 * inspector does not answer.
 */
export async function heapAfterGcMb(inspectPort: number): Promise<number | null> {
  let socket: WebSocket | undefined;
  try {
    const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`, { signal: AbortSignal.timeout(5000) })).json()) as { webSocketDebuggerUrl?: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) return null;
    const ws = new WebSocket(url);
    socket = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let nextId = 0;
    const call = (method: string, params: object = {}) =>
      new Promise<{ result?: { result?: { value?: unknown } }; error?: { message: string } }>((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 60_000);
        const onMessage = (raw: RawData) => {
          const msg = JSON.parse(rawText(raw)) as { id?: number };
          if (msg.id !== id) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          resolve(msg as never);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method, params }));
      });
    // Several passes: a full collection can leave garbage that only the next one finds (weak
    // references, finalizers).
    for (let i = 0; i < 3; i++) await call('HeapProfiler.collectGarbage');
    const used = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
    const bytes = used.result?.result?.value;
    return typeof bytes === 'number' ? bytes / 1e6 : null;
  } catch {
    return null;
  } finally {
    socket?.close();
  }
}

/** Busy and total time of one CPU since boot, in clock ticks. */
export interface CoreTimes {
  busy: number;
  total: number;
}

/**
 * Each CPU's busy and total time from the text of /proc/stat (its `cpuN` lines; the sum line is
 * skipped). Busy is everything but idle and iowait; guest time is already inside user time.
 */
export function parseCoreTimes(text: string): Map<number, CoreTimes> {
  const out = new Map<number, CoreTimes>();
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = m[2]!.trim().split(/\s+/).map(Number);
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    out.set(Number(m[1]), { busy: total - idle - iowait, total });
  }
  return out;
}

/** Every CPU's times now (empty where /proc/stat cannot be read). */
export function readCoreTimes(): Map<number, CoreTimes> {
  try {
    return parseCoreTimes(fs.readFileSync('/proc/stat', 'utf8'));
  } catch {
    return new Map();
  }
}

/** How busy one CPU was between two readings, in %, or null if it was not in both or no time passed. */
export function coreBusyPct(before: Map<number, CoreTimes>, after: Map<number, CoreTimes>, cpu: number | null): number | null {
  if (cpu === null) return null;
  const a = before.get(cpu);
  const b = after.get(cpu);
  if (!a || !b || b.total <= a.total) return null;
  return ((b.busy - a.busy) * 100) / (b.total - a.total);
}

let clockTicks: number | undefined;
/** CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat. */
export function readCpuMs(pid: number): number | null {
  try {
    clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks : null;
  } catch {
    return null;
  }
}

/** CPU use of this process and another between start() and stop(), as % of one core. */
export function cpuMeter(otherPid: number) {
  const wall0 = performance.now();
  const self0 = process.cpuUsage();
  const other0 = readCpuMs(otherPid);
  return {
    stop(): { selfPct: number; otherPct: number | null } {
      const wall = performance.now() - wall0;
      const self = process.cpuUsage(self0);
      const other1 = readCpuMs(otherPid);
      return {
        selfPct: (((self.user + self.system) / 1000) * 100) / wall,
        otherPct: other0 !== null && other1 !== null ? ((other1 - other0) * 100) / wall : null,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cleanup that runs even on failure
// ---------------------------------------------------------------------------------------------

export class Cleanup {
  private readonly steps: { label: string; fn: () => Promise<void> | void }[] = [];
  private running: Promise<string[]> | undefined;

  /** Steps run in reverse order of registration. */
  add(label: string, fn: () => Promise<void> | void): void {
    this.steps.push({ label, fn });
  }

  /** Run every step once; returns the failures (never throws). */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      while (this.steps.length) {
        const step = this.steps.pop()!;
        try {
          await step.fn();
        } catch (err) {
          failures.push(`${step.label}: ${(err as Error).message}`);
        }
      }
      return failures;
    })();
    return this.running;
  }
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

export interface ServerHandle {
  url: string;
  pid: number;
  /** How it was started, for the report. */
  command: string;
  /** CPU the server is pinned to, or null. */
  cpu: number | null;
  database: string;
  apiKey: string;
  /** The embedded MQTT broker's TCP port (shop devices). */
  mqttPort: number;
  /** A session token through the real POST /api/auth/token. */
  token(email: string, password?: string): Promise<string>;
  rssMb(): number | null;
  /** Lines the server wrote to stdout/stderr (LOG_LEVEL=warn: warnings and errors only). */
  output(): string[];
}

export interface StartServerOptions {
  /** Registered cleanup steps stop the server and drop the database. */
  cleanup: Cleanup;
  log: (msg: string) => void;
  cpu: number | null;
  /** `postgresql://…/postgres` used to create and drop the throw-away database. */
  adminUrl: string;
  /** Extra environment for the server. */
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** Use this database as it is (another server already created and migrated it); not dropped here. */
  reuseDatabase?: string;
  /** Database name to create (default dd_bench_<pid>). */
  databaseName?: string;
  /** Session secret (servers that must accept each other's tokens share one). */
  sessionSecret?: string;
  /** Raise the server's open-file soft limit to the hard limit (thousands of sockets). */
  raiseOpenFiles?: boolean;
  /**
   * Seed the demo from this process instead of the server's: a production server never seeds,
   * and seeding leaves its memory high for the rest of its life (about 200 MB of allocator heap
   * that is never given back), which would count as the server's idle cost.
   */
  seedHere?: boolean;
  /** Extra Node options for the server (cluster workers inherit them), e.g. --cpu-prof. */
  nodeOptions?: string[];
  /** A cgroup's process file (createCpuCap): the server and its workers run within that CPU budget. */
  cpuCap?: string | null;
}

export const DEMO_PASSWORD = process.env.DEMO_PASSWORD || 'demo';

/** A free TCP port on loopback (asked from the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Build the production server if it is missing (`npm run build`), then say how to run it. */
function serverEntry(log: (msg: string) => void): string[] {
  const root = process.cwd();
  const built = () => fs.existsSync(path.join(root, '.next', 'BUILD_ID')) && fs.existsSync(path.join(root, 'dist', 'server.js'));
  if (!built()) {
    log('no production build (.next/BUILD_ID, dist/server.js): running npm run build');
    const r = spawnSync('npm', ['run', 'build'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !built()) throw new Error('npm run build failed');
  } else {
    const builtAt = fs.statSync(path.join(root, 'dist', 'server.js')).mtimeMs;
    const newer = newestSource(['server', 'protocol'].map((d) => path.join(root, d)));
    if (newer > builtAt) log('warning: server/ or protocol/ changed after dist/server.js was built; measuring the built server');
  }
  return ['--enable-source-maps', 'dist/server.js'];
}

function newestSource(dirs: string[]): number {
  let newest = 0;
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'generated' || entry.name.startsWith('.')) continue;
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  dirs.forEach(walk);
  return newest;
}

async function waitFor(what: string, deadline: number, child: ChildProcess, output: () => string[], probe: () => Promise<boolean>): Promise<void> {
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${output().slice(-20).join('\n')}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`server not ${what} in time:\n${output().slice(-20).join('\n')}`);
    await sleep(100);
  }
}

function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Run a command with the open-file soft limit raised to the hard limit (one process holds at most
 * that many sockets); unchanged when `raise` is false.
 */
export function withOpenFiles(raise: boolean, [cmd, args]: [string, string[]]): [string, string[]] {
  if (!raise) return [cmd, args];
  return ['sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', cmd, ...args]];
}

/**
 * A CPU budget of its own for one node: a cgroup whose CFS quota lets its processes (a server and
 * every worker it forks) run `percent` % of one CPU, in 10 ms periods (a short period, so a node
 * that spends its share waits at most a few milliseconds for the next). Two nodes capped alike on
 * one core stand for two machines of that size, which this machine cannot give the servers
 * otherwise. Needs a writable cgroup `cpu` controller (root): v1 at /sys/fs/cgroup/cpu, or v2
 * with `cpu` among /sys/fs/cgroup's controllers. Returns the file that takes a process id.
 */
export function createCpuCap(percent: number, name: string, cleanup: Cleanup): string {
  const periodUs = 10_000;
  const quotaUs = Math.round((percent / 100) * periodUs);
  const v1 = '/sys/fs/cgroup/cpu';
  const v2 = '/sys/fs/cgroup';
  let dir: string;
  try {
    if (fs.existsSync(path.join(v1, 'cpu.cfs_quota_us'))) {
      dir = path.join(v1, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(periodUs));
      fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
    } else if (fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) {
      fs.writeFileSync(path.join(v2, 'cgroup.subtree_control'), '+cpu');
      dir = path.join(v2, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`);
    } else {
      throw new Error('no cgroup cpu controller');
    }
  } catch (err) {
    throw new Error(`a CPU cap needs a writable cgroup cpu controller (root; v1 at ${v1} or v2 at ${v2}): ${(err as Error).message}`);
  }
  const procs = path.join(dir, 'cgroup.procs');
  cleanup.add(`remove cgroup ${name}`, async () => {
    // Its processes are stopped by then (cleanup runs in reverse); a killed one may take a moment to go.
    for (let k = 0; ; k++) {
      try {
        fs.rmdirSync(dir);
        return;
      } catch (err) {
        if (k >= 20) throw err;
        await sleep(250);
      }
    }
  });
  return procs;
}

/** Run a command inside a CPU cap (its process id written to `procsFile` before it starts); unchanged when null. */
export function withCpuCap(procsFile: string | null, [cmd, args]: [string, string[]]): [string, string[]] {
  if (procsFile === null) return [cmd, args];
  return ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', procsFile, cmd, ...args]];
}

/** Stop a child process: SIGTERM, then SIGKILL after `timeoutMs`. */
export { stopChild };

/**
 * A throw-away PostgreSQL database, the production server on a free loopback port in its own
 * process (pinned to `cpu` with taskset), seeded demo accounts, and one API key.
 */
export async function startServer(opts: StartServerOptions): Promise<ServerHandle> {
  const { cleanup, log } = opts;
  const database = opts.reuseDatabase ?? opts.databaseName ?? `dd_bench_${process.pid}`;
  const databaseUrl = withDatabase(opts.adminUrl, database);
  if (!opts.reuseDatabase) {
    await adminQuery(opts.adminUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await adminQuery(opts.adminUrl, `CREATE DATABASE "${database}"`);
    cleanup.add(`drop database ${database}`, () => adminQuery(opts.adminUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
    log(`created database ${database}`);
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd-bench-'));
  cleanup.add('remove data dir', () => fs.rmSync(dataDir, { recursive: true, force: true }));

  const nodeArgs = [...(opts.nodeOptions ?? []), ...serverEntry(log)];
  const port = await freePort();
  const mqttPort = await freePort();
  const pin = opts.cpu !== null;
  const [cmd, args] = withOpenFiles(
    opts.raiseOpenFiles ?? false,
    withCpuCap(opts.cpuCap ?? null, pin ? ['taskset', ['-c', String(opts.cpu), process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs]),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    NEXT_TELEMETRY_DISABLED: '1',
    ...mallocEnv(),
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    SESSION_SECRET: opts.sessionSecret ?? randomBytes(32).toString('base64url'),
    DEMO_SEED: opts.seedHere ? 'off' : 'on',
    DEMO_PASSWORD,
    SIMULATOR: 'off',
    LOG_LEVEL: 'warn',
    API_RATE_PER_SEC: '100000',
    MQTT_PORT: String(mqttPort),
    // The server is pinned to one CPU: one process (which also keeps the embedded MQTT broker on).
    WORKERS: '1',
    ...opts.env,
  };
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.add('stop server', () => stopChild(child, 12_000));
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(line);
    if (lines.length > 1000) lines.splice(0, lines.length - 1000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${cmd}`);
  const command = `${opts.cpuCap ? `(cgroup ${path.basename(path.dirname(opts.cpuCap))}) ` : ''}${pin ? `taskset -c ${opts.cpu} ` : ''}node ${nodeArgs.join(' ')}${opts.env?.WORKERS ? ` (WORKERS=${opts.env.WORKERS})` : ''}`;
  log(`started server pid ${pid}: ${command} on 127.0.0.1:${port}`);

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  const output = () => [...lines];
  // Health answers once the database is migrated and seeded and the port listens.
  // Each probe on a fresh connection with a timeout: a connection accepted before the server
  // (or a cluster's workers) can answer must not hold the wait forever.
  await waitFor('healthy', deadline, child, output, async () => {
    const res = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(5000), headers: { connection: 'close' } });
    await res.arrayBuffer();
    return res.status === 200;
  });
  // Page requests wait for Next.js to prepare; any answer means it is ready (nothing else warms up during the run).
  await waitFor('ready for pages', deadline, child, output, async () => {
    const res = await fetch(`${url}/bench-ready-probe`, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    return true;
  });

  // The server applied the migrations; add an API key next to it (PostgreSQL takes both processes).
  const db = await openDatabase({ databaseUrl, dataDir, poolSize: 1 });
  let apiKey: string;
  try {
    if (opts.seedHere && !opts.reuseDatabase) await seedDemo(db.prisma, { password: DEMO_PASSWORD });
    apiKey = (await createApiKey(db.prisma, 'bench')).key;
  } finally {
    await db.close();
  }

  return {
    url,
    pid,
    command,
    cpu: opts.cpu,
    database,
    apiKey,
    mqttPort,
    async token(email, password = DEMO_PASSWORD) {
      const res = await fetch(`${url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    rssMb: () => readRssMb(pid),
    output,
  };
}

/** Split server output into pino records (warn = 40, error = 50 and up) and anything else. */
export function classifyOutput(lines: string[]): { warnings: string[]; errors: string[]; other: string[] } {
  const out = { warnings: [] as string[], errors: [] as string[], other: [] as string[] };
  for (const line of lines) {
    let level: unknown;
    try {
      level = (JSON.parse(line) as { level?: unknown }).level;
    } catch {
      level = undefined;
    }
    if (typeof level !== 'number') out.other.push(line);
    else if (level >= 50) out.errors.push(line);
    else out.warnings.push(line);
  }
  return out;
}
