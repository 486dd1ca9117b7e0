/* test_ui_fhir.c - the local UI's readable FHIR summaries (src/client/ui_fhir.c): each FHIR R4
 * datatype written as text (R4 section 2.24 "Data Types": CodeableConcept, Quantity, Period,
 * Range, Ratio, HumanName, Identifier, ContactPoint, Reference), the per-type views and the
 * generic one, HTML escaping of every value, the cut of a long value at a UTF-8 boundary, and
 * hostile nesting. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "client/ui_internal.h"
#include "medvault/mv_json.h"

/* The summary table of json, NUL-terminated, into out. */
static void render(const char *json, char *out, size_t cap)
{
    struct ui u;
    struct req q;
    mv_buf b;
    mv_json *doc = NULL;
    memset(&u, 0, sizeof u); /* no client: references are shown as written */
    memset(&q, 0, sizeof q);
    q.u = &u;
    mv_buf_init(&b, (size_t)1 << 20);
    mv_hw_init(&q.w, &b);
    assert_int_equal(mv_json_parse(json, strlen(json), NULL, &doc, NULL), MV_OK);
    mvc_ui_fhir_summary(&q, doc);
    assert_int_equal(mv_hw_finish(&q.w), MV_OK);
    assert_true(b.len < cap);
    memcpy(out, b.ptr, b.len);
    out[b.len] = 0;
    mv_json_free(doc);
    mv_buf_clear(&b);
}

#define HAS(page, s)                                                                                                   \
    do {                                                                                                               \
        if (!strstr(page, s))                                                                                          \
            fail_msg("missing %s in %s", s, page);                                                                     \
    } while (0)
#define LACKS(page, s)                                                                                                 \
    do {                                                                                                               \
        if (strstr(page, s))                                                                                           \
            fail_msg("unexpected %s in %s", s, page);                                                                  \
    } while (0)

static char page[1 << 16];

static void test_observation(void **state)
{
    render("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
           "\"code\":\"4548-4\",\"display\":\"Hemoglobin A1c\"}]},\"valueQuantity\":{\"value\":7.2,\"unit\":\"%\"},"
           "\"effectiveDateTime\":\"2021-03-04\",\"interpretation\":[{\"coding\":[{\"code\":\"H\",\"display\":\"High\"}]}],"
           "\"subject\":{\"reference\":\"Patient/p1\"}}",
           page, sizeof page);
    HAS(page, "<tr><th>Code</th><td>Hemoglobin A1c</td></tr>");
    HAS(page, "<tr><th>Value</th><td>7.2 %</td></tr>");
    HAS(page, "<tr><th>Effective</th><td>2021-03-04</td></tr>");
    HAS(page, "<tr><th>Status</th><td>final</td></tr>");
    HAS(page, "<tr><th>Interpretation</th><td>High</td></tr>");
    HAS(page, "<tr><th>Patient</th><td>Patient/p1</td></tr>");
    LACKS(page, "<th>Components</th>"); /* absent fields have no row */

    /* No unit: no trailing space. Components: "code: value", "; " between. A code with only a
     * text. A comparator. */
    render("{\"resourceType\":\"Observation\",\"valueQuantity\":{\"value\":5},\"component\":[{\"code\":{\"text\":"
           "\"Systolic\"},\"valueQuantity\":{\"value\":120,\"unit\":\"mmHg\"}},{\"code\":{\"text\":\"Diastolic\"},"
           "\"valueQuantity\":{\"value\":80,\"comparator\":\"<\",\"code\":\"mm[Hg]\"}}]}",
           page, sizeof page);
    HAS(page, "<tr><th>Value</th><td>5</td></tr>");
    HAS(page, "<tr><th>Components</th><td>Systolic: 120 mmHg; Diastolic: &lt;80 mm[Hg]</td></tr>");
}

