/**
 * Property-based fuzzing (fast-check) of every edge that takes input, against a real server on
 * PostgreSQL: every socket command of every namespace, every REST route with a body or a path
 * parameter, the publish API and sign-in. Inputs are a mix of anything-at-all and catalogue-shaped
 * values (right field names, wrong or hostile values). Properties: the server never crashes, never
 * answers 5xx / `internal`, the socket stays connected, and an input that was refused changed
 * nothing in the database (a digest of the tables is compared before and after it).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { API_KEY_SCOPES, CLIENT_COMMANDS, ERROR_CODES, NAMESPACES, SERVER_EVENT_CATALOGUE, type NamespaceName } from '../../protocol';
import { ask, createTestDelivery, startTestApp, type TestApp } from '../support/app';
import { postgres } from '../support/backends';

/** Commands that write when they succeed: their refusals are checked against the database. */
const WRITES = new Set(['delivery:assign', 'delivery:pick_up', 'delivery:deliver', 'delivery:cancel', 'rider:position', 'chat:send']);

const FIELDS = ['deliverySeq', 'centerId', 'riderId', 'seqs', 'since', 'body', 'clientId', 'orderNo', 'q', 'lat', 'lng', 'reason', 'expectedVersion', 'idempotencyKey', 'all', 'beforeId', 'email', 'password', 'role', 'centerIds', 'namespace', 'room', 'event', 'data', 'title', 'level'];

