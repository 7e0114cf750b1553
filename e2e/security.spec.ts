import { expect, test } from '@playwright/test';
import { signIn } from './fixtures';

test.describe('sessions in the browser', () => {
  test('signing out in one tab ends the other tab’s live board at once', async ({ browser }) => {
    const context = await browser.newContext();
    const first = await context.newPage();
    await signIn(first, 'dispatcher@demo.local');
    const second = await context.newPage();
    await second.goto('/');
    for (const page of [first, second]) await expect(page.getByTestId('connection-badge')).toHaveAttribute('data-state', 'live');

    await first.getByTestId('logout').click();
    await expect(first).toHaveURL(/\/login/);
    // No click in the second tab: the server ended its socket and it was sent to sign in.
    await expect(second).toHaveURL(/\/login/, { timeout: 10_000 });
    await expect(second.getByTestId('login-email')).toBeVisible();
    await context.close();
  });

  test('pages carry the security headers and still run under the CSP (no violations)', async ({ page }) => {
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    const res = await page.goto('/login');
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res?.headers()['x-content-type-options']).toBe('nosniff');
    await signIn(page, 'dispatcher@demo.local');
    await expect(page.getByTestId('connection-badge')).toHaveAttribute('data-state', 'live');
    expect(violations).toEqual([]);
  });

  test('the login page does not follow ?next= off the site (/\\evil.example)', async ({ page }) => {
    await signIn(page, 'dispatcher@demo.local', '/\\evil.example');
    expect(new URL(page.url()).host).toBe(new URL(test.info().project.use.baseURL ?? page.url()).host);
  });
});
