/**
 * The authorization matrix, generated from the catalogue: every role x namespace x command x room
 * (CLIENT_COMMANDS), and every REST route the server declares x role and API-key scope. Each cell
 * runs against a real server and is asserted allowed (data / 2xx) or refused (not_found, forbidden,
 * unauthorized / 401, 403, 404); any other answer fails the cell. The expectations below are
 * written out here, independently of server/auth/policy.ts: a command or route without a row
 * fails the suite, so nothing new escapes the matrix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { API_KEY_SCOPES, CLIENT_COMMANDS, NAMESPACES, type ApiKeyScope, type NamespaceName } from '../../protocol';
import { ask, createTestDelivery, startTestApp, type TestApp } from '../support/app';
import { postgres } from '../support/backends';

type Role = 'dispatcher' | 'hq' | 'admin' | 'callcenter' | 'rider';
const ROLES: Role[] = ['dispatcher', 'hq', 'admin', 'callcenter', 'rider'];
/** A = the dispatcher's and rider's own center, B = another center, all = HQ room, - = no room. */
type Target = 'A' | 'B' | 'all' | '-';
type Fixture = 'waiting' | 'assigned' | 'picked_up' | 'order';

const staff = (r: Role) => r === 'hq' || r === 'admin';
const seesCenter = (r: Role, x: Target) => staff(r) || (r === 'dispatcher' && x === 'A');
const seesDelivery = (r: Role, x: Target) => seesCenter(r, x) || r === 'callcenter' || (r === 'rider' && x === 'A');
const dispatches = (r: Role, x: Target) => seesCenter(r, x);
const riderActs = (r: Role, x: Target) => dispatches(r, x) || (r === 'rider' && x === 'A');
const cancels = (r: Role, x: Target) => dispatches(r, x) || r === 'callcenter';
const chats = (r: Role, x: Target) => staff(r) || ((r === 'dispatcher' || r === 'rider') && x === 'A');
const seesOrders = (r: Role) => r === 'callcenter' || staff(r);
const always = () => true;

interface SocketRow {
  targets: Target[];
  fixture?: Fixture;
  expect: (r: Role, x: Target) => boolean;
  payload: (ctx: CellContext) => unknown;
}
interface CellContext {
  role: Role;
  target: Target;
  centerId: number;
  seq: number;
  orderNo: string;
  otherRiderId: number;
}

