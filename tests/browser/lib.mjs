// lib.mjs - shared helpers of medvault's browser tests: Debian's chromium (headless) driven by
// playwright-core, pages that fail on console errors (CSP violations are console errors),
// on JavaScript dialogs (an alert() would mean injected script ran) and on failed requests,
// text expectations with readable failures, and screenshots into $MV_ARTIFACTS
// (default build/artifacts/screenshots).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const CHROMIUM = process.env.MV_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(process.env.MV_ARTIFACTS || path.join(REPO, 'build', 'artifacts', 'screenshots'));
const TIMEOUT_MS = Number(process.env.MV_BROWSER_TIMEOUT_MS || 10000);

/** Launches headless chromium (no sandbox when running as root, which chromium requires). */
export async function launch() {
  const args = [];
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** A fresh context and page. page.problems collects console errors, dialogs and failed requests. */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => { page.problems.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on('requestfailed', (r) => page.problems.push(`request failed: ${r.url().replace(/token=[0-9a-f]+/, 'token=…')}`));
  return page;
}

/** Navigates and checks the final status (after redirects). Returns the response. */
export async function go(page, url, status = 200) {
  const resp = await page.goto(url, { waitUntil: 'load' });
  if (!resp) throw new Error(`no response for ${safeUrl(url)}`);
  if (resp.status() !== status) throw new Error(`${safeUrl(url)}: status ${resp.status()}, expected ${status}`);
  return resp;
}

/** Waits until the element matched by selector (default body) contains text. */
export async function expectText(page, text, selector = 'body') {
  try {
    await page.locator(selector).first().filter({ hasText: text }).waitFor({ state: 'attached' });
  } catch {
    const got = (await page.locator(selector).first().innerText().catch(() => '(none)')).slice(0, 400);
    throw new Error(`expected "${text}" in ${selector} at ${safeUrl(page.url())}; found: ${got}`);
  }
}

/** Fails if selector's text contains text. */
export async function expectNoText(page, text, selector = 'body') {
  const got = await page.locator(selector).first().innerText();
  if (got.includes(text)) throw new Error(`did not expect "${text}" in ${selector} at ${safeUrl(page.url())}`);
}

/** Fails if the page recorded a console error, dialog or failed request. */
export function expectNoProblems(page) {
  if (page.problems.length) throw new Error(`browser problems:\n  ${page.problems.join('\n  ')}`);
}

/** Full-page screenshot ARTIFACTS/<name>.png; returns its path. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** A URL for messages: login tokens are never printed. */
export function safeUrl(u) {
  return String(u).replace(/token=[0-9a-fA-F]+/, 'token=…');
}

/**
 * Runs fn(browser) as one named test: prints "ok"/"FAIL", screenshots every open page as
 * FAILED-<name>-<i> on failure, and sets a failing exit code.
 */
export async function run(name, fn) {
  const browser = await launch();
  try {
    await fn(browser);
    console.log(`ok   ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e.message}`);
    let i = 0;
    for (const ctx of browser.contexts())
      for (const p of ctx.pages()) await screenshot(p, `FAILED-${name}-${i++}`).catch(() => {});
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

/**
 * Logs a browser into a `medvault ui` with its printed login URL, checking on the way that
 * a page without the cookie leads to /login and that the cookie is HttpOnly and
 * SameSite=Strict. Returns { page, base } (base: the UI's origin).
 */
export async function loginUi(browser, url, who) {
  const page = await openPage(browser);
  const base = new URL(url).origin;
  await go(page, `${base}/records`);
  if (new URL(page.url()).pathname !== '/login') throw new Error(`${who}: expected /login, at ${page.url()}`);
  await expectText(page, 'printed when it started');
  await screenshot(page, `ui-${who}-login`);
  await go(page, url);
  if (new URL(page.url()).pathname !== '/') throw new Error(`${who}: login did not land on / (${safeUrl(page.url())})`);
  const cookie = (await page.context().cookies()).find((c) => c.name.startsWith('mv_ui_'));
  if (!cookie || !cookie.httpOnly || cookie.sameSite !== 'Strict')
    throw new Error(`${who}: cookie attributes ${JSON.stringify({ ...cookie, value: '…' })}`);
  return { page, base };
}
