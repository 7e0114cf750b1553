import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';
import type { DeliveryRow, OrderRow } from '../protocol';

export const DEMO_PASSWORD = 'demo';

/** A user's Bearer token through the real token endpoint. */
export async function tokenFor(request: APIRequestContext, email: string): Promise<string> {
  const res = await request.post('/api/auth/token', { data: { email, password: DEMO_PASSWORD } });
  expect(res.status()).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Sign in through the login page, as a person does. */
export async function signIn(page: Page, email: string, next = '/'): Promise<void> {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
}

let counter = 0;
/** Orders (and their deliveries) created by a test through the API; the test owns them. */
export const test = base.extend<{ hqToken: string; createOrder: (centerId?: number) => Promise<{ order: OrderRow; delivery: DeliveryRow }> }>({
  hqToken: async ({ request }, use) => {
    await use(await tokenFor(request, 'hq@demo.local'));
  },
  createOrder: async ({ request, hqToken }, use) => {
    const created: string[] = [];
    await use(async (centerId = 1) => {
      counter += 1;
      const res = await request.post('/api/orders', {
        headers: { authorization: `Bearer ${hqToken}` },
        data: {
          centerId,
          orderNo: `E2E${Date.now().toString(36).toUpperCase()}${counter}`,
          shopName: `E2E Shop ${counter}`,
          shopAddress: '1 Test-ro',
          customerName: 'E2E Customer',
          customerAddress: `${counter} Playwright-gil`,
          items: 'Test meal x1',
          totalWon: 12000,
          lat: 37.5,
          lng: 127.03,
        },
      });
      expect(res.status(), await res.text()).toBe(201);
      const body = (await res.json()) as { order: OrderRow; delivery: DeliveryRow };
      created.push(body.order.orderNo);
      return body;
    });
    // Leave nothing moving behind: cancel what is still active.
    for (const orderNo of created) {
      await request.post(`/api/orders/${orderNo}/cancel`, { headers: { authorization: `Bearer ${hqToken}` }, data: { reason: 'e2e cleanup' } });
    }
  },
});
export { expect };

// ---------------------------------------------------------------------------------------------
// Call-center helpers (added for e2e/callcenter.spec.ts)
// ---------------------------------------------------------------------------------------------

/** An order with chosen fields (e.g. a unique customer name) through the API; the caller cancels it. */
export async function createOrderWith(
  request: APIRequestContext,
  token: string,
  fields: Partial<import('../protocol').NewOrderBody> = {},
): Promise<{ order: OrderRow; delivery: DeliveryRow }> {
  const n = `${Date.now().toString(36).toUpperCase()}${Math.floor(Math.random() * 1296).toString(36).toUpperCase()}`;
  const res = await request.post('/api/orders', {
    headers: { authorization: `Bearer ${token}` },
    data: {
      centerId: 1,
      orderNo: `E2ECC${n}`,
      shopName: 'E2E Call Shop',
      shopAddress: '2 Test-ro',
      customerName: 'E2E Caller',
      customerAddress: '9 Playwright-gil',
      items: 'Test meal x2',
      totalWon: 15000,
      lat: 37.5,
      lng: 127.03,
      ...fields,
    },
  });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()) as { order: OrderRow; delivery: DeliveryRow };
}

/** Cancel an order over HTTP as a back-end service does (Bearer API key or user token). */
export function cancelOrderOverHttp(request: APIRequestContext, token: string, orderNo: string, reason: string) {
  return request.post(`/api/orders/${orderNo}/cancel`, { headers: { authorization: `Bearer ${token}` }, data: { reason } });
}

