// dashboard.mjs - the hospital's admin dashboard in a real browser (chromium, headless).
//
// Environment:
//   MV_DASH_LOGIN_URL  (required) a one-time login URL "http://HOST:PORT/admin/login?token=<64 hex>"
//                      (POST /v1/sessions; `medvault dashboard --user ADMIN_DIR` prints one)
//   MV_DASH_FIXTURES=1 the dashboard serves the fixtures of tests/unit/test_dashboard.c
//                      (MV_DASH_SERVE mode): also check their content and escaping
//   MV_ARTIFACTS       screenshot directory (default build/artifacts/screenshots)
// Checks: unauthenticated pages lead to the login page; the token URL logs in once; the
// session cookie is HttpOnly, SameSite=Strict, Path=/admin; every page renders under the
// dashboard's CSP without console errors or dialogs; a medicine can be added and deleted
// through the form; appointment filters; logout ends the session; no page is wider than a
// 1280x800 window (no sideways scrolling: the alert page once was, with its 64-digit keys).
import { execFileSync } from 'node:child_process';
import { run, openPage, go, expectText, expectNoText, expectNoProblems, screenshot, safeUrl } from './lib.mjs';

// Against a real hospital (MV_DASH_FIXTURES unset):
//   MV_DASH_EXPECT     JSON {"/admin/path": ["text", ...]}: texts each page must show
//   MV_DASH_FORBIDDEN  JSON ["text", ...]: record content that no hospital page may contain
//   MV_DASH_SIGN       JSON ["medvault", "dashboard", "--user", DIR, ...]: the command that signs
//                      the login page's challenge (the challenge and --json are appended)
const expected = JSON.parse(process.env.MV_DASH_EXPECT || '{}');
const forbidden = JSON.parse(process.env.MV_DASH_FORBIDDEN || '[]');
const signCmd = process.env.MV_DASH_SIGN ? JSON.parse(process.env.MV_DASH_SIGN) : null;

const loginUrl = process.env.MV_DASH_LOGIN_URL;
if (!loginUrl || !/\/admin\/login\?token=[0-9a-f]{64}$/.test(loginUrl)) {
  console.error('dashboard.mjs: set MV_DASH_LOGIN_URL to a one-time login URL (/admin/login?token=...)');
  process.exit(2);
}
const fixtures = process.env.MV_DASH_FIXTURES === '1';
const base = new URL(loginUrl).origin;

const PAGES = [
  { label: 'Overview', path: '/admin/', table: '#counts', fixture: 'Pending registrations' },
  { label: 'Departments', path: '/admin/departments', table: '#departments', fixture: 'Heart <b>care</b>' },
  { label: 'Doctors', path: '/admin/doctors', table: '#doctors', fixture: 'Dr <script>alert(1)</script> Who' },
  { label: 'Patients', path: '/admin/patients', table: '#patients', fixture: "Pat O'Neil" },
  { label: 'Appointments', path: '/admin/appointments', table: '#appointments', fixture: 'Room <7>' },
  { label: 'Medicines', path: '/admin/medicines', table: '#medicines', fixture: 'Amoxicillin' },
  { label: 'Storage', path: '/admin/storage', table: 'main', fixture: '<b>onc</b>' },
  { label: 'Alerts', path: '/admin/alerts', table: 'main', fixture: 'No alerts recorded.' },
];

