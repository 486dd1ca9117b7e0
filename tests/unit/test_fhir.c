/* test_fhir.c - FHIR split/join (mv_fhir.h) on small synthetic FHIR R4 records written for
 * this test (not from a published example set): what goes to the envelope and to content
 * blocks, identical blocks for two patients' identical prescriptions, dotted paths, the
 * invariant join(split(x)) == canon(x) (also on many generated documents), strict profile
 * parsing, and hostile join inputs. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_canon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_mem.h"

#define CAP ((size_t)1 << 22)

static const char mr_a[] =
    "{\"resourceType\":\"MedicationRequest\",\"id\":\"rx-1001\","
    "\"identifier\":[{\"system\":\"urn:oid:1.2.3.4\",\"value\":\"RX1001\"}],"
    "\"status\":\"active\",\"intent\":\"order\","
    "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\","
    "\"code\":\"197361\",\"display\":\"Amlodipine 5 MG Oral Tablet\"}]},"
    "\"subject\":{\"reference\":\"Patient/p-1\"},\"encounter\":{\"reference\":\"Encounter/e-1\"},"
    "\"authoredOn\":\"2024-03-01\",\"requester\":{\"reference\":\"Practitioner/dr-7\"},"
    "\"note\":[{\"text\":\"patient prefers mornings\"}],"
    "\"dosageInstruction\":[{\"sequence\":1,\"text\":\"1 tablet daily\","
    "\"timing\":{\"repeat\":{\"frequency\":1,\"period\":1,\"periodUnit\":\"d\"}},"
    "\"doseAndRate\":[{\"doseQuantity\":{\"value\":1.0,\"unit\":\"tablet\"}}]}],"
    "\"dispenseRequest\":{\"validityPeriod\":{\"start\":\"2024-03-01\",\"end\":\"2024-09-01\"},"
    "\"numberOfRepeatsAllowed\":3,\"quantity\":{\"value\":30,\"unit\":\"tablet\"}}}";

/* Another patient, visit, prescriber and date; the same drug and dosage; other member order,
 * whitespace and escapes. */
static const char mr_b[] =
    "{\n  \"dispenseRequest\": {\"quantity\": {\"unit\": \"tablet\", \"value\": 30},\n"
    "    \"validityPeriod\": {\"start\": \"2024-05-17\"}, \"numberOfRepeatsAllowed\": 3},\n"
    "  \"resourceType\": \"MedicationRequest\", \"id\": \"rx-2002\",\n"
    "  \"subject\": {\"reference\": \"Patient\\/p-2\"},\n"
    "  \"dosageInstruction\": [{\"doseAndRate\": [{\"doseQuantity\": {\"unit\": \"tablet\", \"value\": 1.0}}],\n"
    "    \"text\": \"1 tablet daily\", \"sequence\": 1,\n"
    "    \"timing\": {\"repeat\": {\"periodUnit\": \"d\", \"period\": 1, \"frequency\": 1}}}],\n"
    "  \"medicationCodeableConcept\": {\"coding\": [{\"display\": \"Amlodipine 5 MG Oral Tablet\",\n"
    "    \"code\": \"197361\", \"system\": \"http:\\/\\/www.nlm.nih.gov\\/research\\/umls\\/rxnorm\"}]},\n"
    "  \"intent\": \"order\", \"status\": \"active\", \"authoredOn\": \"2024-05-17T09:30:00+02:00\",\n"
    "  \"requester\": {\"reference\": \"Practitioner/dr-9\"}\n}\n";

static const char mr_content[] =
    "{\"dispenseRequest\":{\"numberOfRepeatsAllowed\":3,\"quantity\":{\"unit\":\"tablet\",\"value\":30}},"
    "\"dosageInstruction\":[{\"doseAndRate\":[{\"doseQuantity\":{\"unit\":\"tablet\",\"value\":1.0}}],"
    "\"sequence\":1,\"text\":\"1 tablet daily\",\"timing\":{\"repeat\":{\"frequency\":1,\"period\":1,"
    "\"periodUnit\":\"d\"}}}],\"intent\":\"order\",\"medicationCodeableConcept\":{\"coding\":[{\"code\":"
    "\"197361\",\"display\":\"Amlodipine 5 MG Oral Tablet\",\"system\":"
    "\"http://www.nlm.nih.gov/research/umls/rxnorm\"}]}}";

static const char mr_a_envelope[] =
    "{\"authoredOn\":\"2024-03-01\",\"dispenseRequest\":{\"validityPeriod\":{\"end\":\"2024-09-01\","
    "\"start\":\"2024-03-01\"}},\"encounter\":{\"reference\":\"Encounter/e-1\"},\"id\":\"rx-1001\","
    "\"identifier\":[{\"system\":\"urn:oid:1.2.3.4\",\"value\":\"RX1001\"}],"
    "\"note\":[{\"text\":\"patient prefers mornings\"}],"
    "\"requester\":{\"reference\":\"Practitioner/dr-7\"},\"resourceType\":\"MedicationRequest\","
    "\"status\":\"active\",\"subject\":{\"reference\":\"Patient/p-1\"}}";

static const char patient[] =
    "{\"resourceType\":\"Patient\",\"id\":\"p-1\",\"name\":[{\"family\":\"Doe\",\"given\":[\"Jane\"]}],"
    "\"gender\":\"female\",\"birthDate\":\"1970-01-01\",\"_birthDate\":{\"extension\":[]}}";

