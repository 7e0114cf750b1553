/**
 * Manage user accounts from the command line (a production database starts with none).
 *
 *   npm run admin -- create <email> [--name <name>] [--role admin|hq|dispatcher|callcenter|rider] [--center <id>]...
 *       The password comes from ADMIN_PASSWORD, or from stdin when it is not a terminal
 *       (`printf '%s' "$PW" | npm run admin -- create ...`); otherwise one is generated and
 *       printed once. The default role is admin.
 *   npm run admin -- list
 *
 * Role and membership changes of a running system go through POST /api/admin/users/<id>/role and
 * /centers (open sockets follow within seconds); this command is for the first account.
 * Uses DATABASE_URL, or the embedded database in DATA_DIR (stop the server first).
 */
import { randomBytes } from 'node:crypto';
import { ROLES, type Role } from '../protocol';
import { hashPassword } from '../server/auth/password';
import { loadConfig } from '../server/config';
import { runCli } from './cli';
import { openDatabase } from '../server/db/database';
import { applyMigrations } from '../server/db/migrate';

const USAGE = `usage: npm run admin -- create <email> [--name <name>] [--role ${ROLES.join('|')}] [--center <id>]... | list`;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const positional: string[] = [];
  let name: string | undefined;
  let role: Role = 'admin';
  const centers: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--name' && v) {
      name = v;
      i++;
    } else if (a === '--role' && v && (ROLES as readonly string[]).includes(v)) {
      role = v as Role;
      i++;
    } else if (a === '--center' && v && /^[1-9]\d{0,9}$/.test(v)) {
      centers.push(Number(v));
      i++;
    } else if (a.startsWith('--')) {
      console.error(USAGE);
      return 2;
    } else positional.push(a);
  }
  const [cmd, email] = positional;
  if (cmd !== 'create' && cmd !== 'list') {
    console.error(USAGE);
    return 2;
  }
  if (cmd === 'create' && (!email || !/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 200)) {
    console.error('admin: give the new account an email address');
    return 2;
  }
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    await applyMigrations(db.pool);
    if (cmd === 'list') {
      const users = await db.prisma.user.findMany({ orderBy: { id: 'asc' }, include: { memberships: true } });
      if (users.length === 0) console.log('No users.');
      for (const u of users) console.log(`${String(u.id).padStart(5)}  ${u.email.padEnd(32)}  ${u.role.padEnd(10)}  centers ${u.memberships.map((m) => m.centerId).join(',') || '-'}`);
      return 0;
    }
    const address = email!.toLowerCase();
    if (await db.prisma.user.findUnique({ where: { email: address } })) {
      console.error(`admin: ${address} already exists`);
      return 1;
    }
    let password = process.env.ADMIN_PASSWORD || (await readStdin());
    const generated = password === '';
    if (generated) password = randomBytes(18).toString('base64url');
    if (password.length < 12) {
      console.error('admin: the password must be at least 12 characters');
      return 2;
    }
    const user = await db.prisma.user.create({
      data: {
        email: address,
        name: name ?? address.split('@')[0]!,
        role,
        passwordHash: await hashPassword(password),
        memberships: { create: centers.map((centerId) => ({ centerId })) },
      },
    });
    console.log(`Created ${role} ${user.email} (id ${user.id}).`);
    if (generated) console.log(`Password (shown only now): ${password}`);
    return 0;
  } finally {
    await db.close();
  }
}

runCli('admin', main);
