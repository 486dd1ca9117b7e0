/* test_canon.c - canonical JSON (mv_canon.h): RFC 8785 section 3.2.3 member order by UTF-16
 * code units, section 3.2.2.2 string escaping, number lexemes kept (our deviation), rejection
 * of what mv_json_parse rejects, idempotence, and all-or-nothing output. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_canon.h"
#include "medvault/mv_mem.h"

#define CAP ((size_t)1 << 20)

/* Canonicalises text (a C string) and checks the result equals want exactly. */
static void expect_canon(const char *text, const char *want)
{
    mv_buf b;
    size_t off = 99;
    mv_buf_init(&b, CAP);
    assert_int_equal(mv_canon(text, strlen(text), NULL, &b, &off), MV_OK);
    assert_int_equal(off, 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
    mv_buf_clear(&b);
}

static void expect_reject(const char *text, size_t len, mv_err want_rc, size_t want_off)
{
    mv_buf b;
    size_t off = 0;
    mv_buf_init(&b, CAP);
    assert_int_equal(mv_canon(text, len, NULL, &b, &off), want_rc);
    assert_int_equal(off, want_off);
    assert_int_equal(b.len, 0);
    mv_buf_clear(&b);
}

/* U+E000 is EE 80 80 in UTF-8 and E000 in UTF-16; U+1F600 is F0 9F 98 80 and D83D DE00. So the
 * byte (and code point) order puts U+E000 first, the UTF-16 order of RFC 8785 U+1F600. */
static void test_utf16_order(void **state)
{
    (void)state;
    expect_canon("{\"\\ue000\":1,\"\\ud83d\\ude00\":2}", "{\"\xf0\x9f\x98\x80\":2,\"\xee\x80\x80\":1}");
    /* The same keys given as raw UTF-8, in the other order. */
    expect_canon("{\"\xf0\x9f\x98\x80\":2,\"\xee\x80\x80\":1}", "{\"\xf0\x9f\x98\x80\":2,\"\xee\x80\x80\":1}");
    /* Below U+D800 the UTF-16 and byte orders agree: U+00FF < U+0100 < U+D7FF. */
    expect_canon("{\"\\ud7ff\":0,\"\\u0100\":0,\"\\u00ff\":0}", "{\"\xc3\xbf\":0,\"\xc4\x80\":0,\"\xed\x9f\xbf\":0}");
    /* Two supplementary characters compare by their surrogate pairs: U+10000 < U+10FFFF. */
    expect_canon("{\"\\udbff\\udfff\":1,\"\\ud800\\udc00\":0}",
                 "{\"\xf0\x90\x80\x80\":0,\"\xf4\x8f\xbf\xbf\":1}");
}

/* RFC 8785 section 3.2.3: the example's property names, whose sorted order is
 * "\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33". */
static void test_rfc8785_sort_example(void **state)
{
    (void)state;
    expect_canon("{\n  \"\\u20ac\": \"Euro Sign\",\n  \"\\r\": \"Carriage Return\",\n"
                 "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n  \"1\": \"One\",\n"
                 "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n  \"\\u0080\": \"Control\",\n"
                 "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n}",
                 "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
                 "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
                 "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
                 "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

/* Keys may contain NUL (escaped as \u0000): the full length counts, and a prefix sorts first. */
static void test_keys_with_nul(void **state)
{
    (void)state;
    expect_canon("{\"a\\u0000b\":1,\"a\\u0000\":2,\"a\":3,\"\":4}",
                 "{\"\":4,\"a\":3,\"a\\u0000\":2,\"a\\u0000b\":1}");
}

/* RFC 8785 section 3.2.2.2: \b \t \n \f \r \" \\ short, other C0 controls \u00xx lowercase,
 * everything else (including '/', DEL, non-ASCII given as escapes) verbatim UTF-8. */
static void test_escaping(void **state)
{
    (void)state;
    expect_canon("[\"\\u0041\\/\\u00E9\\u001F\\u0008\\t\\n\\u000c\\r\\\"\\\\\\u007f\\u0000\"]",
                 "[\"A/\xc3\xa9\\u001f\\b\\t\\n\\f\\r\\\"\\\\\x7f\\u0000\"]");
    expect_canon("\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"",
                 "\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
}

/* Our deviation from RFC 8785 section 3.2.2.3: numbers keep their lexeme. */
static void test_number_lexemes(void **state)
{
    (void)state;
    expect_canon("[1.50, 1e2, 1E+02, -0, 0.000, 4.50, 2e-3, 333333333.33333329, 18446744073709551617]",
                 "[1.50,1e2,1E+02,-0,0.000,4.50,2e-3,333333333.33333329,18446744073709551617]");
    expect_canon("{\"valueQuantity\" : { \"value\" : 1.50 , \"unit\" : \"mg\" }}",
                 "{\"valueQuantity\":{\"unit\":\"mg\",\"value\":1.50}}");
}

static void test_literals_and_containers(void **state)
{
    (void)state;
    expect_canon(" [ null , true , false , { } , [ ] , \"\" ] ", "[null,true,false,{},[],\"\"]");
    expect_canon("{\"z\":{\"z\":1,\"a\":2},\"a\":[{\"b\":1,\"a\":2},3]}",
                 "{\"a\":[{\"a\":2,\"b\":1},3],\"z\":{\"a\":2,\"z\":1}}");
    expect_canon("7", "7");
}

/* The parser's rejections surface with the offset where parsing stopped. */
static void test_rejects(void **state)
{
    (void)state;
    /* Duplicate key: the parser notices when the object closes, just past its '}'. */
    expect_reject("{\"a\":1,\"a\":2}", 13, MV_ERR_PARSE, 13);
    /* Duplicates spelled differently are still duplicates. */
    expect_reject("{\"a\":1,\"\\u0061\":2}", 18, MV_ERR_PARSE, 18);
    /* Invalid UTF-8: a lone continuation byte inside a string at offset 7. */
    expect_reject("{\"a\":\"x\x80\"}", 10, MV_ERR_PARSE, 7);
    /* An overlong encoding of '/' in a key. */
    expect_reject("{\"\xc0\xaf\":1}", 8, MV_ERR_PARSE, 2);
    /* A lone surrogate escape. */
    expect_reject("[\"\\ud800\"]", 10, MV_ERR_PARSE, 2);
    expect_reject("{\"a\":1,}", 8, MV_ERR_PARSE, 7);
    expect_reject("", 0, MV_ERR_PARSE, 0);
    /* The depth limit (too deep is malformed, not too large: mv_json.h). */
    mv_buf b;
    size_t off = 0;
    const mv_json_limits lim = {0, 3, 0};
    mv_buf_init(&b, CAP);
    assert_int_equal(mv_canon("[[[[1]]]]", 9, &lim, &b, &off), MV_ERR_PARSE);
    assert_int_equal(off, 3);
    assert_int_equal(b.len, 0);
    assert_int_equal(mv_canon(NULL, 1, NULL, &b, &off), MV_ERR_INVAL);
    assert_int_equal(mv_canon("1", 1, NULL, NULL, &off), MV_ERR_INVAL);
    assert_int_equal(mv_canon_write(&b, NULL), MV_ERR_INVAL);
    mv_buf_clear(&b);
}

static const char *const samples[] = {
    "{\"resourceType\":\"MedicationRequest\",\"id\":\"rx1\",\"dosageInstruction\":[{\"text\":\"1 tab\","
    "\"doseAndRate\":[{\"doseQuantity\":{\"value\":1.0,\"unit\":\"tab\"}}]}],\"\\u00e9\":\"\\u001f\"}",
    "{\"\\ufb33\":1,\"\\ud83d\\ude00\":2,\"\\u20ac\":[3,{\"\\u0080\":4,\"\\r\":5}]}",
    "[1.50,1e2,{\"b\":null,\"a\":true},[],{},\"\\\\\\\"\"]",
    "\"plain\"",
};

/* canon(canon(x)) == canon(x), and the output parses. */
static void test_idempotent(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        mv_buf a, b;
        mv_buf_init(&a, CAP);
        mv_buf_init(&b, CAP);
        assert_int_equal(mv_canon(samples[i], strlen(samples[i]), NULL, &a, NULL), MV_OK);
        assert_int_equal(mv_canon((const char *)a.ptr, a.len, NULL, &b, NULL), MV_OK);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.ptr, b.ptr, a.len);
        mv_buf_clear(&a);
        mv_buf_clear(&b);
    }
}

/* Two exporters: different whitespace, member order and escapes, the same bytes out. */
static void test_exporters_agree(void **state)
{
    (void)state;
    const char *x = "{\"resourceType\":\"Observation\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
                    "\"code\":\"2339-0\"}]},\"valueQuantity\":{\"value\":5.40,\"unit\":\"mmol/L\"},"
                    "\"note\":[{\"text\":\"caf\xc3\xa9\"}]}";
    const char *y = "{\n  \"valueQuantity\": {\"unit\": \"mmol\\/L\", \"value\": 5.40},\n"
                    "  \"note\": [ { \"text\": \"caf\\u00e9\" } ],\r\n"
                    "  \"code\" : {\"coding\" :[{\"code\":\"2339-0\",\"system\":\"http:\\/\\/loinc.org\"}]},\n"
                    "\t\"resourceType\": \"Observation\"\n}\n";
    mv_buf a, b;
    mv_buf_init(&a, CAP);
    mv_buf_init(&b, CAP);
    assert_int_equal(mv_canon(x, strlen(x), NULL, &a, NULL), MV_OK);
    assert_int_equal(mv_canon(y, strlen(y), NULL, &b, NULL), MV_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    const char *head = "{\"code\":{\"coding\":[{\"code\":\"2339-0\",\"system\":\"http://loinc.org\"}]},";
    assert_memory_equal(a.ptr, head, strlen(head));
    mv_buf_clear(&a);
    mv_buf_clear(&b);
}

/* Appends are all or nothing: a full buffer or a failed allocation leaves out as it was. */
static void test_all_or_nothing(void **state)
{
    (void)state;
    const char *x = samples[0];
    mv_buf full, b;
    mv_buf_init(&full, CAP);
    assert_int_equal(mv_canon(x, strlen(x), NULL, &full, NULL), MV_OK);
    mv_buf_init(&b, 2 + full.len - 1);
    assert_int_equal(mv_buf_append(&b, "xy", 2), MV_OK);
    assert_int_equal(mv_canon(x, strlen(x), NULL, &b, NULL), MV_ERR_TOO_LARGE);
    assert_int_equal(b.len, 2);
    assert_int_equal(b.ptr[2], 0);
    mv_buf_clear(&b);

    mv_json *root = NULL;
    assert_int_equal(mv_json_parse(x, strlen(x), NULL, &root, NULL), MV_OK);
    size_t failures = 0;
    for (size_t n = 0;; n++) {
        mv_buf_init(&b, CAP);
        assert_int_equal(mv_buf_append(&b, "xy", 2), MV_OK);
        mv_mem_fail_after(n);
        mv_err rc = mv_canon_write(&b, root);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_int_equal(b.len, 2 + full.len);
            assert_memory_equal(b.ptr + 2, full.ptr, full.len);
            mv_buf_clear(&b);
            break;
        }
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_int_equal(b.len, 2);
        failures++;
        mv_buf_clear(&b);
    }
    assert_true(failures >= 3); /* stack, member arrays and buffer growth all allocate */
    mv_json_free(root);
    mv_buf_clear(&full);
}

/* The writer does not recurse: a tree as deep as a generous parse limit allows is fine. */
static void test_deep(void **state)
{
    (void)state;
    enum { D = 20000 };
    char *t = mv_malloc(6 * D + 8);
    assert_non_null(t);
    size_t n = 0;
    for (int i = 0; i < D; i++) {
        memcpy(t + n, "{\"a\":", 5);
        n += 5;
    }
    t[n++] = '1';
    memset(t + n, '}', D);
    n += D;
    const mv_json_limits lim = {0, D + 1, 0};
    mv_buf b;
    mv_buf_init(&b, CAP);
    assert_int_equal(mv_canon(t, n, &lim, &b, NULL), MV_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.ptr, t, n);
    mv_buf_clear(&b);
    mv_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf16_order),     cmocka_unit_test(test_rfc8785_sort_example),
        cmocka_unit_test(test_keys_with_nul),   cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_number_lexemes),  cmocka_unit_test(test_literals_and_containers),
        cmocka_unit_test(test_rejects),         cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_exporters_agree), cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