/** Take a waiting delivery all the way to delivered through the REST commands (assign, pick up, deliver). */
export async function deliverThroughApi(request: APIRequestContext, token: string, delivery: DeliveryRow): Promise<DeliveryRow> {
  const headers = { authorization: `Bearer ${token}` };
  const riders = (await (await request.get(`/api/centers/${delivery.centerId}/riders`, { headers })).json()) as { id: number; status: string }[];
  const rider = riders.find((r) => r.status !== 'off');
  if (!rider) throw new Error(`no rider on duty at center ${delivery.centerId}`);
  const step = async (path: string, data: object): Promise<DeliveryRow> => {
    const res = await request.post(`/api/deliveries/${delivery.deliverySeq}/${path}`, { headers, data });
    expect(res.status(), `${path}: ${await res.text()}`).toBe(200);
    return (await res.json()) as DeliveryRow;
  };
  await step('assign', { riderId: rider.id });
  await step('pick-up', {});
  return step('deliver', {});
}

// ---------------------------------------------------------------------------------------------
// Rider and chat helpers (added for e2e/rider.spec.ts and e2e/chat.spec.ts)
// ---------------------------------------------------------------------------------------------

/** The user behind a token (GET /api/auth/me): a rider's `riderId`, everyone's `centerIds`. */
export async function whoAmI(request: APIRequestContext, token: string): Promise<import('../protocol').SessionUser> {
  const res = await request.get('/api/auth/me', { headers: { authorization: `Bearer ${token}` } });
  expect(res.status(), await res.text()).toBe(200);
  return ((await res.json()) as { user: import('../protocol').SessionUser }).user;
}

/** A delivery and its timeline as the server holds them (GET /api/deliveries/:seq). */
export async function deliveryWithTimeline(
  request: APIRequestContext,
  token: string,
  deliverySeq: number,
): Promise<{ delivery: DeliveryRow; timeline: import('../protocol').DeliveryTimelineEntry[] }> {
  const res = await request.get(`/api/deliveries/${deliverySeq}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as { delivery: DeliveryRow; timeline: import('../protocol').DeliveryTimelineEntry[] };
}

/** Assign a delivery over REST (POST /api/deliveries/:seq/assign). */
export async function assignOverHttp(request: APIRequestContext, token: string, deliverySeq: number, riderId: number): Promise<DeliveryRow> {
  const res = await request.post(`/api/deliveries/${deliverySeq}/assign`, { headers: { authorization: `Bearer ${token}` }, data: { riderId } });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as DeliveryRow;
}

/**
 * Sign a browser context in with a token (the session cookie holds the same token the sign-in
 * page sets), without going through the rate-limited sign-in form again.
 */
export async function signInWithToken(context: import('@playwright/test').BrowserContext, baseURL: string, token: string): Promise<void> {
  await context.addCookies([{ name: 'dd_session', value: token, url: baseURL, httpOnly: true, sameSite: 'Lax' }]);
}

/** A chat participant without a browser: a /chat Socket.IO client signed in with a token. */
export async function chatClient(baseURL: string, token: string) {
  const { io } = await import('socket.io-client');
  const socket: import('socket.io-client').Socket<import('../protocol').ChatServerEvents, import('../protocol').ChatClientEvents> = io(`${baseURL}/chat`, {
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const ask = async <T>(event: 'chat:join' | 'chat:send' | 'chat:history', payload: object): Promise<T> => {
    for (;;) {
      const res = (await (socket.timeout(10_000) as unknown as { emitWithAck(e: string, p: object): Promise<unknown> }).emitWithAck(event, payload)) as
        | { data: T }
        | { error: { code: string; message: string } };
      // The server allows a socket 30 commands a second; a fast test client waits its turn.
      if ('error' in res && res.error.code === 'rate_limited') {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if ('error' in res) throw new Error(`${event}: ${res.error.code} ${res.error.message}`);
      return res.data;
    }
  };
  return {
    socket,
    join: (centerId: number) => ask<{ centerId: number; messages: import('../protocol').ChatMessage[] }>('chat:join', { centerId }),
    send: (centerId: number, body: string) => ask<import('../protocol').ChatMessage>('chat:send', { centerId, body }),
    close: () => void socket.disconnect(),
  };
}