static const char observation[] =
    "{\"resourceType\":\"Observation\",\"id\":\"obs-5\",\"status\":\"final\",\"_status\":{\"id\":\"s\"},"
    "\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/observation-category\","
    "\"code\":\"laboratory\"}]}],\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2339-0\","
    "\"display\":\"Glucose [Mass/volume] in Blood\"}]},\"subject\":{\"reference\":\"Patient/p-1\"},"
    "\"effectiveDateTime\":\"2024-03-01T08:00:00Z\",\"issued\":\"2024-03-01T10:00:00.000Z\","
    "\"performer\":[{\"reference\":\"Practitioner/dr-7\"}],"
    "\"valueQuantity\":{\"value\":5.40,\"unit\":\"mmol/L\",\"system\":\"http://unitsofmeasure.org\","
    "\"code\":\"mmol/L\"},\"extension\":[{\"url\":\"urn:x\",\"valueString\":\"y\"}]}";

static const char observation_content[] =
    "{\"category\":[{\"coding\":[{\"code\":\"laboratory\",\"system\":"
    "\"http://terminology.hl7.org/CodeSystem/observation-category\"}]}],\"code\":{\"coding\":[{\"code\":"
    "\"2339-0\",\"display\":\"Glucose [Mass/volume] in Blood\",\"system\":\"http://loinc.org\"}]},"
    "\"valueQuantity\":{\"code\":\"mmol/L\",\"system\":\"http://unitsofmeasure.org\",\"unit\":\"mmol/L\","
    "\"value\":5.40}}";

static mv_json *parse(const char *text)
{
    mv_json *j = NULL;
    assert_int_equal(mv_json_parse(text, strlen(text), NULL, &j, NULL), MV_OK);
    return j;
}

static mv_fhir_profiles *profiles_default(void)
{
    mv_fhir_profiles *p = NULL;
    assert_int_equal(mv_fhir_profiles_default(&p), MV_OK);
    assert_non_null(p);
    return p;
}

static mv_fhir_profiles *profiles_from(const char *text)
{
    mv_fhir_profiles *p = NULL;
    assert_int_equal(mv_fhir_profiles_parse(text, strlen(text), &p), MV_OK);
    return p;
}

static void expect_bytes(const mv_buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->ptr, want, b->len);
}

/* Joins s and checks the result is mv_canon(text) byte for byte. */
static void expect_round_trip(const char *text, size_t len, const mv_fhir_split *s)
{
    mv_buf c, j;
    const uint8_t **bp = mv_calloc(s->n_blocks + 1, sizeof *bp);
    size_t *bl = mv_calloc(s->n_blocks + 1, sizeof *bl);
    assert_non_null(bp);
    assert_non_null(bl);
    for (size_t i = 0; i < s->n_blocks; i++) {
        bp[i] = s->blocks[i].ptr;
        bl[i] = s->blocks[i].len;
    }
    mv_buf_init(&c, CAP);
    mv_buf_init(&j, CAP);
    assert_int_equal(mv_canon(text, len, NULL, &c, NULL), MV_OK);
    assert_int_equal(mv_fhir_join(s->envelope.ptr, s->envelope.len, bp, bl, s->slots, s->n_blocks, &j), MV_OK);
    assert_int_equal(j.len, c.len);
    assert_memory_equal(j.ptr, c.ptr, c.len);
    /* Every part is itself canonical. */
    mv_buf_reset(&c);
    assert_int_equal(mv_canon((const char *)s->envelope.ptr, s->envelope.len, NULL, &c, NULL), MV_OK);
    assert_int_equal(c.len, s->envelope.len);
    assert_memory_equal(c.ptr, s->envelope.ptr, c.len);
    for (size_t i = 0; i < s->n_blocks; i++) {
        mv_buf_reset(&c);
        assert_true(s->blocks[i].len > 2); /* never an empty block */
        assert_int_equal(mv_canon((const char *)s->blocks[i].ptr, s->blocks[i].len, NULL, &c, NULL), MV_OK);
        assert_int_equal(c.len, s->blocks[i].len);
        assert_memory_equal(c.ptr, s->blocks[i].ptr, c.len);
    }
    mv_buf_clear(&c);
    mv_buf_clear(&j);
    mv_free(bp);
    mv_free(bl);
}

static void split_text(const mv_fhir_profiles *p, const char *text, mv_fhir_split *s)
{
    mv_json *doc = parse(text);
    mv_fhir_split_init(s);
    assert_int_equal(mv_fhir_split_doc(p, doc, s), MV_OK);
    mv_json_free(doc);
    expect_round_trip(text, strlen(text), s);
}

static int contains(const mv_buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->ptr + i, needle, n) == 0)
            return 1;
    return 0;
}

