/* test_fhir_facts.c - a resource's identity and search facts (mv_fhir_facts_of), FHIR ids, and
 * restamping meta.versionId / meta.lastUpdated (mv_fhir_restamp); docs/fhir.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "medvault/mv_fhir.h"

static mv_json *parse(const char *s)
{
    mv_json *doc = NULL;
    assert_int_equal(mv_json_parse(s, strlen(s), NULL, &doc, NULL), MV_OK);
    return doc;
}

static void test_ids(void **state)
{
    (void)state;
    assert_true(mv_fhir_id_ok("abc-1.2", 7));
    assert_true(mv_fhir_id_ok("0123456789012345678901234567890123456789012345678901234567890123", 64));
    assert_false(mv_fhir_id_ok("01234567890123456789012345678901234567890123456789012345678901234", 65));
    assert_false(mv_fhir_id_ok("", 0));
    assert_false(mv_fhir_id_ok("a/b", 3));
    assert_false(mv_fhir_id_ok("a_b", 3));
    assert_false(mv_fhir_id_ok("a b", 3));
    assert_false(mv_fhir_id_ok("a\0b", 3));
}

static void test_observation(void **state)
{
    (void)state;
    mv_fhir_facts f;
    mv_json *doc = parse("{\"resourceType\":\"Observation\",\"id\":\"o-1\",\"meta\":{\"versionId\":\"3\","
                         "\"lastUpdated\":\"2026-01-02T03:04:05.678Z\"},\"status\":\"final\",\"code\":{\"coding\":"
                         "[{\"system\":\"http://loinc.org\",\"code\":\"8867-4\",\"display\":\"Heart rate\"}]},"
                         "\"subject\":{\"reference\":\"Patient/p-9\"},\"effectivePeriod\":{\"start\":\"2025-05-06\"}}");
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_OK);
    assert_string_equal(f.type, "Observation");
    assert_string_equal(f.id, "o-1");
    assert_false(f.id_invalid);
    assert_string_equal(f.version_id, "3");
    assert_string_equal(f.last_updated, "2026-01-02T03:04:05.678Z");
    assert_string_equal(f.patient, "Patient/p-9");
    assert_string_equal(f.date, "2025-05-06");
    assert_string_equal(f.code, "http://loinc.org|8867-4");
    assert_string_equal(f.display, "Heart rate");
    assert_string_equal(f.status, "final");
    assert_int_equal(f.n_identifiers, 0);
    mv_json_free(doc);
}

static void test_patient_and_others(void **state)
{
    (void)state;
    mv_fhir_facts f;
    mv_json *doc = parse("{\"resourceType\":\"Patient\",\"id\":\"p-9\",\"birthDate\":\"1970-01-01\","
                         "\"name\":[{\"family\":\"Doe\",\"given\":[\"Jane\",\"Q\"]}],\"identifier\":["
                         "{\"system\":\"urn:medvault:mrn\",\"value\":\"MRN-000123\"},{\"value\":\"no-system\"},"
                         "{\"system\":\"http://x\",\"value\":\"v\"}]}");
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_OK);
    assert_string_equal(f.patient, "Patient/p-9"); /* a Patient is about itself */
    assert_string_equal(f.display, "Jane Doe");
    assert_string_equal(f.date, "1970-01-01");
    assert_int_equal(f.n_identifiers, 2); /* the one without a system is not a link */
    assert_string_equal(f.identifiers[0].system, "urn:medvault:mrn");
    assert_string_equal(f.identifiers[0].value, "MRN-000123");
    mv_json_free(doc);

    /* A medication's code; a condition's clinical status; an id that is not a FHIR id. */
    doc = parse("{\"resourceType\":\"MedicationRequest\",\"id\":\"bad id\",\"medicationCodeableConcept\":{\"text\":"
                "\"Amlodipine\"},\"patient\":{\"reference\":\"urn:uuid:1\"},\"authoredOn\":\"2026-02-03\"}");
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_OK);
    assert_true(f.id_invalid);
    assert_string_equal(f.id, "");
    assert_string_equal(f.display, "Amlodipine");
    assert_string_equal(f.code, "");
    assert_string_equal(f.patient, "urn:uuid:1");
    assert_string_equal(f.date, "2026-02-03");
    mv_json_free(doc);
    doc = parse("{\"resourceType\":\"Condition\",\"clinicalStatus\":{\"coding\":[{\"code\":\"active\"}]}}");
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_OK);
    assert_string_equal(f.status, "active");
    assert_string_equal(f.id, "");
    assert_false(f.id_invalid);
    mv_json_free(doc);

    /* Not a resource. */
    doc = parse("{\"id\":\"x\"}");
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_ERR_PARSE);
    mv_json_free(doc);
    doc = parse("[1]");
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_ERR_PARSE);
    mv_json_free(doc);
}

