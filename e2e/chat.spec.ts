import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { CHAT_MAX_LENGTH, CHAT_PAGE_SIZE } from '../protocol';
import { freePort } from '../tests/support/faults';
import { chatClient, expect, signIn, signInWithToken, test, tokenFor } from './fixtures';

/**
 * Center chat (ChatPanel), as the rider uses it on /rider#chat. The dispatcher board does not
 * embed the panel yet, so the "other person" is the demo dispatcher on a Socket.IO client, and
 * the rider's second device is a second browser context.
 */
const RIDER = 'rider@demo.local';
const DISPATCHER = 'dispatcher@demo.local';
const CENTER = 1;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

// Sign-in is rate limited: each account signs in once per worker (per server) and tests reuse it.
const tokens = new Map<string, string>();
async function tokenOf(request: Parameters<typeof tokenFor>[0], email: string, baseURL = ''): Promise<string> {
  const key = `${baseURL}|${email}`;
  let t = tokens.get(key);
  if (!t) {
    const res = await request.post(`${baseURL}/api/auth/token`, { data: { email, password: 'demo' } });
    expect(res.status(), await res.text()).toBe(200);
    t = ((await res.json()) as { token: string }).token;
    tokens.set(key, t);
  }
  return t;
}

const unique = (label: string) => `${label} ${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const messageWith = (page: Page, text: string) => page.getByTestId('chat-message').filter({ hasText: text });

/** A phone (its own browser context) on the rider's chat tab. */
async function phoneChat(browser: Browser, baseURL: string, token: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, ...PHONE });
  await signInWithToken(context, baseURL, token);
  const page = await context.newPage();
  await page.goto('/rider#chat');
  await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
  return { context, page };
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
  await expect(page.getByTestId('chat-input')).toHaveValue('');
}

test.describe('center chat', () => {
  test('a message from one browser shows in the other, live and after a reload', async ({ page, browser, request }, testInfo) => {
    const baseURL = String(testInfo.project.use.baseURL);
    // Browser B: the rider's desktop tab, signed in through the form.
    await signIn(page, RIDER, '/rider#chat');
    await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
    // Browser A: the rider's phone.
    const a = await phoneChat(browser, baseURL, await tokenOf(request, RIDER));
    const dispatcher = await chatClient(baseURL, await tokenOf(request, DISPATCHER));
    try {
      const text = unique('On my way');
      await send(a.page, text);
      const mine = messageWith(a.page, text);
      await expect(mine).toHaveCount(1);
      await expect(mine).toHaveAttribute('data-own', 'true');
      await expect(mine).toContainText('You');
      await expect(messageWith(page, text)).toHaveCount(1); // live in the other browser, once

      // Someone else's message: their name, not styled as own, in both browsers.
      const reply = unique('Thanks, drive safe');
      await dispatcher.join(CENTER);
      const sent = await dispatcher.send(CENTER, reply);
      for (const p of [a.page, page]) {
        const m = messageWith(p, reply);
        await expect(m).toHaveCount(1);
        await expect(m).toHaveAttribute('data-own', 'false');
        await expect(m).toHaveAttribute('data-id', String(sent.id));
        await expect(m.locator('.chat-author')).toHaveText('Demo Dispatcher');
        await expect(m.locator('time')).toHaveAttribute('datetime', sent.createdAt);
      }

      // Both are there again after a reload, oldest first.
      await page.reload();
      await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
      await expect(messageWith(page, text)).toHaveCount(1);
      await expect(messageWith(page, reply)).toHaveCount(1);
      const ids = await page.getByTestId('chat-message').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))));
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    } finally {
      dispatcher.close();
      await a.context.close();
    }
  });

  test('markup in a message is shown as text, never run', async ({ page, browser, request }, testInfo) => {
    const baseURL = String(testInfo.project.use.baseURL);
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await signInWithToken(page.context(), baseURL, await tokenOf(request, RIDER));
    await page.goto('/rider#chat');
    await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
    const a = await phoneChat(browser, baseURL, await tokenOf(request, RIDER));
    try {
      const html = `<img src=x onerror=alert(1)> ${unique('x')}`;
      await send(a.page, html);
      for (const p of [a.page, page]) {
        const m = messageWith(p, html);
        await expect(m).toHaveCount(1);
        await expect(m.locator('.chat-body')).toHaveText(html);
        await expect(p.getByTestId('chat-log').locator('img')).toHaveCount(0);
      }
      const dispatcher = await chatClient(baseURL, await tokenOf(request, DISPATCHER));
      const bold = `<b>not bold</b><script>alert(2)</script> ${unique('y')}`;
      await dispatcher.send(CENTER, bold);
      dispatcher.close();
      await expect(messageWith(page, bold).locator('.chat-body')).toHaveText(bold);
      await expect(page.getByTestId('chat-log').locator('b, script')).toHaveCount(0);
      expect(dialogs).toEqual([]);
    } finally {
      await a.context.close();
    }
  });

  test('an over-long message shows the length error and is not sent', async ({ page, request }, testInfo) => {
    const baseURL = String(testInfo.project.use.baseURL);
    await signInWithToken(page.context(), baseURL, await tokenOf(request, RIDER));
    await page.goto('/rider#chat');
    await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
    const input = page.getByTestId('chat-input');
    const counter = page.getByTestId('chat-counter');

    await input.fill('hello');
    await expect(counter).toHaveText(`5/${CHAT_MAX_LENGTH}`);
    await expect(page.getByTestId('chat-error')).toHaveCount(0);

    const tooLong = `${unique('long')} ${'x'.repeat(CHAT_MAX_LENGTH)}`;
    await input.fill(tooLong);
    await expect(counter).toHaveText(`${tooLong.length}/${CHAT_MAX_LENGTH}`);
    await expect(counter).toHaveAttribute('data-over', 'true');
    await expect(input).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByTestId('chat-error')).toContainText(`the limit is ${CHAT_MAX_LENGTH}`);
    const before = await page.getByTestId('chat-message').count();
    await page.getByTestId('chat-send').click();
    await input.press('Enter');
    await expect(page.getByTestId('chat-error')).toBeVisible();
    await expect(input).toHaveValue(tooLong); // the draft is kept to be shortened
    await expect(page.getByTestId('chat-message')).toHaveCount(before);

    // Shortened to the limit: the error goes and it sends.
    const fits = tooLong.slice(0, CHAT_MAX_LENGTH);
    await input.fill(fits);
    await expect(counter).toHaveText(`${CHAT_MAX_LENGTH}/${CHAT_MAX_LENGTH}`);
    await expect(page.getByTestId('chat-error')).toHaveCount(0);
    await page.getByTestId('chat-send').click();
    await expect(messageWith(page, fits.slice(0, 40))).toHaveCount(1);

    // An empty message is refused before sending, too.
    await input.fill('   ');
    await page.getByTestId('chat-send').click();
    await expect(page.getByTestId('chat-error')).toHaveText('Type a message first.');
  });

  test('shows the last 50 and loads older ones at the top, keeping the reader’s place', async ({ page, request }, testInfo) => {
    const baseURL = String(testInfo.project.use.baseURL);
    const dispatcher = await chatClient(baseURL, await tokenOf(request, DISPATCHER));
    const batch = unique('page');
    try {
      for (let i = 1; i <= CHAT_PAGE_SIZE + 15; i += 1) await dispatcher.send(CENTER, `${batch} #${i}`);
    } finally {
      dispatcher.close();
    }
    await signInWithToken(page.context(), baseURL, await tokenOf(request, RIDER));
    await page.goto('/rider#chat');
    await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
    const all = page.getByTestId('chat-message');
    await expect(all).toHaveCount(CHAT_PAGE_SIZE);
    // Entry shows the newest, at the bottom.
    await expect(messageWith(page, `${batch} #65`)).toBeInViewport();
    await expect(messageWith(page, `${batch} #15`)).toHaveCount(0);
    const firstBefore = all.first();
    const firstId = await firstBefore.getAttribute('data-id');
    const anchor = page.locator(`[data-testid="chat-message"][data-id="${firstId}"]`);

    // Scroll to the top: the page before comes in above, and what was on top stays put.
    // Measured in the same task as the scroll, before the scroll handler can load anything.
    const yBefore = await page.getByTestId('chat-log').evaluate((el, id) => {
      el.scrollTop = 0;
      return el.querySelector(`[data-id="${id}"]`)!.getBoundingClientRect().y;
    }, firstId);
    await expect.poll(() => all.count()).toBeGreaterThan(CHAT_PAGE_SIZE);
    await expect(messageWith(page, `${batch} #15`)).toHaveCount(1);
    const yAfter = (await anchor.boundingBox())!.y;
    expect(Math.abs(yAfter - yBefore)).toBeLessThan(4);
    // The list stays in order, each message once.
    const ids = await all.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  });

  test('after a dropped connection it rejoins and shows what was missed', async ({ browser, request }, testInfo) => {
    const baseURL = String(testInfo.project.use.baseURL);
    const a = await phoneChat(browser, baseURL, await tokenOf(request, RIDER));
    const dispatcher = await chatClient(baseURL, await tokenOf(request, DISPATCHER));
    try {
      await a.context.setOffline(true);
      await expect(a.page.getByTestId('chat-link')).toHaveAttribute('data-state', 'reconnecting');
      const missed = unique('Sent while you were offline');
      await dispatcher.send(CENTER, missed);
      await a.context.setOffline(false);
      await expect(a.page.getByTestId('chat-link')).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
      await expect(messageWith(a.page, missed)).toHaveCount(1);
    } finally {
      dispatcher.close();
      await a.context.close();
    }
  });
});

