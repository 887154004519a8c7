/**
 * End to end against `npm start`'s stack (wrangler dev, embedded Postgres, the stand-ins): Debian's
 * Chromium, driven by playwright-core, signs in to the web console, runs one campaign to 100 % and
 * pauses and resumes another; screenshots land in `artifacts/screenshots/`. The OpenAPI document the
 * Worker serves is validated against the OpenAPI 3.1 schema (ajv cannot run inside workerd).
 * Run by `npm test` after the Worker tests; without /usr/bin/chromium the browser part is skipped,
 * except in CI, where it fails.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import pg from 'pg';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type RunningStack, runNpmStart } from '../npm-start.ts';

const CHROMIUM = '/usr/bin/chromium';
const shots = resolve(import.meta.dirname, '../../artifacts/screenshots');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

/** The little of the page's globals the predicates use (tools/ is typed without the DOM). */
interface PageGlobals {
  document: { querySelector(selector: string): { value: number; max: number; getAttribute(name: string): string | null } | null };
}

let stack: RunningStack;

before(async () => {
  // A token with what an env file can mangle: `$NAME` (dotenv-expand), quotes and a backslash (dotenv).
  stack = await runNpmStart({ env: { ADMIN_API_TOKEN: 'e2e-$HOME-"quoted"-back\\slash-token-0123456789' } });
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  // Two audiences: 300 users for the run to 100 %, 600 for the one paused and resumed.
  await db.query(`insert into users (telegram_id, full_name, language_code)
    select 7100000000 + g, 'E2E ' || g, case when g <= 300 then 'e2e-a' else 'e2e-b' end from generate_series(1, 900) g`);
  await db.end();
});

after(async () => {
  await stack?.stop();
});

