import type { Page, WebSocketRoute } from '@playwright/test';
import type { RiderRow } from '../protocol';
import { assignOverHttp, deliveryWithTimeline, expect, signIn, signInWithToken, test as base, tokenFor, whoAmI } from './fixtures';

/** Runs in the `mobile` project (390x844, touch). */
const RIDER = 'rider@demo.local';

// Sign-in is rate limited (10 a minute per address and account): each account signs in once
// per worker and the tests reuse its token.
let hqToken: string | undefined;
let rider: { token: string; id: number } | undefined;
const test = base.extend<{ rider: { token: string; id: number } }>({
  hqToken: async ({ request }, use) => {
    hqToken ??= await tokenFor(request, 'hq@demo.local');
    await use(hqToken);
  },
  rider: async ({ request }, use) => {
    if (!rider) {
      const token = await tokenFor(request, RIDER);
      const me = await whoAmI(request, token);
      expect(me.riderId).not.toBeNull();
      rider = { token, id: me.riderId! };
    }
    await use(rider);
  },
});

/** Open /rider signed in as the demo rider (with the kept token) and wait for the live link. */
async function openRider(page: Page, token: string): Promise<void> {
  await signInWithToken(page.context(), String(test.info().project.use.baseURL), token);
  await page.goto('/rider');
  await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'live');
}

/**
 * Put the page's Socket.IO websocket through Playwright so a test can hold back what the page
 * sends, or drop what the server answers. Everything else passes untouched.
 */
async function interceptSocket(page: Page) {
  const ctl = {
    holdPageFrames: null as null | ((frame: string) => boolean),
    dropServerFrames: null as null | ((frame: string) => boolean),
    held: [] as string[],
    dropped: [] as string[],
    server: null as WebSocketRoute | null,
    release() {
      const frames = ctl.held.splice(0);
      for (const f of frames) ctl.server?.send(f);
      ctl.holdPageFrames = null;
    },
  };
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    const server = ws.connectToServer();
    ctl.server = server;
    ws.onMessage((m) => {
      if (typeof m === 'string' && ctl.holdPageFrames?.(m)) ctl.held.push(m);
      else server.send(m);
    });
    server.onMessage((m) => {
      if (typeof m === 'string' && ctl.dropServerFrames?.(m)) ctl.dropped.push(m);
      else ws.send(m);
    });
  });
  return ctl;
}

/** Only the events of a kind in a delivery's timeline. */
const eventsOf = (timeline: { type: string }[], type: string) => timeline.filter((e) => e.type === type);

