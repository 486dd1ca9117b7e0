// fhir_client.mjs - a scripted session of a real FHIR client library (fhir-kit-client, from
// npm) against a real `medvault fhir serve` (tests/integration/test_fhir_server.sh starts it):
// capabilities, create, read, update with an If-Match conflict and then without one, vread of
// the old version, search with paging followed through next and previous links, history, and
// OperationOutcome answers to bad requests. Needs MV_FHIR_BASE and MV_FHIR_TOKEN.
import { Client } from 'fhir-kit-client';
import assert from 'node:assert/strict';

const baseUrl = process.env.MV_FHIR_BASE;
const bearerToken = process.env.MV_FHIR_TOKEN;
if (!baseUrl || !bearerToken) throw new Error('MV_FHIR_BASE and MV_FHIR_TOKEN are required');
const fhir = new Client({ baseUrl, bearerToken });
const headers = (res) => Client.httpFor(res).response.headers;

/** Runs fn, which must fail with HTTP status; returns the OperationOutcome it answered. */
async function refused(status, fn) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err && err.response, `expected HTTP ${status}, the request succeeded`);
  assert.equal(err.response.status, status, `expected HTTP ${status}: ${JSON.stringify(err.response.data)}`);
  assert.equal(err.response.data.resourceType, 'OperationOutcome');
  assert.ok(err.response.data.issue.length >= 1 && err.response.data.issue[0].code);
  return err.response.data;
}

let step = '';
async function check(name, fn) {
  step = name;
  await fn();
  console.log(`ok   ${name}`);
}