describe("npm start's stack", () => {
  it('gives the Worker every secret it sets, so it reaches Postgres, Telegram, the panel and Crypto Pay', async () => {
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.url}/api${path}`, {
        ...init,
        headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      });
    const { id } = (await (await api('/tasks', { method: 'POST', body: JSON.stringify({ name: 'check_services', args: {} }) })).json()) as {
      id: string;
    };
    const deadline = Date.now() + 30_000;
    let run: { status: string; result: unknown } = { status: 'queued', result: null };
    while (run.status !== 'succeeded' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200)); // polling interval, bounded by the deadline
      run = (await (await api(`/tasks/${id}`)).json()) as typeof run;
    }
    assert.deepEqual(run.result, { postgres: 'up', telegram: 'up', remnawave: 'up', cryptobot: 'up' });
  });
});

describe('admin API document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const res = await fetch(`${stack.url}/api/openapi.json`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string };
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc);
    assert.deepEqual(result.errors ?? [], [], JSON.stringify(result.errors, null, 2));
    assert.equal(result.valid, true);
  });
});

describe('web console in Chromium', { skip: haveChromium ? false : `no ${CHROMIUM}` }, () => {
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    mkdirSync(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // A CSP violation or a script error shows up here; a failed load is recorded with its URL below.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('response', (r) => {
      const refusedSignIn = r.status() === 401 && r.request().method() === 'POST' && r.url().endsWith('/admin/login');
      if (r.status() >= 400 && !refusedSignIn) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const status = () => page.locator('section.campaign').getAttribute('data-status');
  /**
   * Waits, bounded, until the campaign page's progress bar has moved past `above` (and, with
   * `unfinished`, is not full yet), or is full at `full`. The predicate runs in the page as a
   * function: a string would be eval, which the console's CSP refuses.
   */
  const progress = (want: { above?: number; unfinished?: boolean; full?: number }, timeout = 60_000) =>
    page.waitForFunction(
      (w) => {
        const bar = (globalThis as unknown as PageGlobals).document.querySelector('section.campaign progress');
        if (!bar) return false;
        if (w.full !== undefined) return bar.max === w.full && bar.value === bar.max;
        return bar.value > (w.above ?? 0) && (!w.unfinished || bar.value < bar.max);
      },
      want,
      { timeout, polling: 100 },
    );
  /** Waits until the page holds `selector` with `attribute` (data-* too) matching. */
  const pageHas = (selector: string, attribute: string, test: 'equals' | 'min-points', expected: string | number, timeout = 20_000) =>
    page.waitForFunction(
      ([sel, attr, how, want]) => {
        const value = (globalThis as unknown as PageGlobals).document.querySelector(sel)?.getAttribute(attr) ?? '';
        return how === 'equals' ? value === want : value.trim().split(' ').filter(Boolean).length >= Number(want);
      },
      [selector, attribute, test, expected] as const,
      { timeout, polling: 100 },
    );

  async function createCampaign(title: string, audience: string, rate?: number): Promise<string> {
    await page.goto(`${stack.url}/admin/campaigns`);
    await page.fill('input[name=title]', title);
    await page.fill('textarea[name=text]', `<b>${title}</b>: hello from the console`);
    await page.selectOption('select[name=parse_mode]', 'HTML');
    await page.fill('input[name=audience_languages]', audience);
    if (rate) await page.fill('input[name=rate_per_second]', String(rate));
    await page.click('#new-campaign button[type=submit]');
    await page.waitForURL(/\/admin\/campaigns\/[0-9a-f-]{36}\?done=created$/);
    assert.equal(await status(), 'draft');
    return /campaigns\/([0-9a-f-]{36})/.exec(page.url())?.[1] as string;
  }

  it('signs in with the admin token', async () => {
    await page.goto(`${stack.url}/admin`);
    assert.match(page.url(), /\/admin\/login$/);
    await page.fill('input[name=token]', 'not-the-token');
    await page.click('button[type=submit]');
    assert.equal(await page.locator('.error').textContent(), 'Wrong token.');
    await page.fill('input[name=token]', stack.adminToken);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/admin\/campaigns$/);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'flarecast_session');
    assert.ok(cookie, 'the session cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Strict');
  });

  it('creates a campaign, starts it and watches the live progress bar reach 100 %', async () => {
    await createCampaign('Browser run', 'e2e-a');
    await shot('1-draft');
    await page.click('button[value=start]');
    await page.waitForURL(/done=start$/);
    // Live: the bar moves while the page stays as it is (the SSE stream updates it).
    await progress({ above: 0, unfinished: true });
    await pageHas('[data-line]', 'points', 'min-points', 3);
    await shot('2-progress-live');
    await progress({ full: 300 });
    await pageHas('section.campaign', 'data-status', 'equals', 'completed');
    assert.equal(await page.locator('section.campaign [data-field=percent]').textContent(), '100%');
    assert.equal(await page.locator('section.campaign [data-field=sent]').textContent(), '300');
    // The page follows the status: a completed campaign offers no action any more.
    for (const action of ['start', 'pause', 'resume', 'cancel'])
      assert.equal(await page.locator(`button[value=${action}]`).isVisible(), false, action);
    await shot('3-progress-100');
  });

  it('pauses and resumes another campaign', async () => {
    await createCampaign('Browser pause', 'e2e-b', 10);
    await page.click('button[value=start]');
    await page.waitForURL(/done=start$/);
    await progress({ above: 0 });
    await page.click('button[value=pause]');
    await page.waitForURL(/done=pause$/);
    assert.equal(await status(), 'paused');
    const paused = Number(await page.locator('section.campaign progress').getAttribute('value'));
    assert.ok(paused > 0 && paused < 600, `paused at ${paused} of 600`);
    await shot('4-paused');
    await page.click('button[value=resume]');
    await page.waitForURL(/done=resume$/);
    assert.equal(await status(), 'running');
    await progress({ above: paused });
    await shot('5-resumed');
    await page.click('button[value=cancel]');
    await page.waitForURL(/done=cancel$/);
    assert.equal(await status(), 'cancelled');
  });

  it('shows tasks, operations and the API reference', async () => {
    for (const [name, heading] of [
      ['tasks', 'Task runs'],
      ['operations', 'Operations'],
      ['api', 'Flarecast admin API'],
    ] as const) {
      await page.goto(`${stack.url}/admin/${name}`);
      assert.match((await page.locator('h1').textContent()) ?? '', new RegExp(heading));
      await shot(`6-${name}`);
    }
    await page.goto(`${stack.url}/admin/campaigns`);
    assert.equal((await page.locator('tr[data-status=completed]').count()) >= 1, true);
    await shot('7-campaigns');
  });

  it('ran without a script error or a CSP violation', () => {
    assert.deepEqual(problems, []);
  });
});