/* A display longer than its room is cut at a character boundary; a reference longer than its
 * room is not searchable at all (empty), never cut. */
static void test_caps(void **state)
{
    (void)state;
    char text[1200], ref[400];
    size_t at = 0;
    at += (size_t)snprintf(text, sizeof text, "{\"resourceType\":\"Observation\",\"code\":{\"text\":\"");
    for (int i = 0; i < 150; i++)
        at += (size_t)snprintf(text + at, sizeof text - at, "\xc3\xa9"); /* é: 2 bytes */
    memset(ref, 'a', 300);
    ref[300] = 0;
    snprintf(text + at, sizeof text - at, "\"},\"subject\":{\"reference\":\"Patient/%s\"}}", ref);
    mv_fhir_facts f;
    mv_json *doc = parse(text);
    assert_int_equal(mv_fhir_facts_of(doc, &f), MV_OK);
    size_t dl = strlen(f.display);
    assert_true(dl < MV_FHIR_FACT_MAX && dl % 2 == 0 && dl >= MV_FHIR_FACT_MAX - 2);
    assert_string_equal(f.patient, "");
    mv_json_free(doc);
}

static void restamp(const char *in, const char *vid, const char *lu, const char *want)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    mv_json *doc = parse(in);
    assert_int_equal(mv_fhir_restamp(doc, vid, lu, &b), MV_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
    mv_json_free(doc);
    mv_buf_clear(&b);
}

static void test_restamp(void **state)
{
    (void)state;
    /* Replaced, other meta members kept, the whole canonical (number lexemes kept). */
    restamp("{\"resourceType\":\"X\",\"v\":1.50,\"meta\":{\"versionId\":\"7\",\"profile\":[\"p\"],\"lastUpdated\":\"old\"}}",
            "8", "2026-01-01T00:00:00.000Z",
            "{\"meta\":{\"lastUpdated\":\"2026-01-01T00:00:00.000Z\",\"profile\":[\"p\"],\"versionId\":\"8\"},"
            "\"resourceType\":\"X\",\"v\":1.50}");
    /* No meta before: one is added. */
    restamp("{\"resourceType\":\"X\"}", "1", "t", "{\"meta\":{\"lastUpdated\":\"t\",\"versionId\":\"1\"},\"resourceType\":\"X\"}");
    /* Versionless: both removed, and a meta left empty goes too; other members stay. */
    restamp("{\"resourceType\":\"X\",\"meta\":{\"versionId\":\"7\",\"lastUpdated\":\"t\"}}", NULL, NULL,
            "{\"resourceType\":\"X\"}");
    restamp("{\"resourceType\":\"X\",\"meta\":{\"versionId\":\"7\",\"tag\":[]}}", NULL, NULL,
            "{\"meta\":{\"tag\":[]},\"resourceType\":\"X\"}");
    /* Two versions of the same content are versionless-equal. */
    restamp("{\"b\":2,\"a\":1,\"meta\":{\"versionId\":\"1\"}}", NULL, NULL, "{\"a\":1,\"b\":2}");
    restamp("{\"a\":1,\"b\":2,\"meta\":{\"versionId\":\"2\",\"lastUpdated\":\"z\"}}", NULL, NULL, "{\"a\":1,\"b\":2}");

    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    mv_json *doc = parse("{\"meta\":7}");
    assert_int_equal(mv_fhir_restamp(doc, "1", "t", &b), MV_ERR_PARSE);
    assert_int_equal(b.len, 0);
    mv_json_free(doc);
    doc = parse("[]");
    assert_int_equal(mv_fhir_restamp(doc, "1", "t", &b), MV_ERR_PARSE);
    mv_json_free(doc);
    mv_buf_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_observation),
        cmocka_unit_test(test_patient_and_others),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_restamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
