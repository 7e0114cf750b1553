import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { io as ioc } from 'socket.io-client';
import { CLIENT_COMMANDS, NAMESPACES, SESSION_COOKIE, type ChatMessage, type DeliveryRow } from '../../protocol';
import { createRidersService } from '../../server/riders/riders.service';
import { AppError } from '../../server/errors';
import { routesOf } from '../../server/realtime/ack';
import { KEEP_ALIVE_MS } from '../../server/app';
import { ask, createTestDelivery, data, nextEvent, startTestApp, TEST_PASSWORD, type TestApp } from '../support/app';
import { BACKENDS } from '../support/backends';
import { ackError, connectError, http, record, settle } from '../support/realtime-helpers';

/** Sign in like a browser: the session cookie as a Cookie header value. */
async function browserLogin(t: TestApp, email: string): Promise<string> {
  const res = await fetch(`${t.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: t.url },
    body: JSON.stringify({ email, password: TEST_PASSWORD }),
  });
  expect(res.status).toBe(200);
  const set = res.headers.get('set-cookie') ?? '';
  const m = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(set);
  if (!m) throw new Error(`no session cookie in ${set}`);
  return `${SESSION_COOKIE}=${m[1]}`;
}

/** A socket that authenticates the way a browser or a native client does: by headers only. */
function connectWithHeaders(t: TestApp, namespace: string, headers: Record<string, string>): Promise<Socket> {
  const s = ioc(`${t.url}${namespace}`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: headers });
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => {
      s.disconnect();
      reject(err);
    });
  });
}

const disconnected = (s: Socket, ms = 3000) =>
  new Promise<string>((resolve, reject) => {
    if (!s.connected) return resolve('already');
    const timer = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
    s.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });

describe.each(BACKENDS)('trust boundary on $name', (backend) => {
  let t: TestApp;
  let A: number;
  let B: number;

  beforeAll(async () => {
    t = await startTestApp(backend, { deliveries: 20, app: { maxConnectionsPerIp: 0 } });
    const centers = await t.db.prisma.center.findMany({ orderBy: { id: 'asc' } });
    [A, B] = centers.map((c) => c.id) as [number, number];
  });
  afterAll(async () => {
    await t?.close();
  });

  const publishBody = (event: string, data: unknown, room = `center:${A}`) => ({ namespace: NAMESPACES.dispatch, room, event, data });

  it('refuses text with a NUL character as bad input, over Socket.IO and REST (PostgreSQL text cannot hold one)', async () => {
    const agent = await t.connect(NAMESPACES.callcenter, await t.token('callcenter@demo.local'));
    expect(ackError(await ask(agent, 'orders:search', { q: 'a\u0000b' }))).toBe('bad_request');
    expect(data(await ask<unknown[]>(agent, 'orders:search', { q: 'ab' }))).toBeDefined();
    agent.disconnect();
    const dispatcher = await t.token('dispatcher@demo.local');
    const chat = await t.connect(NAMESPACES.chat, dispatcher);
    expect(ackError(await ask(chat, 'chat:send', { centerId: A, body: 'x\u0000y' }))).toBe('bad_request');
    chat.disconnect();
    const d = await t.connect(NAMESPACES.dispatch, dispatcher);
    const row = await createTestDelivery(t, A);
    expect(ackError(await ask(d, 'delivery:cancel', { deliverySeq: row.deliverySeq, reason: 'x\u0000y' }))).toBe('bad_request');
    expect(data(await ask<DeliveryRow>(d, 'delivery:cancel', { deliverySeq: row.deliverySeq, reason: 'xy' })).status).toBe('cancelled');
    d.disconnect();
    const body = await http(t, 'POST', `/api/deliveries/${row.deliverySeq}/cancel`, { bearer: dispatcher, body: { reason: 'x\u0000y' } });
    expect(body.status).toBe(400);
    const res = await http(t, 'GET', '/api/orders?q=%00', { bearer: await t.token('callcenter@demo.local') });
    expect(res.status).toBe(400);
  });

  it('refuses delivery rows from an API key: a forged far-future row is 403 and reaches no socket (notices still pass)', async () => {
    const key = await t.apiKey('forger');
    const d = await createTestDelivery(t, A);
    const s = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    data(await ask(s, 'center:join', { centerId: A }));
    const got = record<DeliveryRow>(s, ['delivery:assigned', 'delivery:cancelled', 'notice:posted']);
    const forged = { ...d, status: 'cancelled', modDate: '2999-01-01T00:00:00.000Z', version: 999_999 };
    for (const event of ['delivery:cancelled', 'delivery:assigned', 'rider:status', 'rider:position']) {
      const res = await http(t, 'POST', '/api/publish', { bearer: key, body: publishBody(event, forged) });
      expect({ event, status: res.status }).toEqual({ event, status: 403 });
    }
    const chatRow = await http(t, 'POST', '/api/publish', {
      bearer: key,
      body: { namespace: NAMESPACES.chat, room: `center:${A}`, event: 'chat:message', data: { id: 1, centerId: A, userId: null, authorName: 'x', body: 'x', createdAt: new Date().toISOString() } },
    });
    expect(chatRow.status).toBe(403);
    const notice = await http(t, 'POST', '/api/publish', { bearer: key, body: publishBody('notice:posted', { title: 'Rain' }) });
    expect(notice.status).toBe(202);
    await got.until((seen) => seen.some((r) => r.event === 'notice:posted'));
    await settle([s]);
    expect(got.seen.map((r) => r.event)).toEqual(['notice:posted']);
    expect((await t.app.services.deliveries.get(d.deliverySeq)).status).toBe('waiting');
  });

  it('checks API key scopes per route, and API-key callers do not skip authorization on order create and cancel', async () => {
    const publishOnly = await t.apiKey('notices', ['publish:notices']);
    const createOnly = await t.apiKey('orders', ['orders:create']);
    const cancelOnly = await t.apiKey('cancels', ['orders:cancel']);
    const order = {
      centerId: A,
      shopName: 'Scope Shop',
      shopAddress: '1 Scope-ro',
      customerName: 'Scope',
      customerAddress: '2 Scope-ro',
      items: 'x1',
      totalWon: 1000,
      lat: 37.5,
      lng: 127,
    };
    expect((await http(t, 'POST', '/api/orders', { bearer: publishOnly, body: order })).status).toBe(403);
    expect((await http(t, 'POST', '/api/orders', { bearer: cancelOnly, body: order })).status).toBe(403);
    const created = await http<{ order: { orderNo: string } }>(t, 'POST', '/api/orders', { bearer: createOnly, body: order });
    expect(created.status).toBe(201);
    const no = created.body.order.orderNo;
    expect((await http(t, 'POST', '/api/publish', { bearer: createOnly, body: publishBody('notice:posted', { title: 'x' }) })).status).toBe(403);
    expect((await http(t, 'POST', `/api/orders/${no}/cancel`, { bearer: publishOnly, body: { reason: 'x' } })).status).toBe(403);
    expect((await http(t, 'POST', `/api/orders/${no}/cancel`, { bearer: createOnly, body: { reason: 'x' } })).status).toBe(403);
    expect((await t.db.prisma.order.findUniqueOrThrow({ where: { orderNo: no } })).status).toBe('placed');
    expect((await http(t, 'POST', `/api/orders/${no}/cancel`, { bearer: cancelOnly, body: { reason: 'customer' } })).status).toBe(202);
    const keys = await t.db.prisma.apiKey.findMany({ where: { name: { in: ['notices', 'orders', 'cancels'] } }, orderBy: { id: 'asc' } });
    expect(keys.map((k) => k.scopes)).toEqual([['publish:notices'], ['orders:create'], ['orders:cancel']]);
  });

  it('caches a verified API key and writes lastUsedAt at most once a minute, not on every request', async () => {
    const key = await t.apiKey('busy', ['publish:notices']);
    const prefix = key.split('_')[1]!;
    expect((await http(t, 'POST', '/api/publish', { bearer: key, body: publishBody('notice:posted', { title: 'one' }) })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 100)); // the write is not awaited by the request
    const first = (await t.db.prisma.apiKey.findUniqueOrThrow({ where: { prefix } })).lastUsedAt;
    expect(first).not.toBeNull();
    for (let i = 0; i < 5; i++) {
      expect((await http(t, 'POST', '/api/publish', { bearer: key, body: publishBody('notice:posted', { title: `n${i}` }) })).status).toBe(202);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect((await t.db.prisma.apiKey.findUniqueOrThrow({ where: { prefix } })).lastUsedAt).toEqual(first);
  });

  it('refuses cookie-authenticated cross-site requests: a text/plain POST from another origin cancels nothing', async () => {
    const cookie = await browserLogin(t, 'dispatcher@demo.local');
    const d = await createTestDelivery(t, A);
    const path = `/api/deliveries/${d.deliverySeq}/cancel`;
    const post = (headers: Record<string, string>, body = '{"reason":"forged"}') =>
      fetch(`${t.url}${path}`, { method: 'POST', headers: { cookie, ...headers }, body });
    // What a hostile page can send without a preflight: a "simple" request with the cookie.
    expect((await post({ 'content-type': 'text/plain', origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ 'content-type': 'application/json', origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ 'content-type': 'application/json' })).status).toBe(403); // cookie, but no proof of origin
    expect((await post({ 'content-type': 'text/plain', origin: t.url })).status).toBe(400); // same origin, not JSON
    expect((await t.app.services.deliveries.get(d.deliverySeq)).status).toBe('waiting');
    expect((await post({ 'content-type': 'application/json', origin: t.url })).status).toBe(200);
    expect((await t.app.services.deliveries.get(d.deliverySeq)).status).toBe('cancelled');
    // A Bearer caller is not cookie-bound: no origin needed.
    const d2 = await createTestDelivery(t, A);
    const bearer = await t.token('dispatcher@demo.local');
    expect((await http(t, 'POST', `/api/deliveries/${d2.deliverySeq}/cancel`, { bearer, body: { reason: 'api' } })).status).toBe(200);
  });

  it('refuses a Socket.IO handshake from another origin with the cookie; a native client (no Origin) still connects with it', async () => {
    const cookie = await browserLogin(t, 'dispatcher@demo.local');
    await expect(connectWithHeaders(t, NAMESPACES.dispatch, { cookie, origin: 'http://evil.example' })).rejects.toThrow();
    const same = await connectWithHeaders(t, NAMESPACES.dispatch, { cookie, origin: t.url });
    const native = await connectWithHeaders(t, NAMESPACES.dispatch, { cookie });
    expect(same.connected && native.connected).toBe(true);
    same.disconnect();
    native.disconnect();
  });

  it('authenticates a namespace opened later on a cookie connection; the connection keeps only the cookie and origin of its request', async () => {
    const cookie = await browserLogin(t, 'dispatcher@demo.local');
    const dispatch = await connectWithHeaders(t, NAMESPACES.dispatch, { cookie, origin: t.url, 'user-agent': 'test-browser' });
    await new Promise((r) => setTimeout(r, 200));
    // The same connection (one Manager, one Engine.IO session) opens /chat afterwards.
    const chat = dispatch.io.socket(NAMESPACES.chat);
    chat.connect();
    await new Promise<void>((resolve, reject) => {
      chat.once('connect', () => resolve());
      chat.once('connect_error', reject);
    });
    expect(chat.id).toBeDefined();
    const held = t.app.io.of(NAMESPACES.chat).sockets.get(chat.id!);
    expect((held?.data as { user?: { email: string } } | undefined)?.user?.email).toBe('dispatcher@demo.local');
    expect(held?.handshake.headers).toEqual({ cookie, origin: t.url });
    expect(held?.handshake.xdomain).toBe(true);
    expect(held?.handshake.query).toMatchObject({ EIO: '4', transport: 'websocket' });
    chat.disconnect();
    dispatch.disconnect();
  });

  it('sends security headers (CSP with frame-ancestors, nosniff, referrer policy) on every answer', async () => {
    for (const path of ['/api/health', '/no-such-page']) {
      const res = await fetch(`${t.url}${path}`);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  it('signing out ends the session on the server: the token is refused and the session’s live sockets are disconnected', async () => {
    const login = await http<{ token: string }>(t, 'POST', '/api/auth/token', { body: { email: 'dispatcher@demo.local', password: TEST_PASSWORD } });
    const token = login.body.token;
    const other = await t.token('dispatcher@demo.local'); // another session of the same user
    const s1 = await t.connect(NAMESPACES.dispatch, token);
    const s2 = await t.connect(NAMESPACES.chat, token);
    const keep = await t.connect(NAMESPACES.dispatch, other);
    expect((await http(t, 'GET', '/api/auth/me', { bearer: token })).status).toBe(200);
    const gone = Promise.all([disconnected(s1), disconnected(s2)]);
    expect((await http(t, 'POST', '/api/auth/logout', { bearer: token, body: {} })).status).toBe(200);
    expect(await gone).toEqual(['io server disconnect', 'io server disconnect']);
    expect((await http(t, 'GET', '/api/auth/me', { bearer: token })).status).toBe(401);
    expect((await http(t, 'POST', '/api/auth/renew', { bearer: token, body: {} })).status).toBe(401);
    expect(await connectError(t, NAMESPACES.dispatch, token)).toBe('unauthorized');
    expect(keep.connected).toBe(true); // the user's other session goes on
    expect(data(await ask(keep, 'centers:list', {}))).toBeInstanceOf(Array);
  });

  it('a removed center membership or a role change reaches open sockets within seconds', async () => {
    const { user, token } = await t.createUser('dispatcher', [A]);
    const admin = await t.token('admin@demo.local');
    const s = await t.connect(NAMESPACES.dispatch, token);
    data(await ask(s, 'center:join', { centerId: A }));
    const gone = disconnected(s);
    const changed = await http(t, 'POST', `/api/admin/users/${user.id}/centers`, { bearer: admin, body: { centerIds: [B] } });
    expect(changed.status).toBe(200);
    await gone;
    // Reconnecting with the same (now stale) token is authorized afresh from the database.
    const again = await t.connect(NAMESPACES.dispatch, token);
    expect(ackError(await ask(again, 'center:join', { centerId: A }))).toBe('not_found');
    data(await ask(again, 'center:join', { centerId: B }));
    const me = await http<{ user: { centerIds: number[] } }>(t, 'GET', '/api/auth/me', { bearer: token });
    expect(me.body.user.centerIds).toEqual([B]);

    const gone2 = disconnected(again);
    expect((await http(t, 'POST', `/api/admin/users/${user.id}/role`, { bearer: admin, body: { role: 'callcenter' } })).status).toBe(200);
    await gone2;
    const third = await t.connect(NAMESPACES.dispatch, token);
    expect(ackError(await ask(third, 'center:join', { centerId: B }))).toBe('not_found');
    // Only admins change users.
    expect((await http(t, 'POST', `/api/admin/users/${user.id}/role`, { bearer: token, body: { role: 'admin' } })).status).toBe(403);
  });

  it('answers "not found" for a delivery the caller may not see, exactly as for one that does not exist', async () => {
    const d = await createTestDelivery(t, A);
    const outsider = (await t.createUser('dispatcher', [B])).token;
    const hidden = await http(t, 'GET', `/api/deliveries/${d.deliverySeq}`, { bearer: outsider });
    const missing = await http(t, 'GET', `/api/deliveries/99999999`, { bearer: outsider });
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(Object.keys((hidden.body as { error: object }).error)).toEqual(Object.keys((missing.body as { error: object }).error));
    const s = await t.connect(NAMESPACES.dispatch, outsider);
    expect(ackError(await ask(s, 'delivery:cancel', { deliverySeq: d.deliverySeq }))).toBe('not_found');
    expect(ackError(await ask(s, 'delivery:cancel', { deliverySeq: 99999999 }))).toBe('not_found');
  });

  it('binds an idempotency key to its command: reusing it for another command is 409 conflict, not a replay', async () => {
    const rider = await t.createUser('rider', [A]);
    const d = await createTestDelivery(t, A);
    await t.app.services.deliveries.assign(d.deliverySeq, rider.user.riderId!, { label: 'test' });
    const s = await t.connect(NAMESPACES.dispatch, rider.token);
    const key = `idem-${backend.name}-${d.deliverySeq}`;
    const picked = data(await ask<DeliveryRow>(s, 'delivery:pick_up', { deliverySeq: d.deliverySeq, idempotencyKey: key }));
    expect(data(await ask<DeliveryRow>(s, 'delivery:pick_up', { deliverySeq: d.deliverySeq, idempotencyKey: key }))).toEqual(picked);
    expect(ackError(await ask(s, 'delivery:deliver', { deliverySeq: d.deliverySeq, idempotencyKey: key }))).toBe('conflict');
    expect((await t.app.services.deliveries.get(d.deliverySeq)).status).toBe('picked_up');
  });

  it('chat:join joins the room before reading history, so a message sent in between is not missed', async () => {
    const chat = t.app.services.chat;
    const original = chat.history.bind(chat);
    const writer = (await t.createUser('dispatcher', [A])).user;
    // A message committed right after the history was read, before the answer went out.
    chat.history = async (centerId, beforeId) => {
      const page = await original(centerId, beforeId);
      await chat.send(writer, centerId, 'sent while you joined');
      return page;
    };
    try {
      const s = await t.connect(NAMESPACES.chat, await t.token('dispatcher@demo.local'));
      const heard = nextEvent<ChatMessage>(s, 'chat:message', (m) => m.body === 'sent while you joined', 3000);
      data(await ask(s, 'chat:join', { centerId: A }));
      expect((await heard).body).toBe('sent while you joined');
    } finally {
      chat.history = original;
    }
  });

  it('answers a body over the limit with 413 (not a reset connection)', async () => {
    const bearer = await t.token('dispatcher@demo.local');
    const big = JSON.stringify({ reason: 'x'.repeat(100 * 1024) });
    const res = await http(t, 'POST', '/api/deliveries/1/cancel', { bearer, body: big });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('routes exactly the commands of the catalogue on each namespace', () => {
    for (const [namespace, commands] of Object.entries(CLIENT_COMMANDS)) {
      expect([...routesOf(t.app.io.of(namespace)).commands.keys()].sort()).toEqual([...commands].sort());
    }
  });

  it('labels metrics only from the catalogue: 600 made-up event names add no series', async () => {
    const s = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    const series = async () => (await t.app.metrics.commands.get()).values.length;
    const before = await series();
    for (let i = 0; i < 600; i++) s.emit(`made-up-${i}`, {}, () => undefined);
    await settle([s], 300);
    const after = await series();
    expect(after - before).toBeLessThanOrEqual(2); // `other` (rate limited) and the barrier's own command
    const labels = (await t.app.metrics.commands.get()).values.map((v) => String(v.labels.command));
    const allowed = new Set<string>([...Object.values(CLIENT_COMMANDS).flat(), 'other']);
    expect(labels.filter((l) => !allowed.has(l))).toEqual([]);
    expect(labels).toContain('other');
  });

  it('reports a database error while sharing a location as an error, not as "rider not found"', async () => {
    const broken = await backend.open();
    await broken.dispose(); // its pool is closed: every query fails
    const riders = createRidersService(broken.db.prisma, () => undefined);
    const err = await riders.updatePosition(1, 37.5, 127).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof AppError && err.code === 'not_found').toBe(false);
  });
});

describe('sessions and limits (PostgreSQL)', () => {
  const pg = BACKENDS.find((b) => b.name === 'postgres')!;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(pg, { deliveries: 5, app: { tokenTtlSeconds: 1, maxConnectionsPerIp: 3, trustProxy: 1 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('issues short-lived tokens that renew from a live session: the browser cookie slides, a native client calls /api/auth/renew', async () => {
    const cookie = await browserLogin(t, 'dispatcher@demo.local');
    const token = await t.token('dispatcher@demo.local');
    await new Promise((r) => setTimeout(r, 2100)); // both tokens have expired
    const me = await fetch(`${t.url}/api/auth/me`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.headers.get('set-cookie')).toContain(`${SESSION_COOKIE}=`);
    const renewed = await http<{ token: string }>(t, 'POST', '/api/auth/renew', { bearer: token, body: {} });
    expect(renewed.status).toBe(200);
    expect(renewed.body.token).not.toBe(token);
    // An expired token still connects a socket (renewed from the session), until the session ends.
    const s = await t.connect(NAMESPACES.dispatch, token);
    s.disconnect();
    expect((await http(t, 'POST', '/api/auth/logout', { bearer: renewed.body.token, body: {} })).status).toBe(200);
    expect(await connectError(t, NAMESPACES.dispatch, token)).toBe('unauthorized');
    expect((await http(t, 'POST', '/api/auth/renew', { bearer: token, body: {} })).status).toBe(401);
  });

  it('limits concurrent Socket.IO connections per client address', async () => {
    const token = await t.token('dispatcher@demo.local');
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await t.connect(NAMESPACES.dispatch, token));
    await expect(t.connect(NAMESPACES.dispatch, token)).rejects.toThrow();
    open.pop()!.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    open.push(await t.connect(NAMESPACES.dispatch, token));
    for (const s of open) s.disconnect();
  });

  it('counts the login limit per real client behind a trusted proxy (X-Forwarded-For), not per proxy', async () => {
    const attempt = (client: string) =>
      http(t, 'POST', '/api/auth/token', { body: { email: 'hq@demo.local', password: 'wrong' }, headers: { 'x-forwarded-for': client } });
    for (let i = 0; i < 10; i++) expect((await attempt('203.0.113.7')).status).toBe(401);
    expect((await attempt('203.0.113.7')).status).toBe(429);
    expect((await attempt('198.51.100.9')).status).toBe(401); // another client behind the same proxy
  });

  it('counts only wrong passwords against the sign-in limit: a user signing in again and again is never held up', async () => {
    const signIn = (password: string) =>
      http(t, 'POST', '/api/auth/token', { body: { email: 'dispatcher@demo.local', password }, headers: { 'x-forwarded-for': '192.0.2.50' } });
    for (let i = 0; i < 15; i++) expect((await signIn(TEST_PASSWORD)).status).toBe(200);
    // Nine wrong, one right (which forgets them), nine wrong again: never over the limit of ten.
    for (let i = 0; i < 9; i++) expect((await signIn('wrong')).status).toBe(401);
    expect((await signIn(TEST_PASSWORD)).status).toBe(200);
    for (let i = 0; i < 9; i++) expect((await signIn('wrong')).status).toBe(401);
    expect((await signIn('wrong')).status).toBe(401); // the tenth
    // Over the limit, even the right password waits for the window.
    expect((await signIn(TEST_PASSWORD)).status).toBe(429);
  });
});

describe('connections per process (PostgreSQL)', () => {
  const pg = BACKENDS.find((b) => b.name === 'postgres')!;
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startTestApp(pg, { deliveries: 5, app: { maxConnections: 3, maxConnectionsPerIp: 0 } });
    token = await t.token('dispatcher@demo.local');
    // The sign-in's keep-alive connection counts too (idle, it stays open a minute): close it.
    t.app.httpServer.closeIdleConnections();
    await waitFor(async () => (await connections(t)) === 0);
  });
  afterAll(async () => {
    await t?.close();
  });

  const connections = (app: TestApp) => new Promise<number>((resolve, reject) => app.app.httpServer.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  async function waitFor(check: () => Promise<boolean>) {
    for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
  }
  const openRaw = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => resolve(c));
      c.once('error', reject);
    });

  it('closes a connection past its most on arrival, counts it, and takes one again once there is room', async () => {
    const port = Number(new URL(t.url).port);
    const held = await Promise.all([openRaw(port), openRaw(port), openRaw(port)]);
    await waitFor(async () => (await connections(t)) === 3);
    const refusedBefore = (await t.app.metrics.connectionsRefused.get()).values[0]?.value ?? 0;
    // The fourth is accepted by the kernel, then closed by the server without a byte.
    const fourth = await openRaw(port);
    const received: Buffer[] = [];
    fourth.on('data', (b: Buffer) => received.push(b));
    await new Promise<void>((resolve) => fourth.once('close', () => resolve()));
    expect(received).toEqual([]);
    expect((await t.app.metrics.connectionsRefused.get()).values[0]?.value).toBe(refusedBefore + 1);
    // A Socket.IO client is refused the same way, and connects once a connection went.
    await expect(t.connect(NAMESPACES.dispatch, token)).rejects.toThrow();
    held.pop()!.destroy();
    await waitFor(async () => (await connections(t)) === 2);
    const s = await t.connect(NAMESPACES.dispatch, token);
    expect(s.connected).toBe(true);
    s.disconnect();
    for (const c of held) c.destroy();
  });
});


/**
 * nginx keeps an idle upstream connection 60 s, and HTTP clients keep theirs in a pool. A server
 * that closes an idle keep-alive connection first (Node's default: after 5 s) can close it just
 * as a request arrives on it: that request meets a reset, and a POST is not retried.
 */
describe('idle keep-alive connections', () => {
  const embedded = BACKENDS.find((b) => b.name === 'embedded')!;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(embedded, { deliveries: 0 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('stay open longer than nginx keeps them, and say so in the Keep-Alive header', async () => {
    const c = net.connect(Number(new URL(t.url).port), '127.0.0.1');
    let text = '';
    let closed = false;
    c.on('data', (b: Buffer) => (text += b.toString()));
    c.on('close', () => (closed = true));
    const get = async () => {
      text = '';
      c.write('GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
      await expect.poll(() => /\r\n\r\n[\s\S]*\}$/.test(text), { timeout: 5000 }).toBe(true);
      return text;
    };
    const first = await get();
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).toMatch(new RegExp(`^keep-alive: timeout=${KEEP_ALIVE_MS / 1000}\\r$`, 'im'));
    // Past Node's default of 5 s, idle: still open, and it answers the next request.
    await new Promise((r) => setTimeout(r, 6000));
    expect(closed).toBe(false);
    expect(await get()).toMatch(/^HTTP\/1\.1 200/);
    c.destroy();
  });
});
