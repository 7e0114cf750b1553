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

    // A new order shows up at the top without a reload...
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