static void test_medication_request(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_default();
    mv_fhir_split a, b;
    split_text(p, mr_a, &a);
    split_text(p, mr_b, &b);
    expect_bytes(&a.envelope, mr_a_envelope);
    assert_int_equal(a.n_blocks, 1);
    assert_int_equal(a.slots[0], MV_FHIR_SLOT_ROOT);
    expect_bytes(&a.blocks[0], mr_content);
    /* Two patients, the same drug and dosage: byte-identical content blocks. */
    assert_int_equal(b.n_blocks, 1);
    expect_bytes(&b.blocks[0], mr_content);
    assert_false(contains(&b.blocks[0], "p-2"));
    assert_true(contains(&b.envelope, "\"dispenseRequest\":{\"validityPeriod\":{\"start\":\"2024-05-17\"}}"));
    mv_fhir_split_clear(&a);
    mv_fhir_split_clear(&b);
    mv_fhir_profiles_free(p);
}

static void test_patient_and_unknown_type(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_default();
    mv_fhir_split s;
    mv_buf c;
    mv_buf_init(&c, CAP);
    split_text(p, patient, &s);
    assert_int_equal(s.n_blocks, 0);
    assert_int_equal(mv_canon(patient, strlen(patient), NULL, &c, NULL), MV_OK);
    assert_int_equal(s.envelope.len, c.len);
    assert_memory_equal(s.envelope.ptr, c.ptr, c.len);
    mv_fhir_split_clear(&s);
    /* A type without a profile (Flag is not in data/fhir-profiles.json): envelope only. */
    const char *flag = "{\"resourceType\":\"Flag\",\"status\":\"active\",\"code\":{\"text\":\"fall risk\"},"
                       "\"subject\":{\"reference\":\"Patient/p-1\"}}";
    split_text(p, flag, &s);
    assert_int_equal(s.n_blocks, 0);
    mv_fhir_split_clear(&s);
    mv_buf_clear(&c);
    mv_fhir_profiles_free(p);
}

static void test_observation(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_default();
    mv_fhir_split s;
    split_text(p, observation, &s);
    assert_int_equal(s.n_blocks, 1);
    expect_bytes(&s.blocks[0], observation_content);
    /* Base fields and primitive extensions ("_status") are envelope whatever the profile says. */
    assert_true(contains(&s.envelope, "\"_status\":{\"id\":\"s\"}"));
    assert_true(contains(&s.envelope, "\"extension\":[{\"url\":\"urn:x\",\"valueString\":\"y\"}]"));
    assert_true(contains(&s.envelope, "\"issued\":\"2024-03-01T10:00:00.000Z\""));
    mv_fhir_split_clear(&s);
    mv_fhir_profiles_free(p);
}

/* Each type named in DESIGN.md's split has its own profile: a content field gives a block,
 * and the type's person, visit, date, status and free-text fields (FHIR R4 element names)
 * stay in the envelope. */
static void test_every_profiled_type(void **state)
{
    (void)state;
    static const struct {
        const char *type, *content, *personal;
    } types[] = {
        {"MedicationRequest", "medicationCodeableConcept",
         "subject encounter authoredOn requester performer recorder note status groupIdentifier"},
        {"MedicationStatement", "medicationCodeableConcept",
         "subject context effectiveDateTime dateAsserted informationSource note status"},
        {"MedicationDispense", "medicationCodeableConcept",
         "subject context performer whenPrepared whenHandedOver receiver note status"},
        {"MedicationAdministration", "medicationCodeableConcept",
         "subject context effectiveDateTime effectivePeriod performer note status"},
        {"Observation", "code", "subject encounter effectiveDateTime issued performer note status specimen"},
        {"Condition", "code",
         "subject encounter onsetDateTime recordedDate recorder asserter note clinicalStatus abatementString"},
        {"Procedure", "code", "subject encounter performedDateTime recorder asserter performer note status"},
        {"DiagnosticReport", "code", "subject encounter effectiveDateTime issued performer conclusion status result"},
        {"Immunization", "vaccineCode", "patient encounter occurrenceDateTime recorded performer note status lotNumber"},
        {"AllergyIntolerance", "code",
         "patient encounter onsetDateTime recordedDate recorder asserter note clinicalStatus reaction"},
        {"ServiceRequest", "code",
         "subject encounter occurrenceDateTime authoredOn requester performer note patientInstruction status"},
    };
    mv_fhir_profiles *p = profiles_default();
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char doc[2048];
        size_t checked = 0;
        int n = snprintf(doc, sizeof doc, "{\"resourceType\":\"%s\",\"%s\":{\"text\":\"shared\"}", types[i].type,
                         types[i].content);
        for (const char *f = types[i].personal; *f;) {
            size_t l = strcspn(f, " ");
            n += snprintf(doc + n, sizeof doc - (size_t)n, ",\"%.*s\":\"SECRET\"", (int)l, f);
            checked++;
            f += l + (f[l] == ' ');
        }
        assert_true((size_t)n + 2 < sizeof doc);
        snprintf(doc + n, sizeof doc - (size_t)n, "}");
        mv_fhir_split s;
        split_text(p, doc, &s);
        assert_true(checked >= 7);
        assert_int_equal(s.n_blocks, 1);
        assert_true(contains(&s.blocks[0], "shared"));
        if (contains(&s.blocks[0], "SECRET"))
            fail_msg("%s: a personal field went to the content block: %s", types[i].type,
                     (const char *)s.blocks[0].ptr);
        assert_false(contains(&s.blocks[0], "resourceType"));
        mv_fhir_split_clear(&s);
    }
    mv_fhir_profiles_free(p);
}

/* A Bundle of 40 entries: the split's arrays grow past their first capacities (8, 16, 32)
 * and keep every block in entry order; the join gives back the canonical Bundle. */
