import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../server/auth/password';
import type { Database } from '../../server/db/database';
import { postgres } from '../support/backends';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Run a script of this repository to its end. */
function run(script: string, args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', LOG_LEVEL: 'silent', ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.end(stdin);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish: ${out}`));
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('safe defaults and the account and key commands (PostgreSQL)', () => {
  let db: Database;
  let url: string;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    const opened = await postgres.open();
    db = opened.db;
    url = opened.url!;
    dispose = opened.dispose;
  });
  afterAll(async () => {
    await dispose?.();
  });

  it('a production start on a fresh PostgreSQL creates no account with a known password and runs no simulator', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'dd-safe-'));
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', SERVE_PAGES: 'off', DATABASE_URL: url, DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port), SESSION_SECRET: 'safe-defaults-secret-0123456789abcdef' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => child.on('exit', r));
    try {
      for (let i = 0; i < 600 && !out.includes('Dispatch Desk is live'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('Dispatch Desk is live');
      await new Promise((r) => setTimeout(r, 1500)); // a simulator would have ticked by now
      expect(await db.prisma.user.count()).toBe(0);
      expect(await db.prisma.delivery.count()).toBe(0);
      expect(out).not.toContain('traffic simulator on');
      const login = await fetch(`http://127.0.0.1:${port}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@demo.local', password: 'demo' }),
      });
      expect(login.status).toBe(401);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('npm run admin -- create makes the first admin with a given or a generated password', async () => {
    const given = await run('scripts/admin.ts', ['create', 'Boss@Example.com'], { DATABASE_URL: url, ADMIN_PASSWORD: 'correct horse battery' });
    expect(given.code).toBe(0);
    const boss = await db.prisma.user.findUniqueOrThrow({ where: { email: 'boss@example.com' } });
    expect(boss.role).toBe('admin');
    expect(await verifyPassword('correct horse battery', boss.passwordHash)).toBe(true);

    const generated = await run('scripts/admin.ts', ['create', 'desk@example.com', '--role', 'dispatcher', '--center', '1'], { DATABASE_URL: url });
    expect(generated.code, generated.out).toBe(1); // center 1 does not exist in an empty database
    const plain = await run('scripts/admin.ts', ['create', 'ops@example.com'], { DATABASE_URL: url });
    expect(plain.code, plain.out).toBe(0);
    const shown = /Password \(shown only now\): (\S+)/.exec(plain.out)?.[1];
    expect(shown).toBeDefined();
    const ops = await db.prisma.user.findUniqueOrThrow({ where: { email: 'ops@example.com' } });
    expect(await verifyPassword(shown!, ops.passwordHash)).toBe(true);
    expect((await run('scripts/admin.ts', ['create', 'ops@example.com'], { DATABASE_URL: url })).code).toBe(1); // exists
    expect((await run('scripts/admin.ts', ['create', 'short@example.com'], { DATABASE_URL: url }, 'short')).code).toBe(2);
  });

  it('npm run apikey creates keys with scopes and lists them', async () => {
    const created = await run('scripts/apikey.ts', ['create', 'order service', '--scope', 'orders:create', '--scope', 'orders:cancel'], { DATABASE_URL: url });
    expect(created.code, created.out).toBe(0);
    expect(created.out).toMatch(/ddk_[0-9a-f]{12}_/);
    expect((await run('scripts/apikey.ts', ['create', 'x', '--scope', 'orders:everything'], { DATABASE_URL: url })).code).toBe(2);
    const plain = await run('scripts/apikey.ts', ['create', 'notifier'], { DATABASE_URL: url });
    expect(plain.code).toBe(0);
    const list = await run('scripts/apikey.ts', ['list'], { DATABASE_URL: url });
    expect(list.out).toMatch(/order service\s+orders:create,orders:cancel\s+active/);
    expect(list.out).toMatch(/notifier\s+publish:notices\s+active/);
  });
});
