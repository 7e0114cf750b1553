import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Start the real entry point with an environment and collect how it ends. */
function runServer(env: Record<string, string>, ms = 60_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', LOG_LEVEL: 'silent', SIMULATOR: 'off', DEMO_SEED: 'off', MQTT_PORT: '0', ...env },
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not exit within ${ms} ms; stderr: ${stderr}`));
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe('start-up refuses bad configuration with one clear line', () => {
  let dataDir: string;
  let blocker: net.Server;
  let busyPort: number;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'dd-start-'));
    blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    busyPort = (blocker.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => blocker.close(r));
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('an unparseable DATABASE_URL', async () => {
    const r = await runServer({ DATABASE_URL: 'not a url' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad configuration: DATABASE_URL: must be a postgresql:/);
  });

  it('an unreachable database', async () => {
    const r = await runServer({ DATABASE_URL: `postgresql://postgres@127.0.0.1:${busyPort + 1}/nothing` });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/DATABASE_URL: cannot connect to postgresql:\/\/postgres@127\.0\.0\.1:\d+\/nothing \(ECONNREFUSED\)/);
  });

  it('an MQTT port in use', async () => {
    const r = await runServer({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', SERVE_PAGES: 'off', MQTT_PORT: String(busyPort) });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`bad configuration: MQTT_PORT: cannot listen on port ${busyPort} (EADDRINUSE)`);
  });

  it('a port in use', async () => {
    const r = await runServer({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(busyPort) });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`PORT: port ${busyPort} is already in use`);
  });

  it('a bad PORT value', async () => {
    const r = await runServer({ PORT: 'eighty' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dispatch-desk: bad configuration: PORT: /);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM stops accepting, disconnects sockets, closes the database and exits 0', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'dd-stop-'));
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', SERVE_PAGES: 'off', SIMULATOR: 'on', DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port), DEMO_PASSWORD: 'demo', MQTT_PORT: '0' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 600 && !out.includes('Dispatch Desk is live'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('Dispatch Desk is live');
      expect(await fs.readFile(path.join(dataDir, 'dispatch-desk.pid'), 'utf8')).toBe(String(child.pid));

      const res = await fetch(`http://127.0.0.1:${port}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'dispatcher@demo.local', password: 'demo' }),
      });
      const { token } = (await res.json()) as { token: string };
      const socket = io(`http://127.0.0.1:${port}/dispatch`, { transports: ['websocket'], auth: { token }, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const disconnected = new Promise<string>((r) => socket.once('disconnect', (reason) => r(reason)));

      child.kill('SIGTERM');
      expect(await disconnected).toMatch(/server|transport/);
      expect(await exited).toBe(0);
      expect(out).toContain('"msg":"stopped"');
      // The embedded database was closed and its folder released; nothing listens any more.
      await expect(fs.access(path.join(dataDir, 'dispatch-desk.pid'))).rejects.toThrow();
      await expect(fetch(`http://127.0.0.1:${port}/api/health`)).rejects.toThrow();
      socket.close();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