const SOCKET_ROWS: Record<NamespaceName, Record<string, SocketRow>> = {
  '/dispatch': {
    'centers:list': { targets: ['-'], expect: always, payload: () => ({}) },
    'center:join': {
      targets: ['A', 'B', 'all'],
      expect: (r, x) => (x === 'all' ? staff(r) : seesCenter(r, x)),
      payload: (c) => (c.target === 'all' ? { all: true } : { centerId: c.centerId }),
    },
    'center:leave': { targets: ['A', 'all'], expect: always, payload: (c) => (c.target === 'all' ? { all: true } : { centerId: c.centerId }) },
    'deliveries:sync': { targets: ['A', 'B'], expect: seesCenter, payload: (c) => ({ centerId: c.centerId }) },
    'deliveries:mine': { targets: ['-'], expect: (r) => r === 'rider', payload: () => ({}) },
    'deliveries:fetch': { targets: ['A', 'B'], fixture: 'waiting', expect: seesCenter, payload: (c) => ({ centerId: c.centerId, seqs: [c.seq] }) },
    'delivery:timeline': { targets: ['A', 'B'], fixture: 'assigned', expect: seesDelivery, payload: (c) => ({ deliverySeq: c.seq }) },
    'delivery:assign': { targets: ['A', 'B'], fixture: 'waiting', expect: dispatches, payload: (c) => ({ deliverySeq: c.seq, riderId: c.otherRiderId }) },
    'delivery:pick_up': { targets: ['A', 'B'], fixture: 'assigned', expect: riderActs, payload: (c) => ({ deliverySeq: c.seq }) },
    'delivery:deliver': { targets: ['A', 'B'], fixture: 'picked_up', expect: riderActs, payload: (c) => ({ deliverySeq: c.seq }) },
    'delivery:cancel': { targets: ['A', 'B'], fixture: 'assigned', expect: cancels, payload: (c) => ({ deliverySeq: c.seq, reason: 'matrix' }) },
    'riders:list': { targets: ['A', 'B'], expect: seesCenter, payload: (c) => ({ centerId: c.centerId }) },
    'rider:position': { targets: ['-'], expect: (r) => r === 'rider', payload: () => ({ lat: 37.5, lng: 127 }) },
    'shops:status': { targets: ['A', 'B'], expect: seesCenter, payload: (c) => ({ centerId: c.centerId }) },
    // Every connection reports its own device facts; repair counts only count for the user's centers.
    'presence:heartbeat': { targets: ['-'], expect: always, payload: () => ({ appVersion: '1.0.0', duty: 'on' }) },
    'presence:list': { targets: ['A', 'B'], expect: seesCenter, payload: (c) => ({ centerId: c.centerId }) },
  },
  '/chat': {
    'chat:join': { targets: ['A', 'B'], expect: chats, payload: (c) => ({ centerId: c.centerId }) },
    'chat:leave': { targets: ['A'], expect: always, payload: (c) => ({ centerId: c.centerId }) },
    'chat:history': { targets: ['A', 'B'], expect: chats, payload: (c) => ({ centerId: c.centerId }) },
    'chat:send': { targets: ['A', 'B'], expect: chats, payload: (c) => ({ centerId: c.centerId, body: `matrix ${c.role}` }) },
  },
  '/callcenter': {
    'order:watch': { targets: ['A', 'B'], fixture: 'order', expect: (r) => seesOrders(r), payload: (c) => ({ orderNo: c.orderNo }) },
    'order:unwatch': { targets: ['-'], expect: always, payload: () => ({ orderNo: 'matrix-none' }) },
    'orders:search': { targets: ['-'], expect: (r) => seesOrders(r), payload: () => ({ q: '' }) },
  },
  '/monitor': {
    'monitor:stats': { targets: ['-'], expect: (r) => r === 'admin', payload: () => ({}) },
    'monitor:history': { targets: ['-'], expect: (r) => r === 'admin', payload: () => ({}) },
  },
};
/** Who may open each namespace at all. */
const MAY_CONNECT: Record<NamespaceName, (r: Role) => boolean> = {
  '/dispatch': always,
  '/chat': always,
  '/callcenter': always,
  '/monitor': (r) => r === 'admin',
};

type Principal = { kind: 'user'; role: Role } | { kind: 'key'; scope: ApiKeyScope } | { kind: 'anonymous' };
const PRINCIPALS: Principal[] = [
  ...ROLES.map((role) => ({ kind: 'user', role }) as const),
  ...API_KEY_SCOPES.map((scope) => ({ kind: 'key', scope }) as const),
  { kind: 'anonymous' },
];
const nameOf = (p: Principal) => (p.kind === 'user' ? p.role : p.kind === 'key' ? `key(${p.scope})` : 'anonymous');
const user = (f: (r: Role, x: Target) => boolean) => (p: Principal, x: Target) => p.kind === 'user' && f(p.role, x);
const key = (scope: ApiKeyScope) => (p: Principal) => p.kind === 'key' && p.scope === scope;

interface RestRow {
  targets: Target[];
  fixture?: Fixture;
  expect: (p: Principal, x: Target) => boolean;
  path: (c: CellContext) => string;
  body?: (c: CellContext) => unknown;
}

const newOrder = (c: CellContext) => ({
  centerId: c.centerId,
  shopName: 'Matrix Shop',
  shopAddress: '1 Matrix-ro',
  customerName: 'Matrix',
  customerAddress: '2 Matrix-ro',
  items: 'x1',
  totalWon: 1000,
  lat: 37.5,
  lng: 127,
});