static void test_bundle_many(void **state)
{
    (void)state;
    enum { N = 40 };
    mv_fhir_profiles *p = profiles_default();
    mv_buf bundle, j, c;
    mv_buf_init(&bundle, CAP);
    mv_buf_init(&j, CAP);
    mv_buf_init(&c, CAP);
    assert_int_equal(mv_buf_puts(&bundle, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["), MV_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(mv_buf_printf(&bundle, "%s{\"fullUrl\":\"urn:uuid:%d\",\"resource\":%s}", i ? "," : "", i, mr_a),
                         MV_OK);
    assert_int_equal(mv_buf_puts(&bundle, "]}"), MV_OK);
    mv_fhir_split s;
    split_text(p, (const char *)bundle.ptr, &s);
    assert_int_equal(s.n_blocks, N);
    const uint8_t *bp[N];
    size_t bl[N];
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(s.slots[i], i);
        expect_bytes(&s.blocks[i], mr_content);
        bp[i] = s.blocks[i].ptr;
        bl[i] = s.blocks[i].len;
    }
    assert_int_equal(mv_fhir_join(s.envelope.ptr, s.envelope.len, bp, bl, s.slots, N, &j), MV_OK);
    assert_int_equal(mv_canon((const char *)bundle.ptr, bundle.len, NULL, &c, NULL), MV_OK);
    assert_int_equal(j.len, c.len);
    assert_memory_equal(j.ptr, c.ptr, c.len);
    mv_buf_clear(&bundle);
    mv_buf_clear(&j);
    mv_buf_clear(&c);
    mv_fhir_split_clear(&s);
    mv_fhir_profiles_free(p);
}

static void test_bundle(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_default();
    mv_buf bundle;
    mv_buf_init(&bundle, CAP);
    assert_int_equal(mv_buf_printf(&bundle,
                                   "{\"resourceType\":\"Bundle\",\"id\":\"b-1\",\"type\":\"collection\","
                                   "\"timestamp\":\"2024-05-17T10:00:00Z\",\"entry\":["
                                   "{\"fullUrl\":\"urn:uuid:1\",\"resource\":%s},"
                                   "{\"fullUrl\":\"urn:uuid:2\",\"resource\":%s},"
                                   "{\"resource\":%s,\"search\":{\"mode\":\"match\"}}]}",
                                   patient, mr_a, mr_b),
                     MV_OK);
    mv_fhir_split s, one;
    split_text(p, (const char *)bundle.ptr, &s);
    assert_int_equal(s.n_blocks, 2);
    assert_int_equal(s.slots[0], 1);
    assert_int_equal(s.slots[1], 2);
    expect_bytes(&s.blocks[0], mr_content);
    expect_bytes(&s.blocks[1], mr_content);
    /* Entry 1's envelope part is in place, exactly as the single resource's envelope. */
    assert_true(contains(&s.envelope, mr_a_envelope));
    assert_true(contains(&s.envelope, "\"fullUrl\":\"urn:uuid:2\""));
    assert_true(contains(&s.envelope, "\"search\":{\"mode\":\"match\"}"));
    assert_false(contains(&s.envelope, "dosageInstruction"));
    split_text(p, mr_a, &one);
    assert_int_equal(one.blocks[0].len, s.blocks[0].len);
    mv_fhir_split_clear(&one);

    /* Blocks may be joined in any order. */
    const uint8_t *bp[2] = {s.blocks[1].ptr, s.blocks[0].ptr};
    size_t bl[2] = {s.blocks[1].len, s.blocks[0].len};
    uint32_t sl[2] = {2, 1};
    mv_buf j, c;
    mv_buf_init(&j, CAP);
    mv_buf_init(&c, CAP);
    assert_int_equal(mv_fhir_join(s.envelope.ptr, s.envelope.len, bp, bl, sl, 2, &j), MV_OK);
    assert_int_equal(mv_canon((const char *)bundle.ptr, bundle.len, NULL, &c, NULL), MV_OK);
    assert_int_equal(j.len, c.len);
    assert_memory_equal(j.ptr, c.ptr, c.len);
    mv_buf_clear(&j);
    mv_buf_clear(&c);
    mv_fhir_split_clear(&s);

    /* Odd entries stay in the envelope: no resource, a resource that is not an object or has
     * no resourceType, a nested Bundle (envelope only by default); "entry" not an array. */
    const char *odd = "{\"resourceType\":\"Bundle\",\"entry\":[{\"request\":{\"method\":\"DELETE\"}},"
                      "{\"resource\":7},{\"resource\":{\"intent\":\"order\"}},\"x\","
                      "{\"resource\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":"
                      "{\"resourceType\":\"Observation\",\"code\":{}}}]}},"
                      "{\"resource\":{\"resourceType\":\"Observation\",\"code\":{\"text\":\"c\"}}}]}";
    split_text(p, odd, &s);
    assert_int_equal(s.n_blocks, 1);
    assert_int_equal(s.slots[0], 5);
    expect_bytes(&s.blocks[0], "{\"code\":{\"text\":\"c\"}}");
    mv_fhir_split_clear(&s);
    split_text(p, "{\"resourceType\":\"Bundle\",\"entry\":{\"resource\":{\"resourceType\":\"Observation\","
                  "\"code\":{}}}}",
               &s);
    assert_int_equal(s.n_blocks, 0);
    mv_fhir_split_clear(&s);
    mv_buf_clear(&bundle);
    mv_fhir_profiles_free(p);
}

/* Dotted paths with a custom profile, three levels deep. */
static void test_dotted_paths(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_from("{\"version\":1,\"default\":{\"envelope\":[\"x.y.z\",\"x.w\"]},\"types\":{}}");
    static const struct {
        const char *doc, *env, *content; /* content NULL: no block */
    } cases[] = {
        {"{\"resourceType\":\"T\",\"x\":{\"y\":{\"z\":1,\"q\":2},\"w\":3,\"v\":4},\"k\":5}",
         "{\"resourceType\":\"T\",\"x\":{\"w\":3,\"y\":{\"z\":1}}}", "{\"k\":5,\"x\":{\"v\":4,\"y\":{\"q\":2}}}"},
        /* A nested object with only content members is not written in the envelope. */
        {"{\"resourceType\":\"T\",\"x\":{\"v\":4,\"y\":{\"q\":2}}}", "{\"resourceType\":\"T\"}",
         "{\"x\":{\"v\":4,\"y\":{\"q\":2}}}"},
        /* ... and one with only envelope members not in the content. */
        {"{\"resourceType\":\"T\",\"x\":{\"y\":{\"z\":[1]}},\"k\":5}", "{\"resourceType\":\"T\",\"x\":{\"y\":{\"z\":[1]}}}",
         "{\"k\":5}"},
        /* An empty nested object stays in the envelope. */
        {"{\"resourceType\":\"T\",\"x\":{\"y\":{}}}", "{\"resourceType\":\"T\",\"x\":{\"y\":{}}}", NULL},
        {"{\"resourceType\":\"T\",\"x\":{}}", "{\"resourceType\":\"T\",\"x\":{}}", NULL},
        /* A path through a value that is not an object takes the whole value. */
        {"{\"resourceType\":\"T\",\"x\":{\"y\":7,\"v\":1}}", "{\"resourceType\":\"T\",\"x\":{\"y\":7}}",
         "{\"x\":{\"v\":1}}"},
        {"{\"resourceType\":\"T\",\"x\":\"s\",\"k\":[{\"y\":1}]}", "{\"resourceType\":\"T\",\"x\":\"s\"}",
         "{\"k\":[{\"y\":1}]}"},
        /* Only the resource's own top level knows base fields: a nested "id" is content. */
        {"{\"resourceType\":\"T\",\"id\":\"1\",\"k\":{\"id\":\"2\"},\"_k\":{}}",
         "{\"_k\":{},\"id\":\"1\",\"resourceType\":\"T\"}", "{\"k\":{\"id\":\"2\"}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mv_fhir_split s;
        split_text(p, cases[i].doc, &s);
        expect_bytes(&s.envelope, cases[i].env);
        if (cases[i].content) {
            assert_int_equal(s.n_blocks, 1);
            expect_bytes(&s.blocks[0], cases[i].content);
        } else {
            assert_int_equal(s.n_blocks, 0);
        }
        mv_fhir_split_clear(&s);
    }
    mv_fhir_profiles_free(p);
}

/* ---- generated documents: the invariant on thousands of shapes ---- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const gen_keys[] = {"x", "y", "z", "w", "v", "id", "_x", "text", "a\\u0000", "\\ue000",
                                       "\\ud83d\\ude00", "code", "subject", "dispenseRequest", "validityPeriod",
                                       "quantity", "resource", "entry"};

static void gen_value(mv_buf *b, int depth);

static void gen_object(mv_buf *b, int depth, const char *rtype)
{
    size_t n = rnd() % 5;
    int used[sizeof gen_keys / sizeof *gen_keys] = {0};
    assert_int_equal(mv_buf_puts(b, "{"), MV_OK);
    if (rtype)
        assert_int_equal(mv_buf_printf(b, "\"resourceType\":\"%s\"%s", rtype, n ? "," : ""), MV_OK);
    for (size_t i = 0; i < n; i++) {
        size_t k = rnd() % (sizeof gen_keys / sizeof *gen_keys);
        if (used[k])
            continue;
        used[k] = 1;
        if (b->ptr[b->len - 1] != '{' && b->ptr[b->len - 1] != ',')
            assert_int_equal(mv_buf_puts(b, ","), MV_OK);
        assert_int_equal(mv_buf_printf(b, "\"%s\" : ", gen_keys[k]), MV_OK);
        gen_value(b, depth + 1);
    }
    if (b->ptr[b->len - 1] == ',')
        b->ptr[--b->len] = 0;
    assert_int_equal(mv_buf_puts(b, "}"), MV_OK);
}

static void gen_value(mv_buf *b, int depth)
{
    static const char *const scalars[] = {"1.50", "1e2", "-0", "null", "true", "\"s\"", "\"\\u00e9\\n\""};
    uint64_t r = rnd() % 10;
    if (depth > 4 || r < 3) {
        assert_int_equal(mv_buf_puts(b, scalars[rnd() % (sizeof scalars / sizeof *scalars)]), MV_OK);
    } else if (r < 8) {
        gen_object(b, depth, NULL);
    } else {
        size_t n = rnd() % 3;
        assert_int_equal(mv_buf_puts(b, "["), MV_OK);
        for (size_t i = 0; i < n; i++) {
            if (i)
                assert_int_equal(mv_buf_puts(b, ","), MV_OK);
            gen_value(b, depth + 1);
        }
        assert_int_equal(mv_buf_puts(b, "]"), MV_OK);
    }
}

static void test_generated_round_trips(void **state)
{
    (void)state;
    static const char *const types[] = {"MedicationRequest", "Observation", "T", "U", "Patient"};
    mv_fhir_profiles *custom = profiles_from(
        "{\"version\":1,\"default\":{\"envelope\":[\"x.y.z\",\"x.w\",\"dispenseRequest.validityPeriod\",\"v\"]},"
        "\"types\":{\"U\":{\"envelope\":[]},\"Patient\":{\"envelope\":\"*\"},"
        "\"Bundle\":{\"envelope\":[\"x\"]}}}");
    mv_fhir_profiles *dflt = profiles_default();
    size_t with_blocks = 0, bundles = 0;
    for (int iter = 0; iter < 3000; iter++) {
        mv_buf b;
        mv_buf_init(&b, CAP);
        int bundle = iter % 3 == 0;
        if (bundle) {
            size_t n = rnd() % 4;
            assert_int_equal(mv_buf_puts(&b, "{\"resourceType\":\"Bundle\",\"x\":{\"y\":1},\"entry\":["), MV_OK);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(mv_buf_puts(&b, i ? ",{\"fullUrl\":\"u\",\"resource\":" : "{\"resource\":"),
                                 MV_OK);
                gen_object(&b, 0, rnd() % 8 ? (rnd() % 6 ? types[rnd() % 5] : "Bundle") : NULL);
                assert_int_equal(mv_buf_puts(&b, "}"), MV_OK);
            }
            assert_int_equal(mv_buf_puts(&b, "]}"), MV_OK);
            bundles++;
        } else {
            gen_object(&b, 0, types[rnd() % 5]);
        }
        mv_json *doc = NULL;
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &doc, NULL), MV_OK);
        for (int which = 0; which < 2; which++) {
            mv_fhir_split s;
            mv_fhir_split_init(&s);
            assert_int_equal(mv_fhir_split_doc(which ? dflt : custom, doc, &s), MV_OK);
            expect_round_trip((const char *)b.ptr, b.len, &s);
            with_blocks += s.n_blocks > 0;
            mv_fhir_split_clear(&s);
        }
        mv_json_free(doc);
        mv_buf_clear(&b);
    }
    assert_int_equal(bundles, 1000);
    assert_true(with_blocks > 1000); /* the generator does exercise the content side */
    mv_fhir_profiles_free(custom);
    mv_fhir_profiles_free(dflt);
}

/* ---- profiles ---- */

static void test_profiles_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        mv_err rc;
    } bad[] = {
        {"", MV_ERR_PARSE},
        {"[]", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{},}", MV_ERR_PARSE},
        {"{\"default\":{\"envelope\":\"*\"},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":2,\"default\":{\"envelope\":\"*\"},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":\"1\",\"default\":{\"envelope\":\"*\"},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":[]}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{},\"extra\":0}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\",\"content\":[]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":\"*\",\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"all\"},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":1},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[1]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a..b\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\".a\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a.\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a b\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"1a\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a\",\"a\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a\",\"a.b\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a.b\",\"a\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a.b\",\"a.b\"]},\"types\":{}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{\"1x\":{\"envelope\":\"*\"}}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{\"Med-Req\":{\"envelope\":\"*\"}}}",
         MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{\"\":{\"envelope\":\"*\"}}}", MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{\"A\":{\"envelope\":\"*\"},"
         "\"A\":{\"envelope\":\"*\"}}}",
         MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{\"A\":{\"envelope\":[\"x\"],\"y\":1}}}",
         MV_ERR_PARSE},
        {"{\"version\":1,\"default\":{\"envelope\":[\"a.b.c.d.e.f.g.h.i\"]},\"types\":{}}", MV_ERR_TOO_LARGE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mv_fhir_profiles *p = (mv_fhir_profiles *)&p;
        mv_err rc = mv_fhir_profiles_parse(bad[i].text, strlen(bad[i].text), &p);
        if (rc != bad[i].rc)
            fail_msg("profile %zu: got %d, want %d", i, rc, bad[i].rc);
        assert_null(p);
    }
    /* One byte over the segment and type name caps. */
    char seg[MV_FHIR_PROFILE_MAX_NAME + 2], text[256];
    memset(seg, 'a', sizeof seg - 1);
    seg[sizeof seg - 1] = 0;
    mv_fhir_profiles *q = NULL;
    snprintf(text, sizeof text, "{\"version\":1,\"default\":{\"envelope\":[\"x.%s\"]},\"types\":{}}", seg);
    assert_int_equal(mv_fhir_profiles_parse(text, strlen(text), &q), MV_ERR_TOO_LARGE);
    snprintf(text, sizeof text, "{\"version\":1,\"default\":{\"envelope\":\"*\"},\"types\":{\"%s\":"
             "{\"envelope\":\"*\"}}}", seg);
    assert_int_equal(mv_fhir_profiles_parse(text, strlen(text), &q), MV_ERR_PARSE);
    assert_null(q);
    /* The limits themselves are accepted. */
    mv_fhir_profiles *p = profiles_from("{\"version\":1,\"default\":{\"envelope\":[\"a.b.c.d.e.f.g.h\","
                                        "\"a123456789012345678901234567890123456789012345678901234567890123\"]},"
                                        "\"types\":{\"Xy9\":{\"envelope\":[]}}}");
    mv_fhir_profiles_free(p);
    assert_int_equal(mv_fhir_profiles_parse(NULL, 1, &p), MV_ERR_INVAL);
    assert_int_equal(mv_fhir_profiles_parse("{}", 2, NULL), MV_ERR_INVAL);
}

static void test_profiles_load(void **state)
{
    (void)state;
    char path[512];
    const char *text = "{\"version\":1,\"default\":{\"envelope\":\"*\"},"
                       "\"types\":{\"Observation\":{\"envelope\":[\"subject\"]}}}";
    snprintf(path, sizeof path, "%s/profiles.json", tu_tmpdir());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    mv_fhir_profiles *p = NULL;
    assert_int_equal(mv_fhir_profiles_load(path, &p), MV_OK);
    /* This profile keeps only subject (and the base fields) in an Observation's envelope. */
    mv_fhir_split s;
    split_text(p, observation, &s);
    assert_int_equal(s.n_blocks, 1);
    assert_true(contains(&s.blocks[0], "\"issued\""));
    assert_false(contains(&s.blocks[0], "Patient/p-1"));
    mv_fhir_split_clear(&s);
    mv_fhir_profiles_free(p);
    snprintf(path, sizeof path, "%s/absent.json", tu_tmpdir());
    assert_int_equal(mv_fhir_profiles_load(path, &p), MV_ERR_NOT_FOUND);
    assert_null(p);
}

/* ---- hostile inputs ---- */

static void test_split_rejects(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_default();
    static const char *const bad[] = {"[1]", "{\"id\":\"x\"}", "{\"resourceType\":7}", "\"Patient\"",
                                      "{\"resourceType\":null}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mv_json *doc = parse(bad[i]);
        mv_fhir_split s;
        mv_fhir_split_init(&s);
        assert_int_equal(mv_fhir_split_doc(p, doc, &s), MV_ERR_PARSE);
        assert_int_equal(s.envelope.len, 0);
        assert_int_equal(s.n_blocks, 0);
        mv_json_free(doc);
    }
    mv_fhir_split s;
    mv_fhir_split_init(&s);
    assert_int_equal(mv_fhir_split_doc(NULL, NULL, &s), MV_ERR_INVAL);
    mv_fhir_profiles_free(p);
}

static mv_err join1(const char *env, const char *block, uint32_t slot, mv_buf *out)
{
    const uint8_t *bp[1] = {(const uint8_t *)block};
    size_t bl[1] = {block ? strlen(block) : 0};
    return mv_fhir_join((const uint8_t *)env, strlen(env), bp, bl, &slot, block ? 1 : 0, out);
}

static void test_join_rejects(void **state)
{
    (void)state;
    static const char bundle_env[] = "{\"entry\":[{\"resource\":{\"resourceType\":\"Patient\"}},{\"fullUrl\":\"u\"},"
                                     "{\"resource\":7}],\"resourceType\":\"Bundle\"}";
    static const struct {
        const char *env, *block;
        uint32_t slot;
    } bad[] = {
        {"{\"resourceType\":\"Observation\"}", "{\"resourceType\":\"Observation\"}", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\",\"code\":{\"text\":\"a\"}}", "{\"code\":{\"text\":\"b\"}}",
         MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\",\"code\":{\"text\":\"a\"}}", "{\"code\":5}", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\",\"code\":[1]}", "{\"code\":[2]}", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\",\"x\":{\"y\":{\"z\":1}}}", "{\"x\":{\"y\":{\"z\":{}}}}",
         MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "[1]", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "1", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "\"x\"", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "{\"a\":1,\"a\":2}", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "{\"a\":\"\x80\"}", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "", MV_FHIR_SLOT_ROOT},
        {"{\"resourceType\":\"Observation\"}", "{\"a\":1}", 0},
        {"{\"resourceType\":\"Observation\",\"entry\":[{\"resource\":{}}]}", "{\"a\":1}", 0},
        {bundle_env, "{\"a\":1}", 1},
        {bundle_env, "{\"a\":1}", 2},
        {bundle_env, "{\"a\":1}", 3},
        {bundle_env, "{\"a\":1}", MV_FHIR_SLOT_ROOT - 1},
        {bundle_env, "{\"resourceType\":\"X\"}", 0},
        {bundle_env, "{\"entry\":[]}", MV_FHIR_SLOT_ROOT},
        {"{\"id\":\"x\"}", NULL, 0},
        {"[]", NULL, 0},
        {"", NULL, 0},
        {"{\"resourceType\":\"Observation\"} x", NULL, 0},
    };
    mv_buf out;
    mv_buf_init(&out, CAP);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mv_buf_reset(&out);
        assert_int_equal(mv_buf_puts(&out, "kept"), MV_OK);
        mv_err rc = join1(bad[i].env, bad[i].block, bad[i].slot, &out);
        if (rc != MV_ERR_PARSE)
            fail_msg("join case %zu: got %d, want MV_ERR_PARSE", i, rc);
        expect_bytes(&out, "kept");
    }
    /* The same slot twice, even with disjoint keys. */
    const uint8_t *bp[2] = {(const uint8_t *)"{\"a\":1}", (const uint8_t *)"{\"b\":1}"};
    size_t bl[2] = {7, 7};
    uint32_t sl[2] = {MV_FHIR_SLOT_ROOT, MV_FHIR_SLOT_ROOT};
    const char *env = "{\"resourceType\":\"Observation\"}";
    assert_int_equal(mv_fhir_join((const uint8_t *)env, strlen(env), bp, bl, sl, 2, &out), MV_ERR_PARSE);
    sl[1] = 0;
    assert_int_equal(mv_fhir_join((const uint8_t *)env, strlen(env), bp, bl, sl, 2, &out), MV_ERR_PARSE);
    /* A good join for contrast, and a full output buffer. */
    mv_buf_reset(&out);
    assert_int_equal(join1(bundle_env, "{\"code\":{\"text\":\"c\"}}", 0, &out), MV_OK);
    expect_bytes(&out, "{\"entry\":[{\"resource\":{\"code\":{\"text\":\"c\"},\"resourceType\":\"Patient\"}},"
                       "{\"fullUrl\":\"u\"},{\"resource\":7}],\"resourceType\":\"Bundle\"}");
    mv_buf small;
    mv_buf_init(&small, 10);
    assert_int_equal(join1(bundle_env, "{\"code\":{\"text\":\"c\"}}", 0, &small), MV_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    mv_buf_clear(&small);
    /* NULL arguments. */
    assert_int_equal(mv_fhir_join(NULL, 5, NULL, NULL, NULL, 0, &out), MV_ERR_INVAL);
    assert_int_equal(mv_fhir_join((const uint8_t *)env, strlen(env), NULL, bl, sl, 1, &out), MV_ERR_INVAL);
    assert_int_equal(mv_fhir_join((const uint8_t *)env, strlen(env), NULL, NULL, NULL, 0, NULL), MV_ERR_INVAL);
    const uint8_t *nullblock[1] = {NULL};
    assert_int_equal(mv_fhir_join((const uint8_t *)env, strlen(env), nullblock, bl, sl, 1, &out), MV_ERR_INVAL);
    mv_buf_clear(&out);
}

/* Every allocation of split and join fails in turn: a clean MV_ERR_NOMEM, nothing leaked
 * (ASan), and the output empty / unchanged. */
static void test_allocation_failures(void **state)
{
    (void)state;
    mv_fhir_profiles *p = profiles_default();
    mv_buf bundle;
    mv_buf_init(&bundle, CAP);
    assert_int_equal(mv_buf_printf(&bundle, "{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":%s},"
                                            "{\"resource\":%s},{\"resource\":%s}]}",
                                   mr_a, observation, mr_b),
                     MV_OK);
    mv_json *doc = parse((const char *)bundle.ptr);
    mv_fhir_split good;
    mv_fhir_split_init(&good);
    assert_int_equal(mv_fhir_split_doc(p, doc, &good), MV_OK);
    size_t split_failures = 0, join_failures = 0;
    for (size_t n = 0;; n++) {
        mv_fhir_split s;
        mv_fhir_split_init(&s);
        mv_mem_fail_after(n);
        mv_err rc = mv_fhir_split_doc(p, doc, &s);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_int_equal(s.n_blocks, 3);
            mv_fhir_split_clear(&s);
            break;
        }
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_int_equal(s.envelope.len, 0);
        assert_int_equal(s.n_blocks, 0);
        split_failures++;
    }
    const uint8_t *bp[3];
    size_t bl[3];
    for (size_t i = 0; i < 3; i++) {
        bp[i] = good.blocks[i].ptr;
        bl[i] = good.blocks[i].len;
    }
    for (size_t n = 0;; n++) {
        mv_buf out;
        mv_buf_init(&out, CAP);
        mv_mem_fail_after(n);
        mv_err rc = mv_fhir_join(good.envelope.ptr, good.envelope.len, bp, bl, good.slots, 3, &out);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            mv_buf_clear(&out);
            break;
        }
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_int_equal(out.len, 0);
        join_failures++;
        mv_buf_clear(&out);
    }
    assert_true(split_failures >= 5);
    assert_true(join_failures >= 5);
    mv_fhir_profiles *q = NULL;
    for (size_t n = 0;; n++) {
        mv_mem_fail_after(n);
        mv_err rc = mv_fhir_profiles_default(&q);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK)
            break;
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_null(q);
    }
    mv_fhir_profiles_free(q);
    mv_fhir_split_clear(&good);
    mv_json_free(doc);
    mv_buf_clear(&bundle);
    mv_fhir_profiles_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_medication_request), cmocka_unit_test(test_patient_and_unknown_type),
        cmocka_unit_test(test_observation),        cmocka_unit_test(test_every_profiled_type),
        cmocka_unit_test(test_bundle),             cmocka_unit_test(test_bundle_many),             cmocka_unit_test(test_dotted_paths),
        cmocka_unit_test(test_generated_round_trips), cmocka_unit_test(test_profiles_rejected),
        cmocka_unit_test(test_profiles_load),      cmocka_unit_test(test_split_rejects),
        cmocka_unit_test(test_join_rejects),       cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
