import type { RiderRow } from '../protocol';
import { expect, signIn, test } from './fixtures';

test.describe('dispatcher dashboard', () => {
  test('signs in, shows the live list, and patches a row when its delivery changes', async ({ page, request, hqToken, createOrder }) => {
    await signIn(page, 'dispatcher@demo.local');
    await expect(page.getByTestId('connection-badge')).toHaveAttribute('data-state', 'live');
    await expect(page.getByTestId('user-chip')).toContainText('Demo Dispatcher');
    // Seeded rows are there, virtualized: far fewer row elements than deliveries.
    await expect(page.locator('[data-testid^="delivery-row-"]').first()).toBeVisible();
    const total = Number((await page.getByTestId('row-total').textContent())?.match(/of (\d+)/)?.[1]);
    expect(total).toBeGreaterThan(400);
    expect(await page.locator('[data-testid^="delivery-row-"]').count()).toBeLessThan(60);

    // A new order shows up without a reload...
    const { delivery } = await createOrder(1);
    const row = page.getByTestId(`delivery-row-${delivery.deliverySeq}`);
    await expect(row).toHaveAttribute('data-status', 'waiting');
    const waitingBefore = Number(await page.getByTestId('count-waiting').locator('.counter-value').textContent());

    // ...and assigning it (through the service, by another user) patches the row in place.
    const riders = (await (await request.get('/api/centers/1/riders', { headers: { authorization: `Bearer ${hqToken}` } })).json()) as RiderRow[];
    const rider = riders.find((r) => r.status !== 'off')!;
    const assign = await request.post(`/api/deliveries/${delivery.deliverySeq}/assign`, {
      headers: { authorization: `Bearer ${hqToken}` },
      data: { riderId: rider.id, expectedVersion: delivery.version },
    });
    expect(assign.status(), await assign.text()).toBe(200);
    await expect(row).toHaveAttribute('data-status', 'assigned');
    await expect(row.getByTestId('row-status')).toHaveText('Assigned');
    await expect(row).toContainText(rider.name);
    await expect(row).toHaveAttribute('data-version', String(delivery.version + 1));
    await expect(page.getByTestId('count-waiting').locator('.counter-value')).toHaveText(String(waitingBefore - 1));
  });

  test('assigns from the dialog with the keyboard, and shows the timeline', async ({ page, createOrder }) => {
    await signIn(page, 'dispatcher@demo.local');
    const { delivery } = await createOrder(1);
    await page.getByTestId('search').fill(delivery.orderNo);
    const row = page.getByTestId(`delivery-row-${delivery.deliverySeq}`);
    await expect(row).toBeVisible();
    await expect(page.locator('[data-testid^="delivery-row-"]')).toHaveCount(1);
    await row.click();
    await expect(page.getByTestId('delivery-detail')).toContainText(`#${delivery.deliverySeq}`);
    await expect(page.getByTestId('timeline').locator('li[data-type="created"]')).toHaveCount(1);

    // A opens the dialog; the best rider (idle, nearest) is first; Enter assigns.
    await page.getByTestId('delivery-list').focus();
    await page.keyboard.press('a');
    const dialog = page.getByTestId('assign-dialog');
    await expect(dialog).toBeVisible();
    const first = dialog.locator('[role="option"]').first();
    await expect(first).toHaveAttribute('aria-selected', 'true');
    await expect(first.locator('.rc-status')).toHaveText('idle');
    const riderName = (await first.locator('.rc-name').textContent())!;
    await page.keyboard.press('Enter');
    await expect(dialog).toBeHidden();
    await expect(row).toHaveAttribute('data-status', 'assigned');
    await expect(page.getByTestId('detail-rider')).toHaveText(riderName);
    await expect(page.getByTestId('timeline').locator('li[data-type="assigned"]')).toHaveCount(1);

    // Reassign with the mouse; Esc closes without changes.
    await page.getByTestId(`assign-button-${delivery.deliverySeq}`).click();
    await expect(dialog).toBeVisible();
    await expect(dialog.locator('.rc-status', { hasText: 'current' })).toHaveCount(1);
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(row).toHaveAttribute('data-version', String(delivery.version + 1));
  });

  test('filters by status and marks late deliveries', async ({ page }) => {
    await signIn(page, 'dispatcher@demo.local');
    await expect(page.locator('[data-testid^="delivery-row-"]').first()).toBeVisible();
    await page.getByTestId('filter-delivered').click();
    await expect(page.locator('[data-testid^="delivery-row-"]').first()).toHaveAttribute('data-status', 'delivered');
    const statuses = await page.locator('[data-testid^="delivery-row-"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(new Set(statuses)).toEqual(new Set(['delivered']));
    // The seed has active deliveries older than the 30-minute threshold.
    await page.getByTestId('filter-late').click();
    const late = page.locator('[data-testid^="delivery-row-"]').first();
    await expect(late).toHaveAttribute('data-late', 'true');
    await expect(late.locator('.late-tag')).toBeVisible();
  });

  test('HQ switches between centers and the all-centers view', async ({ page }) => {
    await signIn(page, 'hq@demo.local');
    const select = page.getByTestId('center-select');
    await expect(select.locator('option')).toHaveCount(4);
    await expect(page.getByTestId('connection-badge')).toHaveAttribute('data-state', 'live');
    const one = Number((await page.getByTestId('row-total').textContent())?.match(/of (\d+)/)?.[1]);
    await select.selectOption('all');
    await expect(page).toHaveURL(/center=all/);
    await expect.poll(async () => Number((await page.getByTestId('row-total').textContent())?.match(/of (\d+)/)?.[1])).toBeGreaterThan(one * 2);
    await page.getByTestId('tab-riders').click();
    await expect(page.getByTestId('center-map')).toBeVisible();
    await expect(page.locator('[data-testid^="rider-row-"]').first()).toBeVisible();
  });

  test('refuses a wrong password with a clear message', async ({ page }) => {
    await page.goto('/login');
    await page.getByTestId('login-email').fill('dispatcher@demo.local');
    await page.getByTestId('login-password').fill('wrong');
    await page.getByTestId('login-submit').click();
    await expect(page.getByTestId('login-error')).toHaveText('Wrong email or password');
  });

  test('sends a signed-out visitor to the login page', async ({ page }) => {
    await page.goto('/');
    await page.waitForURL(/\/login\?next=/);
  });
});