/** Keyed by `METHOD path` exactly as the server declares its routes. */
function restRows(ids: { targetUserId: number; login: (p: Principal) => { email: string; password: string } }): Record<string, RestRow> {
  return {
    'GET /api/health': { targets: ['-'], expect: always, path: () => '/api/health' },
    'GET /api/settings': { targets: ['-'], expect: always, path: () => '/api/settings' },
    'POST /api/auth/login': { targets: ['-'], expect: always, path: () => '/api/auth/login', body: (c) => ids.login(principalOf(c)) },
    'POST /api/auth/token': { targets: ['-'], expect: always, path: () => '/api/auth/token', body: (c) => ids.login(principalOf(c)) },
    'POST /api/auth/logout': { targets: ['-'], expect: always, path: () => '/api/auth/logout', body: () => ({}) },
    'GET /api/auth/me': { targets: ['-'], expect: user(always), path: () => '/api/auth/me' },
    'POST /api/auth/renew': { targets: ['-'], expect: user(always), path: () => '/api/auth/renew', body: () => ({}) },
    'POST /api/admin/users/:userId/role': { targets: ['-'], expect: user((r) => r === 'admin'), path: () => `/api/admin/users/${ids.targetUserId}/role`, body: () => ({ role: 'dispatcher' }) },
    'POST /api/admin/users/:userId/centers': { targets: ['-'], expect: user((r) => r === 'admin'), path: () => `/api/admin/users/${ids.targetUserId}/centers`, body: (c) => ({ centerIds: [c.centerId] }) },
    'POST /api/admin/users/:userId/logout': { targets: ['-'], expect: user((r) => r === 'admin'), path: () => `/api/admin/users/${ids.targetUserId}/logout`, body: () => ({}) },
    'GET /api/centers': { targets: ['-'], expect: user(always), path: () => '/api/centers' },
    'GET /api/centers/:centerId/deliveries': { targets: ['A', 'B'], expect: user(seesCenter), path: (c) => `/api/centers/${c.centerId}/deliveries` },
    'GET /api/centers/:centerId/riders': { targets: ['A', 'B'], expect: user(seesCenter), path: (c) => `/api/centers/${c.centerId}/riders` },
    'GET /api/deliveries/:seq': { targets: ['A', 'B'], fixture: 'assigned', expect: user(seesDelivery), path: (c) => `/api/deliveries/${c.seq}` },
    'POST /api/deliveries/:seq/assign': { targets: ['A', 'B'], fixture: 'waiting', expect: user(dispatches), path: (c) => `/api/deliveries/${c.seq}/assign`, body: (c) => ({ riderId: c.otherRiderId }) },
    'POST /api/deliveries/:seq/pick-up': { targets: ['A', 'B'], fixture: 'assigned', expect: user(riderActs), path: (c) => `/api/deliveries/${c.seq}/pick-up`, body: () => ({}) },
    'POST /api/deliveries/:seq/deliver': { targets: ['A', 'B'], fixture: 'picked_up', expect: user(riderActs), path: (c) => `/api/deliveries/${c.seq}/deliver`, body: () => ({}) },
    'POST /api/deliveries/:seq/cancel': { targets: ['A', 'B'], fixture: 'assigned', expect: user(cancels), path: (c) => `/api/deliveries/${c.seq}/cancel`, body: () => ({ reason: 'matrix' }) },
    'GET /api/orders': { targets: ['-'], expect: user((r) => seesOrders(r)), path: () => '/api/orders?q=' },
    'GET /api/orders/:orderNo': { targets: ['A', 'B'], fixture: 'order', expect: user((r) => seesOrders(r)), path: (c) => `/api/orders/${c.orderNo}` },
    'POST /api/orders': { targets: ['A', 'B'], expect: (p, x) => user(dispatches)(p, x) || key('orders:create')(p), path: () => '/api/orders', body: newOrder },
    'POST /api/orders/:orderNo/cancel': { targets: ['A', 'B'], fixture: 'order', expect: (p, x) => user(cancels)(p, x) || key('orders:cancel')(p), path: (c) => `/api/orders/${c.orderNo}/cancel`, body: () => ({ reason: 'matrix' }) },
    // Devices authenticate with HTTP Basic device credentials: no user session or API key reads a shop's feed.
    'GET /api/shops/:id/orders': { targets: ['-'], expect: () => false, path: () => '/api/shops/1/orders' },
    'POST /api/shops/:id/devices': { targets: ['-'], expect: user((r) => r === 'admin'), path: () => '/api/shops/1/devices', body: () => ({ name: 'Matrix tablet' }) },
    'POST /api/publish': {
      targets: ['A', 'B'],
      expect: (p) => key('publish:notices')(p),
      path: () => '/api/publish',
      body: (c) => ({ namespace: NAMESPACES.dispatch, room: `center:${c.centerId}`, event: 'notice:posted', data: { title: 'matrix' } }),
    },
  };
}
// The principal of the cell being built (REST bodies for login depend on it).
let currentPrincipal: Principal = { kind: 'anonymous' };
const principalOf = (_c: CellContext) => currentPrincipal;

