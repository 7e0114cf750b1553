import type { Page } from '@playwright/test';
import type { DeliveryRow } from '../protocol';
import { cancelOrderOverHttp, createOrderWith, deliverThroughApi, expect, signIn, test, tokenFor } from './fixtures';

type MarkedWindow = Window & { __ccMarker?: string; __ccBannerAt?: number };

const result = (page: Page, orderNo: string) => page.locator(`[data-testid="cc-result"][data-order-no="${orderNo}"]`);

/** Sign in as an agent and wait for the live link. */
async function openDesk(page: Page): Promise<void> {
  await signIn(page, 'callcenter@demo.local', '/callcenter');
  await expect(page).toHaveURL(/\/callcenter/);
  await expect(page.getByTestId('cc-connection')).toHaveAttribute('data-state', 'live');
}

/** Search for an order and open it; resolves once its room is watched. */
async function searchAndOpen(page: Page, q: string, orderNo: string): Promise<void> {
  await page.getByTestId('cc-search').fill(q);
  await result(page, orderNo).click();
  const detail = page.getByTestId('cc-detail');
  await expect(detail).toHaveAttribute('data-order-no', orderNo);
  await expect(detail).toHaveAttribute('data-watching', 'true');
}

test.describe('call center', () => {
  test('a cancellation posted by a back-end service shows within 1 s, without a reload', async ({ page, request, createOrder }) => {
    const { order } = await createOrder(1);
    await openDesk(page);
    await searchAndOpen(page, order.orderNo, order.orderNo);

    const detail = page.getByTestId('cc-detail');
    await expect(page).toHaveURL(new RegExp(`[?&]order=${order.orderNo}`));
    await expect(detail.getByTestId('cc-customer')).toHaveText('E2E Customer');
    await expect(detail.getByTestId('cc-total')).toContainText('12,000');
    await expect(page.getByTestId('cc-order-status')).toHaveAttribute('data-status', 'placed');
    await expect(page.getByTestId('cc-delivery-status')).toHaveAttribute('data-status', 'waiting');
    await expect(page.getByTestId('cancel-banner')).toHaveCount(0);

    // A marker that a reload would wipe, and a stopwatch for the banner inside the page.
    await page.evaluate(() => {
      const w = window as MarkedWindow;
      w.__ccMarker = 'no-reload';
      new MutationObserver((_m, obs) => {
        if (document.querySelector('[data-testid="cancel-banner"]')) {
          w.__ccBannerAt = Date.now();
          obs.disconnect();
        }
      }).observe(document.body, { childList: true, subtree: true });
    });

    // The consumer app's cancel flow, over HTTP with a Bearer token (as a service would with its key).
    const hqToken = await tokenFor(request, 'hq@demo.local');
    const reason = `Customer changed their mind (${Date.now().toString(36)})`;
    const postedAt = Date.now();
    const res = await cancelOrderOverHttp(request, hqToken, order.orderNo, reason);
    const returnedAt = Date.now();
    expect(res.status(), await res.text()).toBe(202);

    const banner = page.getByTestId('cancel-banner');
    await expect(banner).toBeVisible({ timeout: 1000 });
    await expect(banner).toContainText(reason, { timeout: 1000 });
    const seenAt = Date.now();
    await expect(banner).toHaveAttribute('role', 'alert');
    await expect(page.getByTestId('cc-order-status')).toHaveAttribute('data-status', 'cancelled');
    await expect(page.getByTestId('cc-order-status')).toHaveText('Cancelled');
    await expect(page.getByTestId('cc-delivery-status')).toHaveAttribute('data-status', 'cancelled');
    await expect(page.getByTestId('cc-cancel')).toBeDisabled();
    // The list row follows the open order.
    await expect(result(page, order.orderNo).locator('[data-status]')).toHaveAttribute('data-status', 'cancelled');

    // Same document: no reload happened.
    expect(await page.evaluate(() => (window as MarkedWindow).__ccMarker)).toBe('no-reload');
    const bannerAt = await page.evaluate(() => (window as MarkedWindow).__ccBannerAt ?? null);
    expect(bannerAt).not.toBeNull();
    const latency = {
      fromPostStartMs: (bannerAt ?? 0) - postedAt,
      fromPostReturnMs: (bannerAt ?? 0) - returnedAt,
      postRoundTripMs: returnedAt - postedAt,
      assertionSawItAfterReturnMs: seenAt - returnedAt,
    };
    test.info().annotations.push({ type: 'banner-latency', description: JSON.stringify(latency) });
    console.log(`[callcenter] banner latency ${JSON.stringify(latency)}`);
    expect(latency.fromPostReturnMs).toBeLessThan(1000);
  });

  test('an agent cancels by keyboard and button, with a confirmation step; a reload keeps the order', async ({ page, createOrder }) => {
    const { order } = await createOrder(1);
    await openDesk(page);

    // `/` focuses the search, arrows pick a result, Enter opens it.
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('/');
    await expect(page.getByTestId('cc-search')).toBeFocused();
    await page.keyboard.type(order.orderNo);
    await expect(page.getByTestId('cc-result')).toHaveCount(1);
    await expect(result(page, order.orderNo)).toBeVisible();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('cc-detail')).toHaveAttribute('data-order-no', order.orderNo);
    await expect(page.getByTestId('cc-detail')).toHaveAttribute('data-watching', 'true');

    // A reload keeps the open order (and watches it again).
    await page.reload();
    await expect(page.getByTestId('cc-detail')).toHaveAttribute('data-order-no', order.orderNo);
    await expect(page.getByTestId('cc-detail')).toHaveAttribute('data-watching', 'true');
    await expect(page.getByTestId('cc-delivery-status')).toHaveAttribute('data-status', 'waiting');

    // Cancel: first a reason and a confirmation; backing out changes nothing.
    await page.getByTestId('cc-cancel').click();
    await expect(page.getByTestId('cc-cancel-reason')).toBeFocused();
    await expect(page.getByTestId('cc-cancel-confirm')).toBeDisabled();
    await page.keyboard.press('Escape'); // leaves the confirmation, keeps the order open
    await expect(page.getByTestId('cc-cancel-reason')).toHaveCount(0);
    await expect(page.getByTestId('cc-detail')).toBeVisible();
    await expect(page.getByTestId('cc-order-status')).toHaveAttribute('data-status', 'placed');

    await page.getByTestId('cc-cancel').click();
    await page.getByTestId('cc-cancel-reason').fill('Ordered by mistake, says the customer');
    await page.getByTestId('cc-cancel-confirm').click();
    const banner = page.getByTestId('cancel-banner');
    await expect(banner).toBeVisible();
    await expect(banner).toContainText('Ordered by mistake, says the customer');
    await expect(page.getByTestId('cc-order-status')).toHaveAttribute('data-status', 'cancelled');
    await expect(page.getByTestId('cc-delivery-status')).toHaveAttribute('data-status', 'cancelled');
    await expect(page.getByTestId('cc-t-cancelled')).not.toHaveText('—');
    await expect(page.getByTestId('cc-cancel')).toBeDisabled();

    // Esc closes the detail and clears it from the URL.
    await page.keyboard.press('Escape');
    await expect(page.getByTestId('cc-detail')).toHaveCount(0);
    await expect(page).not.toHaveURL(/order=/);
    await expect(page.getByTestId('cc-search')).toBeFocused();
  });

  test('delivery changes update the open order in place; a cancel that loses the race says "already delivered"', async ({ page, request, hqToken, createOrder }) => {
    const { order, delivery } = await createOrder(1);
    await openDesk(page);
    await searchAndOpen(page, order.orderNo, order.orderNo);
    await page.evaluate(() => {
      (window as MarkedWindow).__ccMarker = 'no-reload';
    });

    await page.getByTestId('cc-cancel').click();
    await page.getByTestId('cc-cancel-reason').fill('Taking too long');
    // The rider delivers while the agent confirms: the server must refuse, the screen must say why.
    let delivered: DeliveryRow | null = null;
    await page.route(`**/api/orders/${order.orderNo}/cancel`, async (route) => {
      delivered = await deliverThroughApi(request, hqToken, delivery);
      await route.continue();
    });
    await page.getByTestId('cc-cancel-confirm').click();
    await expect(page.getByTestId('cc-cancel-error')).toContainText('Already delivered');
    const done = delivered as DeliveryRow | null;
    expect(done?.status).toBe('delivered');
    await expect(page.getByTestId('cc-delivery-status')).toHaveAttribute('data-status', 'delivered');
    await expect(page.getByTestId('cc-order-status')).toHaveAttribute('data-status', 'delivered');
    await expect(page.getByTestId('cc-rider')).toHaveText(String(done?.riderName));
    await expect(page.getByTestId('cc-delivery-status')).toHaveAttribute('data-version', String(done?.version));
    await expect(page.getByTestId('cc-t-delivered')).not.toHaveText('—');
    await expect(page.getByTestId('cc-cancel')).toBeDisabled();
    await expect(page.getByTestId('cancel-banner')).toHaveCount(0);
    expect(await page.evaluate(() => (window as MarkedWindow).__ccMarker)).toBe('no-reload');
  });

  test('finds an order by part of the customer name', async ({ page, request, hqToken }) => {
    const unique = `Zed${Date.now().toString(36)}`;
    const { order } = await createOrderWith(request, hqToken, { customerName: `${unique} Parkinson`, shopName: 'Mandu King' });
    try {
      await openDesk(page);
      await page.getByTestId('cc-search').fill(unique.toLowerCase());
      await expect(page.getByTestId('cc-result')).toHaveCount(1);
      const row = result(page, order.orderNo);
      await expect(row).toContainText(`${unique} Parkinson`);
      await expect(row).toContainText('Mandu King');
      await expect(row).toContainText('15,000');
      await row.click();
      await expect(page.getByTestId('cc-detail')).toHaveAttribute('data-order-no', order.orderNo);
      await expect(page.getByTestId('cc-customer')).toHaveText(`${unique} Parkinson`);

      // A query with no match says so.
      await page.getByTestId('cc-search').fill(`${unique}-nobody`);
      await expect(page.getByTestId('cc-no-results')).toBeVisible();
    } finally {
      await cancelOrderOverHttp(request, hqToken, order.orderNo, 'e2e cleanup');
    }
  });

  test('a dispatcher is told the screen is not for their role', async ({ page }) => {
    await signIn(page, 'dispatcher@demo.local', '/callcenter');
    await expect(page).toHaveURL(/\/callcenter/);
    await expect(page.getByTestId('cc-forbidden')).toContainText('not for your role');
    await expect(page.getByTestId('cc-search')).toHaveCount(0);
  });
});