static void test_datatypes(void **state)
{
    render("{\"resourceType\":\"Patient\",\"name\":[{\"prefix\":[\"Dr.\"],\"given\":[\"Ada\",\"B.\"],\"family\":"
           "\"Lovelace\"}],\"gender\":\"female\",\"birthDate\":\"1815-12-10\",\"identifier\":[{\"system\":"
           "\"urn:medvault:mrn\",\"value\":\"MRN-1\"},{\"value\":\"x\"},{\"type\":{\"text\":\"Passport\"},\"value\":\"P9\"}],"
           "\"telecom\":[{\"system\":\"phone\",\"value\":\"555\"}],\"address\":[{\"line\":[\"1 Main St\"],\"city\":"
           "\"Boston\",\"country\":\"US\"}]}",
           page, sizeof page);
    HAS(page, "<tr><th>Name</th><td>Dr. Ada B. Lovelace</td></tr>");
    HAS(page, "<tr><th>Gender</th><td>female</td></tr>");
    HAS(page, "<tr><th>Birth date</th><td>1815-12-10</td></tr>");
    HAS(page, "<tr><th>Identifiers</th><td>MRN-1 (urn:medvault:mrn); x; P9 (Passport)</td></tr>");
    HAS(page, "<tr><th>Telecom</th><td>555 (phone)</td></tr>");
    HAS(page, "<tr><th>Address</th><td>1 Main St, Boston, US</td></tr>");

    /* Period (open end), Range, Ratio, Coding, a Reference's display, a boolean, empty elements. */
    render("{\"resourceType\":\"Encounter\",\"period\":{\"start\":\"2020-01-01\"},\"class\":{\"system\":\"s\",\"code\":"
           "\"AMB\"},\"type\":[{},{\"text\":\"Check-up\"},{}],\"serviceProvider\":{\"reference\":\"Organization/1\","
           "\"display\":\"Clinic\"}}",
           page, sizeof page);
    HAS(page, "<tr><th>Period</th><td>2020-01-01 \xe2\x80\x93 ongoing</td></tr>");
    HAS(page, "<tr><th>Class</th><td>AMB</td></tr>");
    HAS(page, "<tr><th>Type</th><td>Check-up</td></tr>");
    HAS(page, "<tr><th>Service provider</th><td>Clinic</td></tr>");
    render("{\"resourceType\":\"Observation\",\"valueRange\":{\"low\":{\"value\":1,\"unit\":\"g\"},\"high\":{\"value\":2,"
           "\"unit\":\"g\"}},\"referenceRange\":[{\"low\":{\"value\":0}}]}",
           page, sizeof page);
    HAS(page, "<tr><th>Value</th><td>1 g \xe2\x80\x93 2 g</td></tr>");
    render("{\"resourceType\":\"Observation\",\"valueRatio\":{\"numerator\":{\"value\":1},\"denominator\":{\"value\":"
           "128}},\"effectivePeriod\":{\"start\":\"a\",\"end\":\"b\"}}",
           page, sizeof page);
    HAS(page, "<tr><th>Value</th><td>1 / 128</td></tr>");
    HAS(page, "<tr><th>Effective</th><td>a \xe2\x80\x93 b</td></tr>");
    render("{\"resourceType\":\"Immunization\",\"primarySource\":false,\"vaccineCode\":{\"text\":\"Td\"}}", page,
           sizeof page);
    HAS(page, "<tr><th>Primary source</th><td>no</td></tr>");
    HAS(page, "<tr><th>Vaccine</th><td>Td</td></tr>");
}

/* Every value is escaped; a type without a view shows its members, not its machinery. */
static void test_generic_and_escaping(void **state)
{
    render("{\"resourceType\":\"Organization\",\"id\":\"o1\",\"meta\":{\"versionId\":\"1\"},\"text\":{\"div\":\"<div/>\"},"
           "\"extension\":[{\"url\":\"u\"}],\"_name\":{\"id\":\"n\"},\"active\":true,\"name\":\"A <b>&</b> 'B'\","
           "\"partOf\":{\"reference\":\"Organization/2\"},\"contact\":[{\"purpose\":{\"text\":\"Billing\"},\"telecom\":"
           "[{\"system\":\"email\",\"value\":\"a@b\"}]}]}",
           page, sizeof page);
    HAS(page, "<tr><th>Active</th><td>yes</td></tr>");
    HAS(page, "<tr><th>Name</th><td>A &lt;b&gt;&amp;&lt;/b&gt; &#39;B&#39;</td></tr>");
    HAS(page, "<tr><th>Part of</th><td>Organization/2</td></tr>");
    HAS(page, "<tr><th>Contact</th><td>Purpose: Billing, Telecom: a@b (email)</td></tr>");
    LACKS(page, "<b>");
    LACKS(page, "<div");
    LACKS(page, ">Meta<");
    LACKS(page, ">Extension<");
    LACKS(page, ">Id<");
    LACKS(page, "_name");
}

/* A long value is cut at a UTF-8 boundary with an ellipsis; deep nesting ends in one. */
static void test_bounds(void **state)
{
    static char json[16384];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"resourceType\":\"Condition\",\"code\":{\"text\":\"x");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "\xc3\xa9"); /* 2 bytes each: 6 KB */
    snprintf(json + n, sizeof json - n, "\"}}");
    render(json, page, sizeof page);
    const char *cell = strstr(page, "<th>Code</th><td>");
    assert_non_null(cell);
    cell += strlen("<th>Code</th><td>");
    const char *end = strstr(cell, "</td>");
    assert_non_null(end);
    assert_true((size_t)(end - cell) < 2048);
    assert_memory_equal(end - 3, "\xe2\x80\xa6", 3);
    assert_memory_equal(end - 5, "\xc3\xa9", 2); /* the last whole character before the ellipsis */
    LACKS(page, "\xef\xbf\xbd"); /* no U+FFFD: nothing was cut inside a character */

    n = (size_t)snprintf(json, sizeof json, "{\"resourceType\":\"Thing\",\"a\":");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "{\"a\":");
    n += (size_t)snprintf(json + n, sizeof json - n, "1");
    for (int i = 0; i < 61; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "}");
    render(json, page, sizeof page);
    HAS(page, "<tr><th>A</th><td>A: A: A: A: \xe2\x80\xa6</td></tr>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observation),
        cmocka_unit_test(test_datatypes),
        cmocka_unit_test(test_generic_and_escaping),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