// -------------------------------------------------------------------------------------------------
// History survives a server restart: a server of our own, on its own port and data folder.
// -------------------------------------------------------------------------------------------------

interface OwnServer {
  proc: ChildProcess;
  stderr: string[];
}

function startServer(port: number, dataDir: string): OwnServer {
  const proc = spawn(process.execPath, ['--enable-source-maps', 'dist/server.js'], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      SIMULATOR: 'off',
      DEMO_PASSWORD: 'demo',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  proc.stderr?.on('data', (b: Buffer) => stderr.push(b.toString()));
  return { proc, stderr };
}

async function waitHealthy(url: string, server: OwnServer, timeoutMs = 150_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (server.proc.exitCode !== null) throw new Error(`server exited with ${server.proc.exitCode}: ${server.stderr.join('')}`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) {
        // Pages are served once Next.js is ready too.
        const page = await fetch(`${url}/login`);
        if (page.ok) return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`server at ${url} not healthy after ${timeoutMs} ms: ${server.stderr.join('')}`);
}

async function stopServer(server: OwnServer): Promise<void> {
  const { proc } = server;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

test.describe('center chat history', () => {
  test('is still there after the server restarts', async ({ browser, request }) => {
    test.setTimeout(300_000);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'dd-e2e-chat-restart-'));
    let server = startServer(port, dataDir);
    let context: BrowserContext | undefined;
    try {
      await waitHealthy(url, server);
      const token = await tokenOf(request, RIDER, url);
      context = await browser.newContext({ baseURL: url, ...PHONE });
      await signInWithToken(context, url, token);
      const page = await context.newPage();
      await page.goto('/rider#chat');
      await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
      const text = unique('Before the restart');
      await send(page, text);
      await expect(messageWith(page, text)).toHaveCount(1);

      await stopServer(server);
      await expect(page.getByTestId('chat-link')).toHaveAttribute('data-state', 'reconnecting');
      server = startServer(port, dataDir); // same port, same data folder
      await waitHealthy(url, server);

      // The open page comes back by itself (same session: the secret is kept in the data folder)...
      await expect(page.getByTestId('chat-link')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
      await expect(messageWith(page, text)).toHaveCount(1);
      // ...and a fresh load gets the message from the database.
      await page.reload();
      await expect(page.getByTestId('chat-panel')).toHaveAttribute('data-joined', 'true');
      await expect(messageWith(page, text)).toHaveCount(1);
      const after = unique('After the restart');
      await send(page, after);
      await expect(messageWith(page, after)).toHaveCount(1);
    } finally {
      await context?.close();
      await stopServer(server);
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