test.describe('rider screen', () => {
  test('the dispatcher assigns in another browser; the rider picks up and delivers; the board follows', async ({
    page,
    browser,
    request,
    hqToken,
    createOrder,
    rider,
  }, testInfo) => {
    const myRiderId = rider.id;
    const socketCtl = await interceptSocket(page);
    // Through the sign-in page, as a rider does: riders land on /rider.
    await signIn(page, RIDER, '/rider');
    await expect(page).toHaveURL(/\/rider/);
    await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'live');
    await expect(page.getByTestId('rider-name')).toHaveText('Demo Rider');

    // The dispatcher, on a desktop, in a browser context of their own.
    const desk = await browser.newContext({
      baseURL: testInfo.project.use.baseURL,
      viewport: { width: 1400, height: 900 },
      isMobile: false,
      hasTouch: false,
      deviceScaleFactor: 1,
    });
    try {
      const board = await desk.newPage();
      await signIn(board, 'dispatcher@demo.local');
      await expect(board.getByTestId('connection-badge')).toHaveAttribute('data-state', 'live');

      const { delivery } = await createOrder(1);
      const seq = delivery.deliverySeq;
      await board.getByTestId('search').fill(delivery.orderNo);
      const boardRow = board.getByTestId(`delivery-row-${seq}`);
      await expect(boardRow).toHaveAttribute('data-status', 'waiting');

      // Assigned through the dispatcher's own dialog.
      await board.getByTestId(`assign-button-${seq}`).click();
      await board.getByTestId('assign-dialog').getByTestId(`assign-rider-${myRiderId}`).click();
      await expect(boardRow).toHaveAttribute('data-status', 'assigned');

      // It appears on the rider's phone by itself, with everything needed to do the job.
      const card = page.getByTestId(`rider-delivery-${seq}`);
      await expect(card).toHaveAttribute('data-status', 'assigned');
      await expect(card).toContainText(delivery.shopName);
      await expect(card).toContainText(delivery.shopAddress);
      await expect(card).toContainText(delivery.address);
      await expect(card).toContainText(delivery.orderNo);
      await expect(card.getByTestId(`action-deliver-${seq}`)).toHaveCount(0);

      // Picked up: "pending" at once (the command is held on the wire), "confirmed" on the ack.
      socketCtl.holdPageFrames = (f) => f.includes('"delivery:pick_up"');
      const pickUp = card.getByTestId(`action-pickup-${seq}`);
      const box = await pickUp.boundingBox();
      expect(box!.height).toBeGreaterThanOrEqual(48);
      expect(box!.width).toBeGreaterThan(300);
      await pickUp.tap();
      await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'pending');
      await expect(card).toHaveAttribute('data-status', 'assigned');
      await expect.poll(() => socketCtl.held.length).toBe(1);
      socketCtl.release();
      await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'confirmed');
      await expect(card).toHaveAttribute('data-status', 'picked_up');
      await expect(boardRow).toHaveAttribute('data-status', 'picked_up');

      // Delivered: the card moves to "done today", confirmed; the dispatcher's row follows.
      const doneBefore = Number(await page.getByTestId('done-count').textContent());
      await card.getByTestId(`action-deliver-${seq}`).tap();
      const done = page.getByTestId(`rider-done-${seq}`);
      await expect(done).toHaveAttribute('data-status', 'delivered');
      await expect(done.getByTestId('action-state')).toHaveAttribute('data-state', 'confirmed');
      await expect(card).toHaveCount(0);
      await expect(page.getByTestId('done-count')).toHaveText(String(doneBefore + 1));
      await expect(boardRow).toHaveAttribute('data-status', 'delivered');

      const { timeline } = await deliveryWithTimeline(request, hqToken, seq);
      expect(timeline.map((e) => e.type)).toEqual(['created', 'assigned', 'picked_up', 'delivered']);
    } finally {
      await desk.close();
    }
  });

  test('offline taps are queued, kept in order, and sent once when the network is back', async ({ page, context, request, hqToken, createOrder, rider }) => {
    const myRiderId = rider.id;
    await openRider(page, rider.token);
    const { delivery } = await createOrder(1);
    const seq = delivery.deliverySeq;
    await assignOverHttp(request, hqToken, seq, myRiderId);
    const card = page.getByTestId(`rider-delivery-${seq}`);
    await expect(card).toHaveAttribute('data-status', 'assigned');

    await context.setOffline(true);
    await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'offline');
    await card.getByTestId(`action-pickup-${seq}`).tap();
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'queued');
    await expect(card.getByTestId('action-state')).toContainText('will send when back online');
    await expect(page.getByTestId('queued-count')).toHaveAttribute('data-count', '1');
    // The next step can be taken offline too; it waits behind the first.
    await card.getByTestId(`action-deliver-${seq}`).tap();
    await expect(page.getByTestId('queued-count')).toHaveAttribute('data-count', '2');
    await expect(page.getByTestId('rider-connection')).toContainText('2 actions queued');
    const stored = await page.evaluate(() => Object.entries<string>(localStorage).find(([k]) => k.startsWith('dd.rider.actions.'))?.[1] ?? '[]');
    expect((JSON.parse(stored) as { kind: string }[]).map((a) => a.kind)).toEqual(['pick_up', 'deliver']);
    // Nothing reached the server.
    expect((await deliveryWithTimeline(request, hqToken, seq)).delivery.status).toBe('assigned');

    await context.setOffline(false);
    await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    const done = page.getByTestId(`rider-done-${seq}`);
    await expect(done).toHaveAttribute('data-status', 'delivered');
    await expect(done.getByTestId('action-state')).toHaveAttribute('data-state', 'confirmed');
    await expect(page.getByTestId('queued-count')).toHaveAttribute('data-count', '0');

    const { timeline } = await deliveryWithTimeline(request, hqToken, seq);
    expect(eventsOf(timeline, 'picked_up')).toHaveLength(1);
    expect(eventsOf(timeline, 'delivered')).toHaveLength(1);
  });

  test('an unanswered tap is retried with the same key: one transition on the server', async ({ page, request, hqToken, createOrder, rider }) => {
    const myRiderId = rider.id;
    const socketCtl = await interceptSocket(page);
    await openRider(page, rider.token);
    const { delivery } = await createOrder(1);
    const seq = delivery.deliverySeq;
    await assignOverHttp(request, hqToken, seq, myRiderId);
    const card = page.getByTestId(`rider-delivery-${seq}`);
    await expect(card).toHaveAttribute('data-status', 'assigned');

    // The server commits the pick-up but its answer is lost on the way back (once).
    const sent: string[] = [];
    const hold = socketCtl;
    hold.holdPageFrames = (f) => {
      if (f.includes('"delivery:pick_up"')) sent.push(f);
      return false;
    };
    hold.dropServerFrames = (f) => {
      if (hold.dropped.length > 0 || !f.startsWith('43/dispatch,')) return false;
      return f.includes(`"deliverySeq":${seq},`) && f.includes('"status":"picked_up"');
    };
    await card.getByTestId(`action-pickup-${seq}`).tap();
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'pending');
    // No answer within the ack timeout: queued, then sent again with the same key, and confirmed.
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'queued', { timeout: 15_000 });
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'confirmed', { timeout: 20_000 });
    expect(hold.dropped).toHaveLength(1);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    const keys = new Set(sent.map((f) => /"idempotencyKey":"([^"]+)"/.exec(f)?.[1]));
    expect(keys.size).toBe(1);

    const { timeline } = await deliveryWithTimeline(request, hqToken, seq);
    expect(eventsOf(timeline, 'picked_up')).toHaveLength(1);
  });

  test('a queued tap survives a reload while the server cannot be reached', async ({ page, context, request, hqToken, createOrder, rider }) => {
    const myRiderId = rider.id;
    let blocked = false;
    // Page loads work; the live connection does not while blocked: the engine handshake gets
    // through, then the line drops (on every retry), as on a network that keeps cutting out.
    await context.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer();
      if (!blocked) return;
      ws.onMessage(() => undefined);
      server.onMessage((m) => {
        ws.send(m);
        void ws.close({ code: 1011, reason: 'blocked by test' });
      });
    });
    await context.route(/\/socket\.io\//, (route) => (blocked ? route.abort('internetdisconnected') : route.continue()));
    await openRider(page, rider.token);
    const { delivery } = await createOrder(1);
    const seq = delivery.deliverySeq;
    await assignOverHttp(request, hqToken, seq, myRiderId);
    const card = page.getByTestId(`rider-delivery-${seq}`);
    await expect(card).toHaveAttribute('data-status', 'assigned');

    blocked = true;
    await context.setOffline(true);
    await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'offline');
    await card.getByTestId(`action-pickup-${seq}`).tap();
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'queued');
    await context.setOffline(false);

    // Reloaded in a dead zone: the card and the queued tap are still there.
    await page.reload();
    await expect(page.getByTestId('rider-connection')).not.toHaveAttribute('data-state', 'live');
    await expect(card).toHaveAttribute('data-status', 'assigned');
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'queued');
    await expect(page.getByTestId('queued-count')).toHaveAttribute('data-count', '1');

    blocked = false;
    await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'confirmed');
    await expect(card).toHaveAttribute('data-status', 'picked_up');
    const { timeline } = await deliveryWithTimeline(request, hqToken, seq);
    expect(eventsOf(timeline, 'picked_up')).toHaveLength(1);
  });

  test('a refused tap shows the server’s reason and the row as the server has it', async ({ page, context, request, hqToken, createOrder, rider }) => {
    await openRider(page, rider.token);
    const { delivery } = await createOrder(1);
    const seq = delivery.deliverySeq;
    await assignOverHttp(request, hqToken, seq, rider.id);
    const card = page.getByTestId(`rider-delivery-${seq}`);
    await expect(card).toHaveAttribute('data-status', 'assigned');

    // Tapped offline; meanwhile the center cancels the order.
    await context.setOffline(true);
    await expect(page.getByTestId('rider-connection')).toHaveAttribute('data-state', 'offline');
    await card.getByTestId(`action-pickup-${seq}`).tap();
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'queued');
    const cancel = await request.post(`/api/deliveries/${seq}/cancel`, { headers: { authorization: `Bearer ${hqToken}` }, data: { reason: 'Customer cancelled' } });
    expect(cancel.status(), await cancel.text()).toBe(200);

    await context.setOffline(false);
    await expect(card.getByTestId('action-state')).toHaveAttribute('data-state', 'error', { timeout: 20_000 });
    await expect(card.getByTestId('action-state')).toContainText('Cannot pick up a delivery that is cancelled');
    await expect(card).toHaveAttribute('data-status', 'cancelled');
    await expect(card).toContainText('Do not deliver it');
    await expect(page.getByTestId('queued-count')).toHaveAttribute('data-count', '0');
    const { timeline } = await deliveryWithTimeline(request, hqToken, seq);
    expect(eventsOf(timeline, 'picked_up')).toHaveLength(0);
    // The rider clears it away.
    await page.getByTestId(`dismiss-${seq}`).tap();
    await expect(card).toHaveCount(0);
  });

  test('a delivery reassigned to another rider leaves the rider’s list', async ({ page, request, hqToken, createOrder, rider }) => {
    const myRiderId = rider.id;
    await openRider(page, rider.token);
    const { delivery } = await createOrder(1);
    const seq = delivery.deliverySeq;
    await assignOverHttp(request, hqToken, seq, myRiderId);
    const card = page.getByTestId(`rider-delivery-${seq}`);
    await expect(card).toHaveAttribute('data-status', 'assigned');
    const riders = (await (await request.get('/api/centers/1/riders', { headers: { authorization: `Bearer ${hqToken}` } })).json()) as RiderRow[];
    const other = riders.find((r) => r.id !== myRiderId && r.status !== 'off')!;
    await assignOverHttp(request, hqToken, seq, other.id);
    await expect(card).toHaveCount(0);
  });

  test('looks right on a 390px phone: no sideways scroll, big targets, keyboard reachable', async ({ page, request, hqToken, createOrder, rider }) => {
    const myRiderId = rider.id;
    await openRider(page, rider.token);
    const { delivery } = await createOrder(1);
    await assignOverHttp(request, hqToken, delivery.deliverySeq, myRiderId);
    await expect(page.getByTestId(`rider-delivery-${delivery.deliverySeq}`)).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    for (const id of ['location-toggle', 'chat-tab', `action-pickup-${delivery.deliverySeq}`]) {
      const b = await page.getByTestId(id).boundingBox();
      expect(b!.height, id).toBeGreaterThanOrEqual(44);
    }
    // The status button is reachable and works from the keyboard.
    const pickUp = page.getByTestId(`action-pickup-${delivery.deliverySeq}`);
    await pickUp.focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId(`rider-delivery-${delivery.deliverySeq}`).getByTestId('action-state')).toHaveAttribute('data-state', 'confirmed');
    // Tabs switch with the arrow keys.
    await page.getByTestId('deliveries-tab').focus();
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('chat-tab')).toHaveAttribute('aria-selected', 'true');
    await expect(page.getByTestId('chat-panel')).toBeVisible();
    await expect(page).toHaveURL(/#chat$/);
  });

  test('tells a signed-in non-rider this screen is not for them', async ({ page, hqToken }) => {
    await signInWithToken(page.context(), String(test.info().project.use.baseURL), hqToken);
    await page.goto('/rider');
    await expect(page.getByTestId('rider-not-rider')).toContainText('This screen is for riders');
  });

  test.describe('location sharing', () => {
    test.use({ permissions: ['geolocation'], geolocation: { latitude: 37.4979, longitude: 127.0276 } });

    test('sends the position when switched on and shows when', async ({ page, request, hqToken, rider }) => {
      const myRiderId = rider.id;
      await openRider(page, rider.token);
      const toggle = page.getByTestId('location-toggle');
      await expect(toggle).toHaveAttribute('aria-checked', 'false');
      await toggle.tap();
      await expect(toggle).toHaveAttribute('aria-checked', 'true');
      await expect(page.getByTestId('location-last-sent')).toHaveAttribute('data-sent', 'yes');
      await expect(page.getByTestId('location-last-sent')).toContainText('Last sent');
      const riders = (await (await request.get('/api/centers/1/riders', { headers: { authorization: `Bearer ${hqToken}` } })).json()) as RiderRow[];
      const me = riders.find((r) => r.id === myRiderId)!;
      expect(me.lat).toBeCloseTo(37.4979, 4);
      expect(me.lng).toBeCloseTo(127.0276, 4);
      // The choice is kept across reloads.
      await page.reload();
      await expect(page.getByTestId('location-toggle')).toHaveAttribute('aria-checked', 'true');
    });
  });

  test('explains a denied location permission', async ({ page, context, rider }) => {
    await context.clearPermissions();
    await openRider(page, rider.token);
    await page.getByTestId('location-toggle').tap();
    await expect(page.getByTestId('location-error')).toContainText('Location access is blocked');
    await expect(page.getByTestId('location-toggle')).toHaveAttribute('aria-checked', 'false');
  });
});

