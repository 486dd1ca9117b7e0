// records.mjs - finding records in `medvault ui`: the paged, searchable list over the user's
// local FHIR index, and a record opened as a readable summary (chromium, headless).
//
// Environment (tests/integration/test_browser_ui.sh sets everything up and runs this):
//   MV_UI_RECORDS_URL   the login URL of the UI of a doctor who stored, and can read, exactly
//                       the resources in MV_UI_NDJSON_DIR (nothing else)
//   MV_UI_NDJSON_DIR    the FHIR Bulk Data NDJSON files (bench/gen_fhir.py --ndjson) she stored
//   MV_UI_UPDATE        an NDJSON file of one Observation of those, changed, that she stored
//                       after them (its version 2)
//   MV_ARTIFACTS        screenshot directory (default build/artifacts/screenshots)
// Every expected count is computed here from the NDJSON files, never taken from the page.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { run, go, expectText, expectNoProblems, screenshot, loginUi } from './lib.mjs';

const url = process.env.MV_UI_RECORDS_URL || '';
const dir = process.env.MV_UI_NDJSON_DIR || '';
if (!/\/login\?token=[0-9a-f]{64}$/.test(url) || !dir) {
  console.error('records.mjs: set MV_UI_RECORDS_URL and MV_UI_NDJSON_DIR');
  process.exit(2);
}

const ndjson = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const stored = readdirSync(dir).filter((f) => f.endsWith('.ndjson')).flatMap((f) => ndjson(path.join(dir, f)));
// What the list shows: the latest version of each resource (MV_UI_UPDATE: version 2 of one).
const [v2] = process.env.MV_UI_UPDATE ? ndjson(process.env.MV_UI_UPDATE) : [];
const resources = stored.map((r) => (v2 && r.id === v2.id ? v2 : r));
const N = resources.length;
const PAGE = 50; // the UI's default page size
const CAP = 100; // the UI's largest page, whatever the URL asks
if (N <= CAP || N > 2 * CAP) throw new Error(`records.mjs wants between ${CAP + 1} and ${2 * CAP} resources, has ${N}`);
const ofType = (t) => resources.filter((r) => r.resourceType === t);
const subjectOf = (r) => (r.resourceType === 'Patient' ? `Patient/${r.id}` : (r.subject || r.patient || {}).reference);

/** The rows of the list on the page: [{type, href, summary, date, patient}]. */
async function rows(page) {
  return page.locator('#records tr:has(td)').evaluateAll((trs) =>
    trs.map((tr) => {
      const td = [...tr.querySelectorAll('td')];
      return {
        type: td[0].innerText.trim(),
        href: td[1].querySelector('a').getAttribute('href'),
        summary: td[1].innerText.trim(),
        date: td[2].innerText.trim(),
        patient: td[3].innerText.trim(),
      };
    }),
  );
}

async function total(page) {
  const t = await page.locator('#total b').innerText();
  return Number(t.replace(/[^0-9]/g, ''));
}

async function expectList(page, want, wantRows, what) {
  const got = await total(page);
  if (got !== want) throw new Error(`${what}: the page says ${got} records, expected ${want}`);
  const r = await rows(page);
  if (r.length !== wantRows) throw new Error(`${what}: ${r.length} rows, expected ${wantRows}`);
  return r;
}

