// fhir_demo.mjs - what `make run` shows of `medvault fhir serve`: a real FHIR client library
// (fhir-kit-client, from npm) reads the bulk export a doctor imported, through FHIR's REST API
// on loopback: the server's capabilities, a paged search of Observations (following the next
// link), the Patients, and one resource read by its id. Prints what it saw; exits 1 if the
// server answers anything unexpected. Needs MV_FHIR_BASE and MV_FHIR_TOKEN.
import { Client } from 'fhir-kit-client';

const baseUrl = process.env.MV_FHIR_BASE;
const bearerToken = process.env.MV_FHIR_TOKEN;
if (!baseUrl || !bearerToken) throw new Error('MV_FHIR_BASE and MV_FHIR_TOKEN are required');
const fhir = new Client({ baseUrl, bearerToken });

function text(cc) {
  return cc?.coding?.[0]?.display ?? cc?.text ?? '?';
}
function value(r) {
  if (r.valueQuantity) return `${r.valueQuantity.value} ${r.valueQuantity.unit ?? ''}`.trim();
  if (r.valueCodeableConcept) return text(r.valueCodeableConcept);
  return r.valueString ?? '';
}

try {
  const cap = await fhir.capabilityStatement();
  const types = cap.rest[0].resource.map((x) => x.type);
  console.log(`fhir-kit-client: GET /metadata: ${cap.resourceType}, FHIR ${cap.fhirVersion}, ${types.length} resource types`);
  const page1 = await fhir.search({ resourceType: 'Observation', searchParams: { _count: 3 } });
  console.log(`fhir-kit-client: search Observation?_count=3: total ${page1.total}, first page:`);
  for (const e of page1.entry ?? [])
    console.log(`  ${e.resource.resourceType}/${e.resource.id} v${e.resource.meta.versionId}: ${text(e.resource.code)} ${value(e.resource)}`);
  const page2 = await fhir.nextPage({ bundle: page1 });
  console.log(`fhir-kit-client: the next page (link "next"): ${(page2.entry ?? []).length} more`);
  const pats = await fhir.search({ resourceType: 'Patient', searchParams: { _count: 2 } });
  for (const e of pats.entry ?? []) {
    const p = await fhir.read({ resourceType: 'Patient', id: e.resource.id });
    const n = p.name?.[0];
    console.log(`fhir-kit-client: read Patient/${p.id}: ${(n?.given ?? []).join(' ')} ${n?.family ?? ''}, born ${p.birthDate}`);
  }
  if (!(page1.total > 3 && (page1.entry ?? []).length === 3 && (page2.entry ?? []).length > 0)) throw new Error('unexpected paging');
} catch (e) {
  console.error(`fhir_demo: ${e.message} ${e.response ? JSON.stringify(e.response.data) : ''}`);
  process.exit(1);
}