try {
  await check('capabilities', async () => {
    const cap = await fhir.capabilityStatement();
    assert.equal(cap.resourceType, 'CapabilityStatement');
    assert.equal(cap.fhirVersion, '4.0.1');
    assert.ok(cap.format.includes('application/fhir+json'));
    const obs = cap.rest[0].resource.find((r) => r.type === 'Observation');
    assert.ok(obs, 'Observation is listed');
    assert.deepEqual(obs.interaction.map((i) => i.code).sort(),
      ['create', 'history-instance', 'read', 'search-type', 'update', 'vread']);
    assert.deepEqual(obs.searchParam.map((p) => p.name).sort(),
      ['_id', '_lastUpdated', 'code', 'date', 'patient', 'status', 'subject']);
  });

  await check('a request without the token is refused (401)', async () => {
    const anon = new Client({ baseUrl });
    await refused(401, () => anon.read({ resourceType: 'Patient', id: 'x' }));
    const wrong = new Client({ baseUrl, bearerToken: 'f'.repeat(64) });
    await refused(401, () => wrong.capabilityStatement());
  });

  let patient;
  await check('create', async () => {
    patient = await fhir.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', id: 'ignored-on-create', name: [{ family: 'Testperson', given: ['Ada'] }] },
    });
    assert.equal(patient.resourceType, 'Patient');
    assert.notEqual(patient.id, 'ignored-on-create', 'create assigns a new id');
    assert.equal(patient.meta.versionId, '1');
    const h = headers(patient);
    assert.equal(h.get('etag'), 'W/"1"');
    assert.equal(h.get('location'), `${baseUrl}/Patient/${patient.id}/_history/1`);
    assert.equal(new Date(h.get('last-modified')).getTime(),
      Math.floor(Date.parse(patient.meta.lastUpdated) / 1000) * 1000, 'Last-Modified is meta.lastUpdated');
    assert.match(h.get('content-type'), /^application\/fhir\+json/);
  });

  await check('read', async () => {
    const got = await fhir.read({ resourceType: 'Patient', id: patient.id });
    assert.deepEqual(got, patient);
    assert.equal(headers(got).get('etag'), 'W/"1"');
  });

  await check('update with a stale If-Match is refused (412), and changes nothing', async () => {
    const body = { ...patient, name: [{ family: 'Conflict' }] };
    await refused(412, () => fhir.update({
      resourceType: 'Patient', id: patient.id, body, options: { headers: { 'If-Match': 'W/"7"' } },
    }));
    const got = await fhir.read({ resourceType: 'Patient', id: patient.id });
    assert.equal(got.meta.versionId, '1');
    assert.equal(got.name[0].family, 'Testperson');
  });

  await check('update with the right If-Match makes version 2', async () => {
    const body = { resourceType: 'Patient', id: patient.id, name: [{ family: 'Renamed', given: ['Ada'] }] };
    const v2 = await fhir.update({
      resourceType: 'Patient', id: patient.id, body, options: { headers: { 'If-Match': 'W/"1"' } },
    });
    assert.equal(v2.meta.versionId, '2');
    assert.equal(v2.name[0].family, 'Renamed');
    assert.equal(headers(v2).get('etag'), 'W/"2"');
    const latest = await fhir.read({ resourceType: 'Patient', id: patient.id });
    assert.equal(latest.meta.versionId, '2');
  });

  await check('update with unchanged content stores nothing; update of a new id creates it', async () => {
    const same = { resourceType: 'Patient', id: patient.id, name: [{ family: 'Renamed', given: ['Ada'] }] };
    const again = await fhir.update({ resourceType: 'Patient', id: patient.id, body: same });
    assert.equal(again.meta.versionId, '2');
    assert.equal(Client.httpFor(again).response.status, 200);
    const fresh = await fhir.update({
      resourceType: 'Patient', id: 'made-by-put', body: { resourceType: 'Patient', id: 'made-by-put' },
    });
    assert.equal(Client.httpFor(fresh).response.status, 201);
    assert.equal(fresh.meta.versionId, '1');
    assert.equal(headers(fresh).get('location'), `${baseUrl}/Patient/made-by-put/_history/1`);
  });

  await check('vread of version 1 returns the old content', async () => {
    const v1 = await fhir.vread({ resourceType: 'Patient', id: patient.id, version: '1' });
    assert.deepEqual(v1, patient);
    await refused(404, () => fhir.vread({ resourceType: 'Patient', id: patient.id, version: '9' }));
  });

  await check('history', async () => {
    const b = await fhir.history({ resourceType: 'Patient', id: patient.id });
    assert.equal(b.resourceType, 'Bundle');
    assert.equal(b.type, 'history');
    assert.equal(b.total, 2);
    assert.deepEqual(b.entry.map((e) => e.resource.meta.versionId), ['2', '1'], 'newest first');
    assert.equal(b.entry[1].request.method, 'POST');
    assert.equal(b.entry[0].request.method, 'PUT');
    assert.equal(b.entry[0].response.etag, 'W/"2"');
    for (const e of b.entry) assert.equal(e.fullUrl, `${baseUrl}/Patient/${patient.id}`);
  });

  // Seven Observations: five about this patient (dates 2026-01-01..05, two of them "final"
  // with code 8867-4), and two about someone else.
  const mine = [];
  await check('create observations', async () => {
    for (let i = 1; i <= 7; i++) {
      const other = i > 5;
      const o = await fhir.create({
        resourceType: 'Observation',
        body: {
          resourceType: 'Observation',
          status: i <= 2 ? 'final' : 'preliminary',
          code: { coding: [{ system: 'http://loinc.org', code: i <= 2 || other ? '8867-4' : '8310-5' }] },
          subject: { reference: other ? 'Patient/someone-else' : `Patient/${patient.id}` },
          effectiveDateTime: `2026-01-0${other ? 9 : i}T10:00:00Z`,
          valueQuantity: { value: 60 + i, unit: '/min' },
        },
      });
      if (!other) mine.push(o.id);
    }
  });

  await check('search with paging: _count=2 over five matches, next and previous links', async () => {
    let page = await fhir.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${patient.id}`, _count: 2 } });
    const seen = [];
    const sizes = [];
    for (;;) {
      assert.equal(page.resourceType, 'Bundle');
      assert.equal(page.type, 'searchset');
      assert.equal(page.total, 5);
      assert.ok(page.link.find((l) => l.relation === 'self'));
      for (const e of page.entry || []) {
        assert.equal(e.search.mode, 'match');
        assert.equal(e.fullUrl, `${baseUrl}/Observation/${e.resource.id}`);
        assert.equal(e.resource.subject.reference, `Patient/${patient.id}`);
        seen.push(e.resource.id);
      }
      sizes.push((page.entry || []).length);
      const next = await fhir.nextPage({ bundle: page });
      if (!next) break;
      page = next;
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual([...seen].sort(), [...mine].sort(), 'every match once, no other');
    const prev = await fhir.prevPage({ bundle: page });
    assert.equal(prev.entry.length, 2);
    assert.deepEqual(prev.entry.map((e) => e.resource.id), seen.slice(2, 4));
  });

  await check('search by patient, code, status, date, _id, _lastUpdated', async () => {
    const n = async (searchParams) => (await fhir.search({ resourceType: 'Observation', searchParams })).total;
    assert.equal(await n({ patient: patient.id }), 5);
    assert.equal(await n({ code: '8867-4' }), 4);
    assert.equal(await n({ code: 'http://loinc.org|8867-4', patient: patient.id }), 2);
    assert.equal(await n({ status: 'final', subject: `Patient/${patient.id}` }), 2);
    assert.equal(await n({ patient: patient.id, date: ['ge2026-01-02', 'le2026-01-04'] }), 3);
    assert.equal(await n({ date: 'gt2026-01-04' }), 3);
    assert.equal(await n({ date: 'eq2026-01-09' }), 2);
    assert.equal(await n({ _id: mine[0] }), 1);
    assert.equal(await n({ _lastUpdated: 'ge2000-01-01' }), 7);
    assert.equal(await n({ _lastUpdated: 'gt2999-01-01' }), 0);
    const pts = await fhir.search({ resourceType: 'Patient', searchParams: { _id: patient.id } });
    assert.equal(pts.total, 1);
    assert.equal(pts.entry[0].resource.meta.versionId, '2', 'search shows the latest version only');
  });

  await check('OperationOutcome on bad requests', async () => {
    const bad = await refused(400, () => fhir.create({ resourceType: 'Patient', body: '{"resourceType": "Patient",' }));
    assert.equal(bad.issue[0].severity, 'error');
    await refused(404, () => fhir.read({ resourceType: 'Patient', id: 'no-such-patient' }));
    await refused(400, () => fhir.update({
      resourceType: 'Patient', id: patient.id, body: { resourceType: 'Patient', id: 'someone-else' },
    }));
    await refused(400, () => fhir.update({
      resourceType: 'Patient', id: patient.id, body: { resourceType: 'Observation', id: patient.id },
    }));
    await refused(400, () => fhir.search({ resourceType: 'Observation', searchParams: { 'value-quantity': '60' } }));
    await refused(406, () => fhir.request('metadata?_format=xml'));
    const lenient = await fhir.search({
      resourceType: 'Observation', searchParams: { 'value-quantity': '60', patient: patient.id },
      options: { headers: { Prefer: 'handling=lenient' } },
    });
    assert.equal(lenient.total, 5, 'Prefer: handling=lenient ignores an unknown parameter');
    await refused(405, () => fhir.delete({ resourceType: 'Patient', id: patient.id }));
  });
} catch (e) {
  console.error(`FAIL ${step}: ${e.message}`);
  process.exitCode = 1;
}