await run('records-list', async (browser) => {
  const { page, base } = await loginUi(browser, url, 'records');

  // Page 1: 50 rows and the total; Next twice shows the rest; every record exactly once.
  await go(page, `${base}/records`);
  const seen = new Set();
  const p1 = await expectList(page, N, PAGE, 'page 1');
  await expectText(page, `Records 1–${PAGE} of ${N}`, '#total');
  expectNoProblems(page);
  await screenshot(page, 'ui-records-page1');
  p1.forEach((r) => seen.add(r.href));
  for (let p = 2, left = N - PAGE; left > 0; p++, left -= PAGE) {
    await page.locator('nav.pager a[rel="next"]').click();
    await page.waitForURL((u) => new URL(u).searchParams.get('page') === String(p));
    const rp = await expectList(page, N, Math.min(PAGE, left), `page ${p}`);
    rp.forEach((r) => seen.add(r.href));
  }
  if (seen.size !== N) throw new Error(`the pages showed ${seen.size} distinct records, expected ${N}`);
  if (await page.locator('nav.pager a[rel="next"]').count()) throw new Error('the last page links to a next page');
  await screenshot(page, 'ui-records-last-page');

  // A huge page size in the URL is capped; the page past the cap holds the rest.
  await go(page, `${base}/records?limit=1000000`);
  await expectList(page, N, CAP, 'limit=1000000');
  await go(page, `${base}/records?limit=99999999999999999999&page=2`);
  await expectList(page, N, N - CAP, 'a limit too long for a number, page 2');

  // The search box narrows the list: a code's display text.
  const needle = 'Heart rate';
  const hr = resources.filter((r) => ((r.code || {}).coding || [])[0]?.display?.includes(needle));
  if (hr.length === 0 || hr.length >= N) throw new Error(`the test data has ${hr.length} "${needle}" records`);
  await go(page, `${base}/records`);
  await page.locator('input[name="q"]').fill(needle.toLowerCase());
  await page.getByRole('button', { name: 'Search' }).click();
  const found = await expectList(page, hr.length, Math.min(PAGE, hr.length), `search "${needle}"`);
  if (found.some((r) => r.type !== 'Observation' || !r.summary.includes(needle)))
    throw new Error(`search "${needle}" shows other records: ${JSON.stringify(found.slice(0, 3))}`);
  if ((await page.locator('input[name="q"]').inputValue()) !== needle.toLowerCase())
    throw new Error('the search box does not keep the search text');
  expectNoProblems(page);
  await screenshot(page, 'ui-records-search');

  // The type filter: a select of the types present.
  const types = await page.locator('select[name="type"] option').evaluateAll((o) => o.map((x) => x.value).filter(Boolean));
  const want = [...new Set(resources.map((r) => r.resourceType))].sort();
  if (JSON.stringify(types) !== JSON.stringify(want)) throw new Error(`type choices ${types}, expected ${want}`);
  await go(page, `${base}/records`);
  await page.locator('select[name="type"]').selectOption('Condition');
  await page.getByRole('button', { name: 'Search' }).click();
  const conds = await expectList(page, ofType('Condition').length, ofType('Condition').length, 'type Condition');
  if (conds.some((r) => r.type !== 'Condition')) throw new Error('the Condition filter shows other types');
  await screenshot(page, 'ui-records-type');

  // The patient filter (a Patient id, as every exported resource references it), through the
  // link of a row's patient cell.
  const counts = new Map();
  resources.forEach((r) => subjectOf(r) && counts.set(subjectOf(r), (counts.get(subjectOf(r)) || 0) + 1));
  const withPatient = ofType('Patient').map((p) => `Patient/${p.id}`).sort((a, b) => counts.get(b) - counts.get(a))[0];
  const pid = withPatient.slice('Patient/'.length);
  await go(page, `${base}/records?patient=${encodeURIComponent(pid)}`);
  await expectList(page, counts.get(withPatient), Math.min(PAGE, counts.get(withPatient)), `patient ${pid}`);
  await screenshot(page, 'ui-records-patient');

  // A date range (with a type): the Observations effective in the middle of their dates.
  const obs = ofType('Observation');
  const days = obs.map((o) => o.effectiveDateTime.slice(0, 10)).sort();
  const from = days[Math.floor(days.length / 4)], to = days[Math.floor((3 * days.length) / 4)];
  const inRange = days.filter((d) => d >= from && d <= to).length;
  await go(page, `${base}/records?type=Observation&from=${from}&to=${to}`);
  const ranged = await expectList(page, inRange, Math.min(PAGE, inRange), `Observations ${from}..${to}`);
  if (ranged.some((r) => r.date < from || r.date > to)) throw new Error('a row outside the date range');
  if ((await page.locator('input[name="from"]').inputValue()) !== from) throw new Error('the from date is not kept');

  // Nothing matches: said so; markup in the search box is shown as text, never run.
  await go(page, `${base}/records?q=${encodeURIComponent('<script>alert(1)</script>')}`);
  await expectText(page, 'No record matches');
  if ((await page.locator('input[name="q"]').inputValue()) !== '<script>alert(1)</script>')
    throw new Error('the search text was not kept verbatim');
  // A bad date is refused with a clear message, and the other filters still apply.
  await go(page, `${base}/records?type=Condition&from=yesterday`);
  await expectText(page, 'dates are YYYY-MM-DD', '.error');
  await expectList(page, ofType('Condition').length, ofType('Condition').length, 'type Condition, bad date');
  expectNoProblems(page);

  // An Observation opens as a summary: its code, value with unit, date and status; the raw
  // JSON only after the toggle.
  await go(page, `${base}/records?q=${encodeURIComponent(needle)}`);
  await page.locator('#records tr:has(td) td:nth-child(2) a').first().click();
  await expectText(page, 'Observation', 'h1');
  const id = (await page.locator('main p.muted code').nth(1).innerText()).replace('Observation/', '');
  const o = obs.find((x) => x.id === id);
  if (!o) throw new Error(`the record page names Observation/${id}, which the test did not store`);
  const summary = await page.locator('#summary').innerText();
  const value = `${o.valueQuantity.value} ${o.valueQuantity.unit}`;
  for (const want of [needle, value, o.effectiveDateTime, o.status])
    if (!summary.includes(want)) throw new Error(`the summary lacks "${want}": ${summary}`);
  const raw = page.locator('#raw pre');
  if (await raw.isVisible()) throw new Error('the raw JSON shows before the toggle');
  await screenshot(page, 'ui-records-observation');
  await page.locator('#raw summary').click();
  await raw.waitFor({ state: 'visible' });
  if (!(await raw.innerText()).includes(`"id": "${id}"`)) throw new Error('the raw JSON is not the record');
  expectNoProblems(page);
  await screenshot(page, 'ui-records-observation-raw');

  // A Patient: name, gender, birth date and identifiers.
  const pat = ofType('Patient').find((p) => `Patient/${p.id}` === withPatient);
  await go(page, `${base}/records?type=Patient&q=${encodeURIComponent(pat.name[0].family)}`);
  await page.locator('#records tr:has(td) td:nth-child(2) a').first().click();
  const ps = await page.locator('#summary').innerText();
  for (const want of [`${pat.name[0].given[0]} ${pat.name[0].family}`, pat.gender, pat.birthDate, pat.identifier[1].value])
    if (!ps.includes(want)) throw new Error(`the Patient summary lacks "${want}": ${ps}`);
  await screenshot(page, 'ui-records-patient-record');

  // The other common types: each one's main fields, as the NDJSON has them.
  const main = {
    MedicationRequest: (r) => [r.medicationCodeableConcept.text, r.dosageInstruction[0].text, r.authoredOn, r.status,
      r.requester.display],
    Condition: (r) => [r.code.text, r.clinicalStatus.coding[0].code, r.onsetDateTime],
    Encounter: (r) => [r.type[0].text, r.period.start, r.class.code, r.status],
    Immunization: (r) => [r.vaccineCode.text, r.occurrenceDateTime, r.status],
    AllergyIntolerance: (r) => [r.code.text, r.criticality, r.reaction[0].manifestation[0].text],
    // No view of its own: one row per member, markup shown as text.
    Organization: (r) => [r.name, `${r.telecom[0].value} (${r.telecom[0].system})`],
  };
  for (const [type, fields] of Object.entries(main)) {
    const r = ofType(type)[0];
    if (!r) throw new Error(`the test data has no ${type}`);
    await go(page, `${base}/records?q=${encodeURIComponent(r.id)}`);
    await expectList(page, 1, 1, `search for ${type}/${r.id}`);
    await page.locator('#records tr:has(td) td:nth-child(2) a').click();
    await expectText(page, type, 'h1');
    const text = await page.locator('#summary').innerText();
    for (const want of fields(r)) if (!text.includes(want)) throw new Error(`the ${type} summary lacks "${want}": ${text}`);
    expectNoProblems(page);
    await screenshot(page, `ui-records-${type}`);
  }

  // A resource with two versions: the list shows the latest, its page links to version 1,
  // which shows the old value and says that a later version exists.
  if (v2) {
    const v1 = stored.find((r) => r.id === v2.id);
    await go(page, `${base}/records?q=${encodeURIComponent(v2.id)}`);
    const [row] = await expectList(page, 1, 1, `the updated Observation ${v2.id}`);
    await page.locator('#records tr:has(td) td:nth-child(2) a').click();
    await expectText(page, 'version 2');
    const text2 = await page.locator('#summary').innerText();
    if (!text2.includes(`${v2.valueQuantity.value} ${v2.valueQuantity.unit}`)) throw new Error(`version 2 shows ${text2}`);
    if (new URL(page.url()).pathname !== row.href) throw new Error('the row does not open the latest version');
    await page.locator('#versions a', { hasText: '1' }).click();
    await expectText(page, 'version 1 (a later version exists)');
    const text1 = await page.locator('#summary').innerText();
    if (!text1.includes(`${v1.valueQuantity.value} ${v1.valueQuantity.unit}`)) throw new Error(`version 1 shows ${text1}`);
    expectNoProblems(page);
    await screenshot(page, 'ui-records-version1');
  }
});