await run('dashboard', async (browser) => {
  const page = await openPage(browser);

  // Without a session every page leads to the login page (303), which shows a challenge.
  await go(page, `${base}/admin/doctors`);
  if (new URL(page.url()).pathname !== '/admin/login') throw new Error(`expected the login page, at ${page.url()}`);
  await expectText(page, 'Log in', 'h1');
  const challenge = (await page.locator('#challenge').innerText()).trim();
  if (!/^[0-9a-f]{64}$/.test(challenge)) throw new Error('the login page shows no challenge');
  await screenshot(page, 'dashboard-login');

  // The token URL logs in and lands on the overview.
  await go(page, loginUrl);
  if (new URL(page.url()).pathname !== '/admin/') throw new Error(`login did not land on /admin/ (${safeUrl(page.url())})`);
  await expectText(page, 'Overview', 'h1');
  await expectText(page, 'Signed in as', 'footer');
  const cookie = (await page.context().cookies()).find((c) => c.name === 'mv_session');
  if (!cookie) throw new Error('no mv_session cookie');
  if (!cookie.httpOnly || cookie.sameSite !== 'Strict' || cookie.path !== '/admin')
    throw new Error(`cookie attributes: ${JSON.stringify({ ...cookie, value: '…' })}`);

  // The token is one-time: a second browser context gets the login page with an error.
  const other = await openPage(browser);
  await go(other, loginUrl, 403);
  await expectText(other, 'already used', '#message');
  await other.context().close();

  // Every page through the navigation bar.
  for (const p of PAGES) {
    await page.getByRole('link', { name: p.label, exact: true }).first().click();
    await page.waitForURL((u) => u.pathname === p.path);
    await expectText(page, p.label, 'h1');
    await page.locator(p.table).first().waitFor();
    if (fixtures) await expectText(page, p.fixture);
    for (const t of expected[p.path] || []) await expectText(page, t, p.table);
    await page.setViewportSize({ width: 1280, height: 800 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 1280) throw new Error(`${p.path} is ${width} px wide at a 1280x800 window: it scrolls sideways`);
    const html = await page.content();
    for (const t of forbidden)
      if (html.includes(t)) throw new Error(`${p.path} contains record content ("${t}")`);
    await screenshot(page, `dashboard-${p.label.toLowerCase()}`);
  }
  if (fixtures) {
    // Escaped markup stays text: no <script> or <b> element came from the data.
    await go(page, `${base}/admin/doctors`);
    if ((await page.locator('main script').count()) !== 0) throw new Error('a script element was injected');
    await go(page, `${base}/admin/storage`);
    await expectText(page, '42.6 %', '#storage');
    if ((await page.locator('#storage b').count()) !== 0) throw new Error('markup from data was rendered');
  } else {
    await go(page, `${base}/admin/storage`);
    const hasTable = await page.locator('#storage').count();
    const hasMessage = await page.locator('#message').count();
    if (!hasTable && !hasMessage) throw new Error('the storage page shows neither numbers nor a message');
  }

  // Appointment filters.
  await go(page, `${base}/admin/appointments`);
  await page.selectOption('select[name="status"]', 'booked');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL((u) => u.searchParams.get('status') === 'booked');
  if (fixtures) {
    await expectText(page, 'MRN-000001', '#appointments');
    await expectNoText(page, 'MRN-000002', '#appointments');
  }
  await screenshot(page, 'dashboard-appointments-booked');

  // Add a medicine through the form, then delete it.
  const name = `Paracetamol ${Date.now()} <i>`;
  await go(page, `${base}/admin/medicines`);
  await page.fill('#medicine-form input[name="name"]', name);
  await page.fill('#medicine-form input[name="form"]', 'tablet');
  await page.fill('#medicine-form input[name="strength"]', '500 mg');
  await page.fill('#medicine-form input[name="dosage"]', '1 tablet up to 4 times a day');
  await page.getByRole('button', { name: 'Save medicine' }).click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'saved');
  await expectText(page, 'Medicine saved.', '#message');
  const row = page.locator('#medicines tr', { hasText: name });
  if ((await row.count()) !== 1) throw new Error('the saved medicine is not listed once');
  await screenshot(page, 'dashboard-medicine-saved');
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'deleted');
  await expectText(page, 'Medicine deleted.', '#message');
  await expectNoText(page, name, '#medicines');

  // Logout ends the session.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/login');
  await go(page, `${base}/admin/`);
  if (new URL(page.url()).pathname !== '/admin/login') throw new Error('still logged in after logout');

  // The login page's challenge, answered by the admin's CLI (medvault dashboard --sign).
  if (signCmd) {
    const challenge = (await page.locator('#challenge').innerText()).trim();
    const out = execFileSync(signCmd[0], [...signCmd.slice(1), '--sign', challenge, '--json'], { encoding: 'utf8' });
    const { key, signature } = JSON.parse(out);
    await page.fill('input[name="key"]', key);
    await page.fill('input[name="signature"]', signature);
    await screenshot(page, 'dashboard-login-challenge');
    await page.locator('#login-form button').click();
    await page.waitForURL((u) => u.pathname === '/admin/');
    await expectText(page, 'Overview', 'h1');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL((u) => u.pathname === '/admin/login');
  }
  expectNoProblems(page);
});