describe('fuzzing every input edge (PostgreSQL)', { timeout: 240_000 }, () => {
  let t: TestApp;
  let adminId = 0;
  let tokens: Record<'admin' | 'dispatcher' | 'rider', string>;
  let key = '';
  const ids: number[] = [];
  const counts: Record<string, number> = {};
  const count = (edge: string) => (counts[edge] = (counts[edge] ?? 0) + 1);

  /** A value that is almost right: real ids, boundaries, wrong types, hostile strings. */
  const nasty = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.constantFrom(...ids),
      fc.integer({ min: -3, max: 3 }),
      fc.constantFrom(2_147_483_647, 2_147_483_648, Number.MAX_SAFE_INTEGER, 1e308, -0, 0.5),
      fc.double(),
      fc.string({ maxLength: 40 }),
      fc.constantFrom('', ' ', '__proto__', 'constructor', 'toString', '%', '%zz', '../..', '<script>', '\u0000', 'hq:all', 'center:1', '2026-12-01T00:00:00Z', 'not-a-date'),
      fc.string({ minLength: 200, maxLength: 400 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxLength: 5 }),
      fc.object({ maxDepth: 1, maxKeys: 3 }),
    );
  const shaped = () => fc.dictionary(fc.constantFrom(...FIELDS), nasty(), { maxKeys: 5 });
  const anyPayload = () => fc.oneof({ weight: 3, arbitrary: shaped() }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) });

  /** Everything a refused input must not have changed. */
  async function digest(): Promise<string> {
    const rows = await t.db.prisma.$queryRawUnsafe<Record<string, unknown>[]>(`
      SELECT
        (SELECT count(*) FROM "Delivery")::text AS d, (SELECT coalesce(sum(version), 0) FROM "Delivery")::text AS dv,
        (SELECT md5(coalesce(string_agg(status::text || ':' || coalesce("riderId", 0)::text, ',' ORDER BY "deliverySeq"), '')) FROM "Delivery") AS ds,
        (SELECT count(*) FROM "Order")::text AS o, (SELECT md5(coalesce(string_agg(status::text, ',' ORDER BY id), '')) FROM "Order") AS os,
        (SELECT coalesce(max(id), 0) FROM "ChatMessage")::text AS c, (SELECT count(*) FROM "IdempotencyRecord")::text AS i,
        (SELECT count(*) FROM "Session")::text AS s, (SELECT count(*) FROM "Session" WHERE "revokedAt" IS NOT NULL)::text AS sr,
        (SELECT md5(coalesce(string_agg(coalesce(lat, 0)::text || ',' || coalesce(lng, 0)::text || status::text || version::text, ';' ORDER BY id), '')) FROM "Rider") AS r,
        (SELECT md5(coalesce(string_agg(u.role::text || ':' || coalesce(m.c, ''), ';' ORDER BY u.id), '')) FROM "User" u
           LEFT JOIN (SELECT "userId", string_agg("centerId"::text, ',' ORDER BY "centerId") AS c FROM "CenterMembership" GROUP BY "userId") m ON m."userId" = u.id) AS u
    `);
    return JSON.stringify(rows[0]);
  }

  beforeAll(async () => {
    t = await startTestApp(postgres, { deliveries: 30, apiRatePerSecond: 100_000, app: { commandsPerSecond: 100_000, maxConnectionsPerIp: 0 } });
    const centers = await t.db.prisma.center.findMany({ orderBy: { id: 'asc' } });
    const A = centers[0]!.id;
    const rider = await t.createUser('rider', [A]);
    tokens = { admin: await t.token('admin@demo.local'), dispatcher: (await t.createUser('dispatcher', [A])).token, rider: rider.token };
    adminId = (await t.db.prisma.user.findUniqueOrThrow({ where: { email: 'admin@demo.local' } })).id;
    key = await t.apiKey('fuzz', API_KEY_SCOPES);
    const riders = await t.db.prisma.rider.findMany({ select: { id: true }, take: 5 });
    const deliveries = [];
    for (let i = 0; i < 6; i++) deliveries.push(await createTestDelivery(t, A));
    await t.app.services.deliveries.assign(deliveries[0]!.deliverySeq, rider.user.riderId!, { label: 'fuzz' });
    ids.push(...centers.map((c) => c.id), ...riders.map((r) => r.id), ...deliveries.map((d) => d.deliverySeq), rider.user.riderId!);
  });
  afterAll(async () => {
    await t?.close();
    console.log(`fuzz inputs per edge: ${JSON.stringify(counts)}; total ${Object.values(counts).reduce((a, b) => a + b, 0)}`);
  });

  it('socket commands: every command of every namespace, as admin, dispatcher and rider', async () => {
    for (const namespace of Object.values(NAMESPACES) as NamespaceName[]) {
      const roles = namespace === '/monitor' ? (['admin'] as const) : (['admin', 'dispatcher', 'rider'] as const);
      for (const role of roles) {
        const socket: Socket = await t.connect(namespace, tokens[role]);
        for (const command of CLIENT_COMMANDS[namespace] as readonly string[]) {
          await fc.assert(
            fc.asyncProperty(anyPayload(), async (payload) => {
              count('socket');
              const before = WRITES.has(command) ? await digest() : '';
              const res = await ask<unknown>(socket, command, payload);
              if ('error' in res) {
                expect(ERROR_CODES).toContain(res.error.code);
                expect(res.error.code, `${command} ${JSON.stringify(payload)}`).not.toBe('internal');
                if (WRITES.has(command)) expect(await digest(), `${command} refused but changed the database`).toBe(before);
              }
            }),
            { numRuns: role === 'admin' ? 70 : 40 },
          );
          expect(socket.connected, `${role} ${namespace} still connected after ${command}`).toBe(true);
        }
        socket.disconnect();
      }
    }
  });

  const post = async (path: string, body: unknown, headers: Record<string, string>) => {
    const res = await fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  };
  /** A path parameter: real ids, numbers, and anything a URL can carry (never the admin's own id). */
  const param = () =>
    fc
      .oneof(fc.constantFrom(...ids.map(String)), fc.integer({ min: -5, max: 1e12 }).map(String), fc.string({ maxLength: 30 }).map(encodeURIComponent), fc.constantFrom('%zz', '%', '..', '0x10', '1e3'))
      .filter((s) => s !== String(adminId) && s !== '');
  const body = () => fc.oneof({ weight: 4, arbitrary: anyPayload() }, { weight: 1, arbitrary: fc.string({ maxLength: 60 }) });

  it('REST bodies and path parameters of every route: never 5xx; a refused request changes nothing', async () => {
    const admin = { authorization: `Bearer ${tokens.admin}` };
    const keyed = { authorization: `Bearer ${key}` };
    const routes: { path: (p: string) => string; headers: Record<string, string> }[] = [
      { path: (p) => `/api/deliveries/${p}/assign`, headers: admin },
      { path: (p) => `/api/deliveries/${p}/pick-up`, headers: admin },
      { path: (p) => `/api/deliveries/${p}/deliver`, headers: admin },
      { path: (p) => `/api/deliveries/${p}/cancel`, headers: admin },
      { path: () => `/api/orders`, headers: admin },
      { path: () => `/api/orders`, headers: keyed },
      { path: (p) => `/api/orders/${p}/cancel`, headers: keyed },
      { path: (p) => `/api/admin/users/${p}/role`, headers: admin },
      { path: (p) => `/api/admin/users/${p}/centers`, headers: admin },
      { path: () => `/api/auth/renew`, headers: admin },
    ];
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(param(), body(), async (p, b) => {
          count('rest');
          const before = await digest();
          const status = await post(route.path(p), b, route.headers);
          expect(status, `${route.path(p)} ${JSON.stringify(b)}`).toBeLessThan(500);
          if (status >= 400) expect(await digest(), `${route.path(p)} refused (${status}) but changed the database`).toBe(before);
        }),
        { numRuns: 150 },
      );
    }
    const gets = ['/api/deliveries/', '/api/centers/', '/api/orders/', '/api/orders?q=', '/api/centers/1/deliveries?since='];
    for (const prefix of gets) {
      await fc.assert(
        fc.asyncProperty(param(), async (p) => {
          count('rest');
          const res = await fetch(`${t.url}${prefix}${p}${prefix === '/api/centers/' ? '/deliveries' : ''}`, { headers: admin });
          await res.arrayBuffer();
          expect(res.status, `${prefix}${p}`).toBeLessThan(500);
        }),
        { numRuns: 60 },
      );
    }
  });

  it('the publish API: catalogue-shaped and arbitrary requests are 202, 400, 403 or 413, never 5xx, never a row', async () => {
    const events = [...new Set(Object.values(SERVER_EVENT_CATALOGUE).flatMap((e) => Object.keys(e)))];
    const request = fc.record({
      namespace: fc.oneof(fc.constantFrom(...Object.values(NAMESPACES)), fc.string({ maxLength: 12 })),
      room: fc.oneof(fc.constantFrom('center:1', 'hq:all', 'user:1', 'order:X1'), fc.string({ maxLength: 20 })),
      event: fc.oneof(fc.constantFrom(...events, '__proto__', 'constructor', 'hasOwnProperty'), fc.string({ maxLength: 20 })),
      data: fc.oneof(fc.record({ title: fc.string({ maxLength: 120 }), body: fc.string({ maxLength: 20 }), level: fc.string({ maxLength: 8 }) }), anyPayload()),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: request }, { weight: 1, arbitrary: body() }), async (b) => {
        count('publish');
        const status = await post('/api/publish', b, { authorization: `Bearer ${key}` });
        expect([202, 400, 403, 413], JSON.stringify(b)).toContain(status);
        const event = (b as { event?: unknown } | null)?.event;
        if (status === 202) expect(event).toBe('notice:posted');
      }),
      { numRuns: 1000 },
    );
  });

  it('sign-in: arbitrary credentials never 5xx and never open a session', async () => {
    const creds = fc.oneof(
      fc.record({ email: fc.oneof(fc.emailAddress(), fc.constantFrom('admin@demo.local', 'ADMIN@demo.local ')), password: fc.oneof(fc.string({ maxLength: 300 }), fc.constant('demo')) }),
      anyPayload(),
      fc.string({ maxLength: 60 }),
    );
    await fc.assert(
      fc.asyncProperty(creds, fc.constantFrom('/api/auth/login', '/api/auth/token'), async (b, path) => {
        count('login');
        const before = await digest();
        const status = await post(path, b, {});
        expect(status, JSON.stringify(b)).toBeLessThan(500);
        expect(status).not.toBe(200); // no generated credential is right
        expect(await digest()).toBe(before);
      }),
      { numRuns: 600 },
    );
  });
});
