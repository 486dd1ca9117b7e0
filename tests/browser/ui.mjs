// ui.mjs - each user's local web UI (`medvault ui`) in a real browser (chromium, headless).
//
// Environment (tests/integration/ui_browser.sh sets everything up and runs this):
//   MV_UI_DOCTOR_URL, MV_UI_PATIENT_URL  the login URLs the two UIs printed
//   MV_UI_APPT                           a booked appointment of that patient with that doctor
//   MV_UI_OTHER_DOCTOR                   the sign key (64 hex) of a second doctor
//   MV_ARTIFACTS                         screenshot directory (default build/artifacts/screenshots)
// Checks: without the cookie every page leads to /login; the login URL sets an HttpOnly,
// SameSite=Strict cookie; every page renders under the UI's CSP (no console errors, no
// dialogs); the patient signs a delegation, the doctor prescribes from the formulary (dosage
// prefilled) and writes an order, both read the decrypted records; the patient grants and
// revokes a second doctor. Every page is screenshotted.
import { run, go, expectText, expectNoProblems, screenshot, loginUi } from './lib.mjs';

const env = (k, re) => {
  const v = process.env[k];
  if (!v || !re.test(v)) {
    console.error(`ui.mjs: set ${k}`);
    process.exit(2);
  }
  return v;
};
const drUrl = env('MV_UI_DOCTOR_URL', /\/login\?token=[0-9a-f]{64}$/);
const ptUrl = env('MV_UI_PATIENT_URL', /\/login\?token=[0-9a-f]{64}$/);
const appt = env('MV_UI_APPT', /^[0-9a-f]{32}$/);
const other = env('MV_UI_OTHER_DOCTOR', /^[0-9a-f]{64}$/);

async function visit(p, path, text, shot) {
  await go(p.page, `${p.base}${path}`);
  await expectText(p.page, text);
  expectNoProblems(p.page);
  await screenshot(p.page, shot);
}

await run('local-ui', async (browser) => {
  const dr = await loginUi(browser, drUrl, 'doctor');
  const pt = await loginUi(browser, ptUrl, 'patient');
  await visit(dr, '/', 'Credential valid until', 'ui-doctor-home');
  await visit(pt, '/', 'MRN', 'ui-patient-home');

  // The patient signs the delegation for the appointment.
  await visit(pt, '/appointments', 'Request an appointment', 'ui-patient-appointments');
  await pt.page.locator(`form[action="/appointments/${appt}/delegate"] button`).click();
  await expectText(pt.page, 'may now write records');
  expectNoProblems(pt.page);
  await screenshot(pt.page, 'ui-patient-delegated');

  // The doctor prescribes: appointment and medicine, then the prefilled dosage.
  await visit(dr, '/appointments', 'Check in', 'ui-doctor-appointments');
  await visit(dr, '/prescribe', 'Write a prescription', 'ui-doctor-prescribe');
  await dr.page.locator('select[name="appointment"]').selectOption(appt);
  await dr.page.locator('select[name="medicine"]').selectOption({ index: 1 });
  await dr.page.getByRole('button', { name: 'Continue' }).click();
  const dosage = await dr.page.locator('input[name="dosage"]').inputValue();
  if (!dosage) throw new Error('the usual dosage is not prefilled');
  await dr.page.locator('input[name="quantity"]').fill('14');
  await screenshot(dr.page, 'ui-doctor-prescribe-form');
  await dr.page.getByRole('button', { name: 'Sign and store the prescription' }).click();
  await expectText(dr.page, 'Stored as record');
  await expectText(dr.page, 'MedicationRequest', 'h1');
  // The page shows the prescription decrypted in the doctor's own UI process.
  await expectText(dr.page, dosage);
  await expectText(dr.page, 'Amoxicillin');
  expectNoProblems(dr.page);
  await screenshot(dr.page, 'ui-doctor-record');
  const rid = new URL(dr.page.url()).pathname.split('/').pop();
  if (!/^[0-9a-f]{32}$/.test(rid)) throw new Error(`no record page after prescribing (${dr.page.url()})`);

  await visit(dr, '/orders', 'Write a treatment order', 'ui-doctor-orders');
  await dr.page.locator('select[name="appointment"]').selectOption(appt);
  await dr.page.locator('input[name="order"]').fill('Physiotherapy, 6 sessions');
  await dr.page.locator('textarea[name="note"]').fill('twice a week');
  await dr.page.getByRole('button', { name: 'Sign and store the order' }).click();
  await expectText(dr.page, 'ServiceRequest', 'h1');
  await screenshot(dr.page, 'ui-doctor-order');
  await visit(dr, '/records', 'ServiceRequest', 'ui-doctor-records');
  await dr.page.locator(`#records a[href="/records/${rid}"]`).waitFor();

  // The patient reads it and grants, then revokes, a second doctor.
  await visit(pt, '/records', 'MedicationRequest', 'ui-patient-records');
  await pt.page.locator(`#records a[href="/records/${rid}"]`).waitFor();
  await visit(pt, `/records/${rid}`, dosage, 'ui-patient-record');
  const form = pt.page.locator(`form[action="/records/${rid}/share"]`).first();
  await form.locator('input[name="key"]').fill(other);
  await form.getByRole('button', { name: 'Grant' }).click();
  await expectText(pt.page, 'Granted read access');
  await screenshot(pt.page, 'ui-patient-granted');
  const form2 = pt.page.locator(`form[action="/records/${rid}/share"]`).first();
  await form2.locator('input[name="key"]').fill(other);
  await form2.getByRole('button', { name: 'Revoke' }).click();
  await expectText(pt.page, 'Revoked read access');
  expectNoProblems(pt.page);
  await screenshot(pt.page, 'ui-patient-revoked');
});