describe('authorization matrix (PostgreSQL)', () => {
  let t: TestApp;
  let A: number;
  let B: number;
  const tokens = new Map<Role, string>();
  const keys = new Map<ApiKeyScope, string>();
  let riderId = 0;
  const seeded = new Map<number, number[]>();
  let targetUserId = 0;
  const loginUsers: { email: string; password: string }[] = [];

  beforeAll(async () => {
    t = await startTestApp(postgres, { deliveries: 10, app: { commandsPerSecond: 100_000, maxConnectionsPerIp: 0 } });
    const centers = await t.db.prisma.center.findMany({ orderBy: { id: 'asc' } });
    [A, B] = centers.map((c) => c.id) as [number, number];
    for (const c of [A, B]) {
      const rows = await t.db.prisma.rider.findMany({ where: { centerId: c, userId: null }, orderBy: { id: 'asc' } });
      seeded.set(c, rows.map((r) => r.id));
    }
    for (const role of ROLES) {
      const u = await t.createUser(role, role === 'dispatcher' || role === 'rider' ? [A] : []);
      tokens.set(role, u.token);
      if (role === 'rider') riderId = u.user.riderId!;
    }
    for (const scope of API_KEY_SCOPES) keys.set(scope, await t.apiKey(`matrix-${scope}`, [scope]));
    targetUserId = (await t.createUser('dispatcher', [A])).user.id;
    for (let i = 0; i < PRINCIPALS.length * 2; i++) {
      const u = await t.createUser('dispatcher', [A]);
      loginUsers.push({ email: u.user.email, password: 'test-pass' });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A fresh row for one cell, so cells never disturb each other. */
  async function fixture(kind: Fixture | undefined, role: Role | null, x: Target): Promise<{ seq: number; orderNo: string; otherRiderId: number }> {
    const centerId = x === 'B' ? B : A;
    const pool = seeded.get(centerId)!;
    const otherRiderId = pool[1]!;
    if (!kind) return { seq: 0, orderNo: 'none', otherRiderId };
    const d = await createTestDelivery(t, centerId);
    const svc = t.app.services.deliveries;
    const sys = { label: 'matrix' };
    if (kind === 'assigned' || kind === 'picked_up') {
      // The rider's own delivery in A; someone else's in B.
      await svc.assign(d.deliverySeq, x === 'A' && role === 'rider' ? riderId : pool[0]!, sys);
      if (kind === 'picked_up') await svc.pickUp(d.deliverySeq, sys);
    }
    return { seq: d.deliverySeq, orderNo: d.orderNo, otherRiderId };
  }

  it('every role x namespace x command x room over Socket.IO, and every REST route x role and API-key scope', async () => {
    const failures: string[] = [];
    let socketCells = 0;
    let restCells = 0;

    // ---------------------------------------------------------------- sockets
    for (const namespace of Object.values(NAMESPACES)) {
      const rows = SOCKET_ROWS[namespace];
      const commands = CLIENT_COMMANDS[namespace] as readonly string[];
      expect(Object.keys(rows).sort(), `matrix rows for ${namespace}`).toEqual([...commands].sort());
      for (const role of ROLES) {
        let socket: Socket | null = null;
        try {
          socket = await t.connect(namespace, tokens.get(role));
        } catch (err) {
          if ((err as Error).message !== 'forbidden') throw err;
        }
        if ((socket !== null) !== MAY_CONNECT[namespace](role)) failures.push(`${role} connect ${namespace}: ${socket ? 'allowed' : 'refused'}`);
        for (const command of commands) {
          const row = rows[command]!;
          for (const target of row.targets) {
            socketCells += 1;
            const want = MAY_CONNECT[namespace](role) && row.expect(role, target);
            if (!socket) {
              if (want) failures.push(`${role} ${namespace} ${command} ${target}: refused at connect`);
              continue;
            }
            const f = await fixture(row.fixture, role, target);
            const c: CellContext = { role, target, centerId: target === 'B' ? B : A, ...f };
            const res = await ask<unknown>(socket, command, row.payload(c));
            const got = 'data' in res ? 'allowed' : ['not_found', 'forbidden'].includes(res.error.code) ? 'refused' : `error ${res.error.code}: ${res.error.message}`;
            if (got !== (want ? 'allowed' : 'refused')) failures.push(`${role} ${namespace} ${command} ${target}: want ${want ? 'allowed' : 'refused'}, got ${got}`);
          }
        }
        socket?.disconnect();
      }
    }

    // ---------------------------------------------------------------- REST
    let loginIndex = 0;
    const rows = restRows({ targetUserId, login: () => loginUsers[loginIndex++ % loginUsers.length]! });
    const declared = t.app.routes().map((r) => `${r.method} ${r.path}`);
    expect(Object.keys(rows).sort(), 'a matrix row for every declared route').toEqual([...declared].sort());
    for (const [route, row] of Object.entries(rows)) {
      const method = route.split(' ')[0] as 'GET' | 'POST';
      for (const p of PRINCIPALS) {
        currentPrincipal = p;
        for (const target of row.targets) {
          restCells += 1;
          const f = await fixture(row.fixture, p.kind === 'user' ? p.role : null, target);
          const c: CellContext = { role: p.kind === 'user' ? p.role : 'callcenter', target, centerId: target === 'B' ? B : A, ...f };
          const headers: Record<string, string> = {};
          // Sign-out is cell-local: a fresh token of the same role, so later cells keep theirs.
          if (p.kind === 'user') headers.authorization = `Bearer ${route === 'POST /api/auth/logout' ? await t.token(loginUsers[0]!.email) : tokens.get(p.role)}`;
          if (p.kind === 'key') headers.authorization = `Bearer ${keys.get(p.scope)}`;
          const body = row.body?.(c);
          if (body !== undefined) headers['content-type'] = 'application/json';
          const res = await fetch(`${t.url}${row.path(c)}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
          await res.arrayBuffer();
          const want = row.expect(p, target);
          const got = res.status < 300 ? 'allowed' : [401, 403, 404].includes(res.status) ? 'refused' : `HTTP ${res.status}`;
          if (got !== (want ? 'allowed' : 'refused')) failures.push(`${nameOf(p)} ${route} ${target}: want ${want ? 'allowed' : 'refused'}, got ${got}`);
        }
      }
    }

    console.log(`authorization matrix: ${socketCells} socket cells + ${restCells} REST cells = ${socketCells + restCells} cells, ${failures.length} wrong`);
    expect(failures).toEqual([]);
  });
});
