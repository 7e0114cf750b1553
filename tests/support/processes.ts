/**
 * Real processes for multi-node tests: the committed nginx config rendered for loopback ports,
 * a private redis-server the test may kill, and server nodes (the production entry,
 * `node --import tsx server/index.ts`, optionally under `faketime` with a skewed clock).
 * Each is started as the test's own child and stopped by its own pid (process group for
 * nodes, since `faketime` forks the node it runs).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Process groups and processes this test started and has not stopped yet: if the test process
 * ends without its clean-up (a crash, Ctrl-C), they are killed on the way out, by their ids.
 */
const leftovers = new Map<number, 'group' | 'process'>();
process.once('exit', () => {
  for (const [pid, kind] of leftovers) {
    try {
      process.kill(kind === 'group' ? -pid : pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
function track(child: ChildProcess, kind: 'group' | 'process') {
  const pid = child.pid;
  if (!pid) return;
  leftovers.set(pid, kind);
  child.once('exit', () => {
    if (kind === 'process') leftovers.delete(pid);
  });
}

/** A program on PATH, or a clear error naming what to install. */
export function requireTool(name: string, install: string): string {
  // nginx lives in /usr/sbin, which is not on every user's PATH.
  const found = spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${name}`], { encoding: 'utf8' });
  const file = found.stdout.trim();
  if (found.status !== 0 || !file) {
    throw new Error(`${name} is not installed: this test needs it (${install}). .ci/run installs it on a fresh machine.`);
  }
  return file;
}

async function portFree(port: number): Promise<boolean> {
  const srv = net.createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` distinct free ports within [from, to] (the fixed range a test was given). */
export async function freePortsIn(from: number, to: number, count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let p = from; p <= to && ports.length < count; p++) if (await portFree(p)) ports.push(p);
  if (ports.length < count) throw new Error(`only ${ports.length} free ports in ${from}-${to}, need ${count}`);
  return ports;
}

export async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

export const NGINX_SITE = path.join(REPO_ROOT, 'deploy/nginx.conf');

/**
 * deploy/nginx.conf with its `listen` port and upstream `server` lines replaced for this test.
 * Throws if the file no longer has the shape this relies on, so the test and the committed
 * config cannot drift apart silently.
 */
export function renderNginxSite(site: string, listenPort: number, upstreams: string[]): string {
  const listen = /^(\s*)listen\s+80;$/m;
  if (!listen.test(site)) throw new Error('deploy/nginx.conf: expected a `listen 80;` line');
  const block = /upstream dispatch_desk \{[\s\S]*?\n\}/.exec(site);
  if (!block) throw new Error('deploy/nginx.conf: expected an `upstream dispatch_desk { ... }` block');
  const serverLine = /^(\s*)server\s+\S+:\d+(\s[^;]*)?;$/gm;
  const lines = [...block[0].matchAll(serverLine)];
  if (lines.length === 0) throw new Error('deploy/nginx.conf: the upstream lists no `server host:port ...;` line');
  const indent = lines[0]![1] ?? '    ';
  const params = lines[0]![2] ?? '';
  let first = true;
  const upstream = block[0].replace(serverLine, () => {
    if (!first) return '';
    first = false;
    return upstreams.map((u) => `${indent}server ${u}${params};`).join('\n');
  });
  return site.replace(block[0], upstream).replace(listen, `$1listen 127.0.0.1:${listenPort};`);
}

export interface Nginx {
  url: string;
  port: number;
  dir: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** nginx as this test's own process: deploy/nginx.conf inside a minimal main config in a temp dir. */
export async function startNginx(listenPort: number, upstreams: string[]): Promise<Nginx> {
  const bin = requireTool('nginx', 'Debian: apt-get install -y nginx');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dd-nginx-'));
  await fsp.chmod(dir, 0o755); // worker processes (another user when run as root) read temp paths here
  const site = renderNginxSite(await fsp.readFile(NGINX_SITE, 'utf8'), listenPort, upstreams);
  await fsp.writeFile(path.join(dir, 'dispatch-desk.conf'), site);
  await fsp.writeFile(
    path.join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${path.join(dir, `${t}_temp`)};`),
      `  include ${path.join(dir, 'dispatch-desk.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'), '-p', `${dir}/`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  track(child, 'process');
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const errorLog = () => {
    try {
      return fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await Promise.race([
      waitForPort(listenPort, 10_000, 'nginx'),
      exited(child).then(() => {
        throw new Error(`nginx exited at start: ${stderr.trim()} ${errorLog().trim()}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url: `http://127.0.0.1:${listenPort}`,
    port: listenPort,
    dir,
    errorLog,
    async stop() {
      // The pid file names the master this test started (the same pid as `child`).
      const pid = Number(fs.readFileSync(path.join(dir, 'nginx.pid'), 'utf8').trim() || child.pid);
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited(child);
        clearTimeout(timer);
      }
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Private redis-server
// ---------------------------------------------------------------------------------------------

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILL: gone at once, as a crash would be (it keeps nothing on disk). */
  kill(): Promise<void>;
  /** Start again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(port: number): Promise<PrivateRedis> {
  const bin = requireTool('redis-server', 'Debian: apt-get install -y redis-server');
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: 'ignore',
    });
    track(child, 'process');
    await waitForPort(port, 10_000, 'redis-server');
  };
  const kill = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, start, stop: kill };
}

// ---------------------------------------------------------------------------------------------
// Server nodes
// ---------------------------------------------------------------------------------------------

export interface NodeSpec {
  name: string;
  port: number;
  /** A faketime offset such as '+10s' or '-7s'; undefined runs on the machine's clock. */
  skew?: string;
  /** WORKERS=N for the node (a primary forking N workers); 1 when unset. */
  workers?: number;
}

export interface ServerNode {
  spec: NodeSpec;
  url: string;
  /** The process group leader (faketime, or node itself). */
  pid(): number | undefined;
  running(): boolean;
  start(): Promise<void>;
  /** SIGKILL to the whole process group: no shutdown, no goodbye to anyone. */
  kill(): Promise<void>;
  /** SIGTERM and wait (graceful shutdown). */
  stop(): Promise<void>;
  /** The last lines the node wrote (for failure messages). */
  tail(): string;
}

/** Every process below `root` (from /proc), for picking a worker of a primary. */
export function descendants(root: number): { pid: number; ppid: number; cmd: string }[] {
  const all: { pid: number; ppid: number; cmd: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      all.push({ pid: Number(entry), ppid, cmd });
    } catch {
      // the process ended while we looked
    }
  }
  const out: typeof all = [];
  const walk = (pid: number) => {
    for (const p of all.filter((x) => x.ppid === pid)) {
      out.push(p);
      walk(p.pid);
    }
  };
  walk(root);
  return out;
}

export function createServerNode(spec: NodeSpec, env: Record<string, string>): ServerNode {
  let child: ChildProcess | undefined;
  let lines: string[] = [];
  const keep = (d: Buffer) => {
    lines.push(...d.toString().split('\n').filter(Boolean).map((l) => `[${spec.name}] ${l}`));
    if (lines.length > 200) lines = lines.slice(-100);
  };
  const faketime = spec.skew ? requireTool('faketime', 'Debian: apt-get install -y faketime') : undefined;

  async function start() {
    const nodeArgs = ['--import', 'tsx', 'server/index.ts'];
    const [cmd, args] = faketime ? [faketime, ['-f', spec.skew!, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const c = spawn(cmd, args, {
      cwd: REPO_ROOT,
      detached: true, // its own process group, so a kill reaches node under faketime too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        ...env,
        PORT: String(spec.port),
        HOST: '127.0.0.1',
        // One process per node unless the topology asks for workers (WORKERS defaults to one per core).
        WORKERS: String(spec.workers ?? 1),
        // A cluster keeps its spare worker (the default); a spare that took a killed worker's place
        // is replaced within a second here, so that a harness counting a node's workers finds them all again.
        SPARE_RESTART_MS: '1000',
      },
    });
    child = c;
    track(c, 'group');
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    const deadline = Date.now() + 60_000;
    while (true) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${spec.name} exited at start:\n${lines.slice(-20).join('\n')}`);
      const ok = await fetch(`http://127.0.0.1:${spec.port}/api/health`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${spec.name} not healthy in 60 s:\n${lines.slice(-20).join('\n')}`);
      await sleep(200);
    }
  }

  async function signalGroup(signal: NodeJS.Signals) {
    const c = child;
    if (!c?.pid || c.exitCode !== null || c.signalCode !== null) return;
    try {
      process.kill(-c.pid, signal);
    } catch {
      // already gone
    }
    await exited(c);
    // faketime forks the node it runs: wait until nothing of the group is left.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        process.kill(-c.pid, 0);
      } catch {
        leftovers.delete(c.pid);
        return;
      }
      await sleep(50);
    }
  }

  return {
    spec,
    url: `http://127.0.0.1:${spec.port}`,
    pid: () => child?.pid,
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    start,
    kill: () => signalGroup('SIGKILL'),
    async stop() {
      const c = child;
      if (!c?.pid) return;
      const timer = setTimeout(() => {
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 12_000);
      await signalGroup('SIGTERM');
      clearTimeout(timer);
    },
    tail: () => lines.slice(-30).join('\n'),
  };
}
