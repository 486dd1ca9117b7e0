/* test_json.c - mv_json: the strict RFC 8259 parser, its caps and accessors, and the
 * RFC 8785 (section 3.2.2.2) string escaping of the writers. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* Parses text[0..len) with lim; returns the code; frees the tree. */
static mv_err parse_rc(const char *text, size_t len, const mv_json_limits *lim, size_t *off)
{
    mv_json *root = (mv_json *)(uintptr_t)1;
    size_t o = 12345;
    mv_err rc = mv_json_parse(text, len, lim, &root, &o);
    if (rc != MV_OK)
        assert_null(root);
    else
        assert_non_null(root);
    mv_json_free(root);
    if (off)
        *off = o;
    return rc;
}

static mv_json *parse_ok(const char *text, size_t len)
{
    mv_json *root = NULL;
    size_t off = 0;
    mv_err rc = mv_json_parse(text, len, NULL, &root, &off);
    if (rc != MV_OK)
        fail_msg("unexpected %s at %zu parsing %.*s", mv_strerror(rc), off, (int)len, text);
    return root;
}

static void expect_parse_error(const char *text, size_t len)
{
    size_t off = 0;
    mv_err rc = parse_rc(text, len, NULL, &off);
    if (rc != MV_ERR_PARSE)
        fail_msg("expected MV_ERR_PARSE, got %s for input %.*s", mv_strerror(rc), (int)len, text);
    assert_true(off <= len);
}

/* Compact serialisation of text; fails the test if it does not parse. Caller frees. */
static char *rewrite(const char *text, size_t len, size_t *out_len)
{
    mv_json *root = parse_ok(text, len);
    mv_buf b;
    mv_buf_init(&b, 64u << 20);
    assert_int_equal(mv_json_write(&b, root), MV_OK);
    mv_json_free(root);
    size_t n = 0;
    char *s = (char *)mv_buf_steal(&b, &n);
    assert_non_null(s);
    if (out_len)
        *out_len = n;
    return s;
}

static void expect_rewrite(const char *in, const char *want)
{
    size_t n = 0;
    char *got = rewrite(in, strlen(in), &n);
    assert_int_equal(n, strlen(want));
    assert_string_equal(got, want);
    mv_free(got);
}

static void test_scalars(void **state)
{
    (void)state;
    mv_json *v = parse_ok(S("null"));
    assert_int_equal(mv_json_type_of(v), MV_JSON_NULL);
    mv_json_free(v);
    int b = -1;
    v = parse_ok(S(" true "));
    assert_int_equal(mv_json_type_of(v), MV_JSON_TRUE);
    assert_int_equal(mv_json_bool(v, &b), MV_OK);
    assert_int_equal(b, 1);
    mv_json_free(v);
    v = parse_ok(S("false"));
    assert_int_equal(mv_json_type_of(v), MV_JSON_FALSE);
    assert_int_equal(mv_json_bool(v, &b), MV_OK);
    assert_int_equal(b, 0);
    mv_json_free(v);
    size_t n = 0;
    v = parse_ok(S("\"hi\""));
    assert_int_equal(mv_json_type_of(v), MV_JSON_STRING);
    assert_string_equal(mv_json_str(v, &n), "hi");
    assert_int_equal(n, 2);
    assert_int_equal(mv_json_bool(v, &b), MV_ERR_PARSE);
    assert_null(mv_json_num(v, NULL));
    mv_json_free(v);
    v = parse_ok(S("\"\""));
    assert_string_equal(mv_json_str(v, &n), "");
    assert_int_equal(n, 0);
    mv_json_free(v);
    v = parse_ok(S("42"));
    assert_int_equal(mv_json_type_of(v), MV_JSON_NUMBER);
    assert_string_equal(mv_json_num(v, &n), "42");
    assert_int_equal(n, 2);
    assert_null(mv_json_str(v, NULL));
    mv_json_free(v);

    /* Literal spelling is exact. */
    const char *bad[] = {"tru", "True", "nul", "nulll", "falsey", "NULL", "t", "n", "f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse_error(bad[i], strlen(bad[i]));
}

static void test_containers(void **state)
{
    (void)state;
    const char *doc = " { \"a\" : [ 1 , \"two\" , { } , [ ] , null ] ,\n\t\"b\":{\"c\":true},\r\n\"\":false } ";
    mv_json *r = parse_ok(doc, strlen(doc));
    assert_int_equal(mv_json_type_of(r), MV_JSON_OBJECT);
    assert_int_equal(mv_json_len(r), 3);
    size_t kl = 99;
    assert_string_equal(mv_json_key_at(r, 0, &kl), "a");
    assert_int_equal(kl, 1);
    assert_string_equal(mv_json_key_at(r, 1, NULL), "b");
    assert_string_equal(mv_json_key_at(r, 2, &kl), "");
    assert_int_equal(kl, 0);
    assert_null(mv_json_key_at(r, 3, NULL));
    assert_null(mv_json_value_at(r, 3));
    const mv_json *a = mv_json_get(r, "a");
    assert_ptr_equal(a, mv_json_value_at(r, 0));
    assert_int_equal(mv_json_type_of(a), MV_JSON_ARRAY);
    assert_int_equal(mv_json_len(a), 5);
    assert_string_equal(mv_json_num(mv_json_at(a, 0), NULL), "1");
    assert_string_equal(mv_json_str(mv_json_at(a, 1), NULL), "two");
    assert_int_equal(mv_json_type_of(mv_json_at(a, 2)), MV_JSON_OBJECT);
    assert_int_equal(mv_json_len(mv_json_at(a, 2)), 0);
    assert_int_equal(mv_json_type_of(mv_json_at(a, 3)), MV_JSON_ARRAY);
    assert_int_equal(mv_json_len(mv_json_at(a, 3)), 0);
    assert_int_equal(mv_json_type_of(mv_json_at(a, 4)), MV_JSON_NULL);
    assert_null(mv_json_at(a, 5));
    /* Array elements are not object members. */
    assert_null(mv_json_key_at(a, 0, NULL));
    assert_null(mv_json_get(a, "a"));
    assert_null(mv_json_at(r, 0));
    assert_int_equal(mv_json_type_of(mv_json_get(mv_json_get(r, "b"), "c")), MV_JSON_TRUE);
    assert_int_equal(mv_json_type_of(mv_json_get(r, "")), MV_JSON_FALSE);
    assert_null(mv_json_get(r, "c"));
    assert_null(mv_json_get(r, "A"));
    assert_int_equal(mv_json_len(mv_json_get(r, "")), 0);
    mv_json_free(r);

    /* Document order is kept, not sorted. */
    expect_rewrite("{\"z\":1,\"a\":2,\"m\":[3,{\"y\":4,\"b\":5}]}", "{\"z\":1,\"a\":2,\"m\":[3,{\"y\":4,\"b\":5}]}");
}

static void test_null_accessors(void **state)
{
    (void)state;
    uint64_t u = 7;
    int b = 7;
    uint8_t h[2];
    assert_int_equal(mv_json_type_of(NULL), MV_JSON_NULL);
    assert_int_equal(mv_json_len(NULL), 0);
    assert_null(mv_json_at(NULL, 0));
    assert_null(mv_json_key_at(NULL, 0, NULL));
    assert_null(mv_json_value_at(NULL, 0));
    assert_null(mv_json_get(NULL, "a"));
    assert_null(mv_json_str(NULL, NULL));
    assert_null(mv_json_num(NULL, NULL));
    assert_int_equal(mv_json_u64(NULL, &u), MV_ERR_PARSE);
    assert_int_equal(mv_json_bool(NULL, &b), MV_ERR_PARSE);
    assert_int_equal(mv_json_get_hex(NULL, "a", h, 2), MV_ERR_NOT_FOUND);
    assert_null(mv_json_get_str(NULL, "a", NULL));
    assert_int_equal(mv_json_get_u64(NULL, "a", &u), MV_ERR_NOT_FOUND);
    assert_int_equal(u, 7);
    mv_json_free(NULL);

    /* Invalid arguments to the parser. */
    mv_json *r = NULL;
    size_t off = 0;
    assert_int_equal(mv_json_parse("1", 1, NULL, NULL, &off), MV_ERR_INVAL);
    assert_int_equal(mv_json_parse(NULL, 1, NULL, &r, &off), MV_ERR_INVAL);
    assert_null(r);
    assert_int_equal(mv_json_parse(NULL, 0, NULL, &r, NULL), MV_ERR_INVAL);
    assert_null(r);
    mv_buf buf;
    mv_buf_init(&buf, 100);
    assert_int_equal(mv_json_write(&buf, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_json_write(NULL, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_json_write_str(NULL, "a", 1), MV_ERR_INVAL);
    assert_int_equal(mv_json_write_hex(&buf, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(buf.len, 0);
    mv_buf_clear(&buf);
}

/* RFC 8259 section 6: numbers keep their lexeme; the grammar is enforced. */
static void test_numbers(void **state)
{
    (void)state;
    const char *good[] = {"0",      "-0",     "1.50",        "-0.0",   "1e+10", "1E-10", "1e10",
                          "123456789012345678901234567890", "0.000001", "-12.5e007",
                          "1.0E+2", "9007199254740993", "1e400"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        mv_json *v = parse_ok(good[i], strlen(good[i]));
        size_t n = 0;
        assert_int_equal(mv_json_type_of(v), MV_JSON_NUMBER);
        assert_string_equal(mv_json_num(v, &n), good[i]);
        assert_int_equal(n, strlen(good[i]));
        mv_json_free(v);
    }
    const char *bad[] = {"01",  "-01", "00",  "1.",   ".5",   "+1",  "NaN", "-NaN", "Infinity", "-Infinity",
                         "-",   "1e",  "1e+", "1E-",  "1.e5", "0x10", "1_000", "- 1", "1.5.2", "1ee5",
                         "--1", "0.", "-.5", "1e5.5", "\xd9\xa1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_parse_error(bad[i], strlen(bad[i]));
        char wrapped[64];
        int wn = snprintf(wrapped, sizeof wrapped, "[%s]", bad[i]);
        expect_parse_error(wrapped, (size_t)wn);
    }
    /* Lexemes are kept inside containers and re-emitted verbatim. */
    expect_rewrite("[1.50, -0, 1e+10, 1E-2, 100]", "[1.50,-0,1e+10,1E-2,100]");
}

static void test_u64_accessor(void **state)
{
    (void)state;
    const char *doc = "{\"max\":18446744073709551615,\"over\":18446744073709551616,\"big\":99999999999999999999,"
                      "\"zero\":0,\"neg0\":-0,\"neg\":-1,\"frac\":1.0,\"exp\":1e3,\"str\":\"5\",\"t\":true,"
                      "\"small\":42}";
    mv_json *r = parse_ok(doc, strlen(doc));
    uint64_t u = 0;
    assert_int_equal(mv_json_get_u64(r, "max", &u), MV_OK);
    assert_true(u == UINT64_MAX);
    assert_int_equal(mv_json_get_u64(r, "zero", &u), MV_OK);
    assert_true(u == 0);
    assert_int_equal(mv_json_get_u64(r, "small", &u), MV_OK);
    assert_true(u == 42);
    u = 7;
    const char *rej[] = {"over", "big", "neg0", "neg", "frac", "exp", "str", "t"};
    for (size_t i = 0; i < sizeof rej / sizeof rej[0]; i++) {
        assert_int_equal(mv_json_get_u64(r, rej[i], &u), MV_ERR_PARSE);
        assert_true(u == 7);
    }
    assert_int_equal(mv_json_get_u64(r, "absent", &u), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_json_u64(mv_json_get(r, "max"), &u), MV_OK);
    assert_int_equal(mv_json_u64(r, &u), MV_ERR_PARSE);
    int b = 0;
    assert_int_equal(mv_json_bool(mv_json_get(r, "t"), &b), MV_OK);
    assert_int_equal(b, 1);
    assert_int_equal(mv_json_bool(mv_json_get(r, "zero"), &b), MV_ERR_PARSE);
    mv_json_free(r);
}

static void test_hex_and_str_accessors(void **state)
{
    (void)state;
    const char *doc = "{\"k\":\"00ff10Ab\",\"odd\":\"abc\",\"bad\":\"zz00ff10\",\"num\":1234,\"empty\":\"\","
                      "\"s\":\"a\\u0000b\"}";
    mv_json *r = parse_ok(doc, strlen(doc));
    uint8_t out[4] = {9, 9, 9, 9};
    static const uint8_t want[4] = {0x00, 0xff, 0x10, 0xab};
    assert_int_equal(mv_json_get_hex(r, "k", out, 4), MV_OK);
    assert_memory_equal(out, want, 4);
    assert_int_equal(mv_json_get_hex(r, "k", out, 3), MV_ERR_PARSE);
    assert_int_equal(mv_json_get_hex(r, "odd", out, 1), MV_ERR_PARSE);
    assert_int_equal(mv_json_get_hex(r, "odd", out, 2), MV_ERR_PARSE);
    assert_int_equal(mv_json_get_hex(r, "bad", out, 4), MV_ERR_PARSE);
    assert_int_equal(mv_json_get_hex(r, "num", out, 2), MV_ERR_PARSE);
    assert_int_equal(mv_json_get_hex(r, "nope", out, 2), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_json_get_hex(r, "empty", out, 0), MV_OK);
    assert_int_equal(mv_json_get_hex(r, "empty", out, 1), MV_ERR_PARSE);
    size_t n = 0;
    const char *s = mv_json_get_str(r, "s", &n);
    assert_non_null(s);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "a\0b", 4);
    assert_null(mv_json_get_str(r, "num", &n));
    assert_null(mv_json_get_str(r, "nope", &n));
    mv_json_free(r);
}

static void test_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
        size_t out_len;
    } cases[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9", 5},
        {"\"\\u0000\"", "\0", 1},
        {"\"\\u20ac\"", "\xe2\x82\xac", 3},
        {"\"\\uffff\"", "\xef\xbf\xbf", 3},
        {"\"\\ud7ff\\ue000\"", "\xed\x9f\xbf\xee\x80\x80", 6},
        {"\"\\ud834\\udd1e\"", "\xf0\x9d\x84\x9e", 4},       /* U+1D11E, RFC 8259 section 7 */
        {"\"\\uD83D\\uDE00x\"", "\xf0\x9f\x98\x80x", 5},     /* U+1F600 */
        {"\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4},       /* U+10000 */
        {"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4},       /* U+10FFFF */
        {"\"\x7f\"", "\x7f", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mv_json *v = parse_ok(cases[i].in, strlen(cases[i].in));
        size_t n = 0;
        const char *s = mv_json_str(v, &n);
        assert_non_null(s);
        assert_int_equal(n, cases[i].out_len);
        assert_memory_equal(s, cases[i].out, n);
        assert_int_equal(s[n], 0);
        mv_json_free(v);
    }
    const char *bad[] = {
        "\"\\x41\"",        "\"\\U0041\"",       "\"\\u12\"",         "\"\\u12G4\"",       "\"\\\"",
        "\"\\ud800\"",      "\"\\ud800x\"",      "\"\\ud800\\u0041\"", "\"\\udc00\"",       "\"\\udc00\\ud800\"",
        "\"\\ud800\\ud800\"", "\"\\ud800\\\"",    "\"\\ud800\\udc0\"", "\"\\ud800\\n\"",    "\"\\'\"",
        "\"\\a\"",          "\"\\0\"",           "\"\\",              "\"abc",             "\"\\u",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse_error(bad[i], strlen(bad[i]));
    /* Raw control characters (U+0000..U+001F) must be escaped inside strings. */
    for (unsigned c = 0; c < 0x20; c++) {
        char doc[4] = {'"', (char)c, '"', 0};
        size_t off = 0;
        assert_int_equal(parse_rc(doc, 3, NULL, &off), MV_ERR_PARSE);
        assert_int_equal(off, 1);
    }
}

/* RFC 3629 section 4 (well-formed UTF-8) inside strings; non-ASCII outside strings. */
static void test_utf8(void **state)
{
    (void)state;
    static const char *good[] = {
        "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf3\xbf\xbf\xbf", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char doc[64];
        int n = snprintf(doc, sizeof doc, "\"%s\"", good[i]);
        mv_json *v = parse_ok(doc, (size_t)n);
        size_t sl = 0;
        assert_memory_equal(mv_json_str(v, &sl), good[i], strlen(good[i]));
        assert_int_equal(sl, strlen(good[i]));
        mv_json_free(v);
    }
    static const char *bad[] = {
        "\x80",             /* lone continuation */
        "\xbf",             /* lone continuation */
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\x80",     /* overlong 3-byte */
        "\xe0\x9f\xbf",     /* overlong 3-byte */
        "\xf0\x80\x80\x80", /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* U+D800 encoded */
        "\xed\xbf\xbf",     /* U+DFFF encoded */
        "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff",
        "\xc2",             /* truncated */
        "\xe2\x82",         /* truncated */
        "\xf0\x9f\x98",     /* truncated */
        "\xc2\x41",         /* bad continuation */
        "\xe2\x28\xa1",     /* bad continuation */
        "\xf0\x9f\x28\x80", /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[64];
        int n = snprintf(doc, sizeof doc, "[\"ab%s\"]", bad[i]);
        size_t off = 0;
        assert_int_equal(parse_rc(doc, (size_t)n, NULL, &off), MV_ERR_PARSE);
        assert_int_equal(off, 4); /* the first byte of the bad sequence */
        /* Truncation at the end of the input. */
        n = snprintf(doc, sizeof doc, "\"%s", bad[i]);
        assert_int_equal(parse_rc(doc, (size_t)n, NULL, NULL), MV_ERR_PARSE);
    }
    /* Non-ASCII outside strings: a BOM, NBSP as whitespace, a bare UTF-8 letter. */
    expect_parse_error(S("\xef\xbb\xbf{}"));
    expect_parse_error(S("[1,\xc2\xa0" "2]"));
    expect_parse_error(S("{\xc3\xa9:1}"));
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_parse_error(S("{\"a\":1,\"a\":2}"));
    expect_parse_error(S("{\"a\":1,\"\\u0061\":2}"));        /* equal after decoding */
    expect_parse_error(S("{\"\\u00e9\":1,\"\xc3\xa9\":2}"));
    expect_parse_error(S("{\"\\/\":1,\"/\":2}"));
    expect_parse_error(S("{\"\":1,\"\":2}"));
    expect_parse_error(S("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}"));
    /* Same key in different objects, and keys differing only after a NUL, are fine. */
    mv_json *r = parse_ok(S("{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"a\\u0000x\":3,\"a\\u0000y\":4,\"A\":5}"));
    assert_int_equal(mv_json_len(r), 5);
    size_t kl = 0;
    assert_memory_equal(mv_json_key_at(r, 2, &kl), "a\0x", 4);
    assert_int_equal(kl, 3);
    /* Lookup by C string never matches a key with an embedded NUL. */
    assert_ptr_equal(mv_json_get(r, "a"), mv_json_value_at(r, 0));
    mv_json_free(r);
    size_t off = 0;
    assert_int_equal(parse_rc(S("{\"a\":1,\"a\":2}"), NULL, &off), MV_ERR_PARSE);
    assert_int_equal(off, 13); /* reported where the object closes */
    /* The reason says what is wrong (issue 14: it used to be a bare "parse error"). */
    const char *why = NULL;
    assert_int_equal(mv_json_parse_why(S("{\"x\":{\"a\":1,\"a\":2}}"), NULL, &r, &off, &why), MV_ERR_PARSE);
    assert_null(r);
    assert_int_equal(off, 18); /* just past the inner object's closing brace */
    assert_non_null(why);
    assert_non_null(strstr(why, "duplicate key"));
    assert_null(strstr(why, "\"a\"")); /* never the key itself: keys may be data */
    why = "unset";
    assert_int_equal(mv_json_parse_why(S("{\"a\":1}"), NULL, &r, &off, &why), MV_OK);
    assert_null(why);
    mv_json_free(r);
    assert_int_equal(mv_json_parse_why(S("[1,]"), NULL, &r, &off, &why), MV_ERR_PARSE);
    assert_string_equal(why, mv_strerror(MV_ERR_PARSE));

    /* Big objects (sorted duplicate check): 100000 distinct keys parse quickly; one
     * duplicate anywhere is found. */
    const size_t m = 100000;
    mv_buf b;
    mv_buf_init(&b, 8u << 20);
    assert_int_equal(mv_buf_puts(&b, "{"), MV_OK);
    for (size_t i = 0; i < m; i++)
        assert_int_equal(mv_buf_printf(&b, "%s\"k%zu\":%zu", i ? "," : "", i, i), MV_OK);
    assert_int_equal(mv_buf_puts(&b, "}"), MV_OK);
    r = parse_ok((const char *)b.ptr, b.len);
    assert_int_equal(mv_json_len(r), m);
    uint64_t u = 0;
    assert_int_equal(mv_json_get_u64(r, "k99999", &u), MV_OK);
    assert_true(u == 99999);
    mv_json_free(r);
    b.len--; /* drop '}' and add a duplicate of a middle key */
    assert_int_equal(mv_buf_puts(&b, ",\"k5\\u0030000\":1}"), MV_OK);
    assert_int_equal(parse_rc((const char *)b.ptr, b.len, NULL, NULL), MV_ERR_PARSE);
    why = NULL;
    assert_int_equal(mv_json_parse_why((const char *)b.ptr, b.len, NULL, &r, NULL, &why), MV_ERR_PARSE);
    assert_non_null(why);
    assert_non_null(strstr(why, "duplicate key")); /* the sorted check says so too */
    mv_buf_clear(&b);
    /* Nine members: just above the pairwise threshold; first and last equal. */
    expect_parse_error(S("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"a\":1}"));
    r = parse_ok(S("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}"));
    mv_json_free(r);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t off;
    } cases[] = {
        {"", 0},          {" ", 1},          {"[", 1},         {"[1,]", 3},       {"{\"a\":1,}", 7},
        {"{\"a\"}", 4},   {"{\"a\" 1}", 5},  {"{1:2}", 1},     {"[1 2]", 3},      {"{'a':1}", 1},
        {"[1]]", 3},      {"{}}", 2},        {"[1]x", 3},      {"1 2", 2},        {"/*c*/1", 0},
        {"[,1]", 1},      {"{,}", 1},        {"{\"a\":}", 5},  {"{\"a\"::1}", 5}, {"[1,,2]", 3},
        {"[\"a\":1]", 4}, {"{\"a\",1}", 4},  {"  x", 2},       {"[1] x", 4},      {"\"a\x01\"", 2},
        {"\v1", 0},       {"\f1", 0},        {"1\f", 1},       {"[1}", 2},        {"{\"a\":1]", 6},
        {"[\x00]", 1},    {"(1)", 0},        {"[1,2", 4},      {"{\"a\":1", 6},   {"{\"a\":1 \"b\":2}", 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].in);
        if (i == 30)
            len = 3; /* "[\0]" */
        size_t off = 999;
        mv_err rc = parse_rc(cases[i].in, len, NULL, &off);
        if (rc != MV_ERR_PARSE || off != cases[i].off)
            fail_msg("case %zu: got %s at %zu, want parse error at %zu", i, mv_strerror(rc), off,
                     cases[i].off);
    }
    /* The input need not be NUL-terminated, and bytes past len are never read. */
    const char buf[] = {'[', '1', ']', 'x'};
    assert_int_equal(parse_rc(buf, 3, NULL, NULL), MV_OK);
    assert_int_equal(parse_rc(buf, 4, NULL, NULL), MV_ERR_PARSE);
    assert_int_equal(parse_rc(buf, 2, NULL, NULL), MV_ERR_PARSE);
    /* An embedded NUL after the value is trailing garbage. */
    assert_int_equal(parse_rc("[1]\0", 4, NULL, NULL), MV_ERR_PARSE);
    /* Whitespace per RFC 8259 section 2 only. */
    assert_int_equal(parse_rc(S(" \t\r\n[ 1 ,\t2\r\n]\n \t"), NULL, NULL), MV_OK);
}

static void test_caps(void **state)
{
    (void)state;
    mv_json_limits lim = {0, 3, 0};
    size_t off = 0;
    assert_int_equal(parse_rc(S("[[[1]]]"), &lim, NULL), MV_OK);
    /* Too deep is malformed (400 at the HTTP layer), not too large (413). */
    assert_int_equal(parse_rc(S("[[[[1]]]]"), &lim, &off), MV_ERR_PARSE);
    assert_int_equal(off, 3);
    assert_int_equal(parse_rc(S("{\"a\":{\"b\":[{}]}}"), &lim, NULL), MV_ERR_PARSE);
    assert_int_equal(parse_rc(S("{\"a\":{\"b\":[1]}}"), &lim, NULL), MV_OK);

    lim = (mv_json_limits){0, 0, 3};
    assert_int_equal(parse_rc(S("[1,2]"), &lim, NULL), MV_OK);
    assert_int_equal(parse_rc(S("[1,2,3]"), &lim, &off), MV_ERR_TOO_LARGE);
    assert_int_equal(off, 5);
    assert_int_equal(parse_rc(S("{\"a\":{},\"b\":[]}"), &lim, NULL), MV_OK);
    assert_int_equal(parse_rc(S("{\"a\":{},\"b\":[null]}"), &lim, NULL), MV_ERR_TOO_LARGE);

    lim = (mv_json_limits){5, 0, 0};
    assert_int_equal(parse_rc(S("[1,2]"), &lim, NULL), MV_OK);
    assert_int_equal(parse_rc(S("[1,2] "), &lim, &off), MV_ERR_TOO_LARGE);
    assert_int_equal(off, 5);

    /* Defaults: depth 64. */
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    assert_int_equal(parse_rc(deep + 1, 128, NULL, NULL), MV_OK);
    assert_int_equal(parse_rc(deep, 130, NULL, NULL), MV_ERR_PARSE);

    /* Default byte cap: 16 MiB of whitespace around a value is fine, one more byte is not. */
    size_t big = (size_t)16 << 20;
    char *text = mv_malloc(big + 1);
    assert_non_null(text);
    memset(text, ' ', big + 1);
    text[0] = '0';
    assert_int_equal(parse_rc(text, big, NULL, NULL), MV_OK);
    assert_int_equal(parse_rc(text, big + 1, NULL, &off), MV_ERR_TOO_LARGE);

    /* Default node cap: 1,000,000 nodes (an array of 999,999 zeros) is fine, one more is not. */
    size_t k = 0;
    text[k++] = '[';
    for (size_t i = 0; i < 1000000; i++) {
        text[k++] = '0';
        text[k++] = ',';
    }
    text[k - 1] = ']';
    assert_int_equal(parse_rc(text, k, NULL, NULL), MV_ERR_TOO_LARGE);
    text[k - 3] = ']';
    assert_int_equal(parse_rc(text, k - 2, NULL, NULL), MV_OK);

    /* Deep nesting well past the default, allowed by the caller: the parser and the writer
     * must not recurse per level (this would overflow the stack if they did). */
    size_t depth = 200000;
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    lim = (mv_json_limits){0, depth, 0};
    mv_json *r = NULL;
    assert_int_equal(mv_json_parse(text, 2 * depth, &lim, &r, NULL), MV_OK);
    mv_buf b;
    mv_buf_init(&b, 2 * depth);
    assert_int_equal(mv_json_write(&b, r), MV_OK);
    assert_int_equal(b.len, 2 * depth);
    assert_memory_equal(b.ptr, text, 2 * depth);
    mv_buf_clear(&b);
    mv_json_free(r);
    mv_free(text);
}

/* RFC 8785 section 3.2.2.2: the string of the example in section 3.2.2 and its serialisation. */
static void test_write_str_rfc8785(void **state)
{
    (void)state;
    const char *in = "{\"string\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"}";
    mv_json *r = parse_ok(in, strlen(in));
    size_t n = 0;
    const char *s = mv_json_get_str(r, "string", &n);
    assert_non_null(s);
    mv_buf b;
    mv_buf_init(&b, 1000);
    assert_int_equal(mv_json_write_str(&b, s, n), MV_OK);
    const char *want = "\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"";
    assert_int_equal(b.len, strlen(want));
    assert_string_equal((char *)b.ptr, want);
    mv_buf_reset(&b);
    assert_int_equal(mv_json_write(&b, r), MV_OK);
    assert_string_equal((char *)b.ptr, "{\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
    mv_json_free(r);

    /* Every C0 control: the seven short forms, the rest \u00xx in lowercase; DEL and '/'
     * verbatim. */
    char all[34];
    for (int c = 0; c < 32; c++)
        all[c] = (char)c;
    all[32] = 0x7f;
    all[33] = '/';
    mv_buf_reset(&b);
    assert_int_equal(mv_json_write_str(&b, all, sizeof all), MV_OK);
    const char *want_all = "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r"
                           "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
                           "\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f/\"";
    assert_string_equal((char *)b.ptr, want_all);
    /* ... and it parses back to the same bytes. */
    mv_json *v = parse_ok((const char *)b.ptr, b.len);
    assert_memory_equal(mv_json_str(v, &n), all, sizeof all);
    assert_int_equal(n, sizeof all);
    mv_json_free(v);

    /* Invalid UTF-8 is refused and nothing is appended. */
    mv_buf_reset(&b);
    assert_int_equal(mv_buf_puts(&b, "x"), MV_OK);
    assert_int_equal(mv_json_write_str(&b, "a\xed\xa0\x80", 4), MV_ERR_PARSE);
    assert_int_equal(mv_json_write_str(&b, "\xc0\x80", 2), MV_ERR_PARSE);
    assert_int_equal(mv_json_write_str(&b, "\xe2\x82", 2), MV_ERR_PARSE);
    assert_int_equal(mv_json_write_str(&b, "\xf4\x90\x80\x80", 4), MV_ERR_PARSE);
    assert_int_equal(b.len, 1);
    assert_int_equal(mv_json_write_str(&b, "", 0), MV_OK);
    assert_int_equal(mv_json_write_str(&b, NULL, 0), MV_OK);
    assert_string_equal((char *)b.ptr, "x\"\"\"\"");
    mv_buf_clear(&b);

    /* Cap reached mid-string: all or nothing. */
    mv_buf_init(&b, 6);
    assert_int_equal(mv_buf_puts(&b, "ab"), MV_OK);
    assert_int_equal(mv_json_write_str(&b, "x\ny", 3), MV_ERR_TOO_LARGE);
    assert_int_equal(b.len, 2);
    assert_string_equal((char *)b.ptr, "ab");
    assert_int_equal(mv_json_write_str(&b, "xy", 2), MV_OK);
    assert_string_equal((char *)b.ptr, "ab\"xy\"");
    mv_buf_clear(&b);
}

static void test_write_hex(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 100);
    static const uint8_t bin[] = {0x00, 0xff, 0x1a, 0xb2};
    assert_int_equal(mv_json_write_hex(&b, bin, sizeof bin), MV_OK);
    assert_int_equal(mv_json_write_hex(&b, NULL, 0), MV_OK);
    assert_string_equal((char *)b.ptr, "\"00ff1ab2\"\"\"");
    assert_int_equal(b.len, 12);
    mv_buf_clear(&b);
    mv_buf_init(&b, 9);
    assert_int_equal(mv_json_write_hex(&b, bin, sizeof bin), MV_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    mv_buf_clear(&b);
}

static void test_write_cap(void **state)
{
    (void)state;
    mv_json *r = parse_ok(S("{\"a\":[1,2,\"x\"],\"b\":null}"));
    const char *want = "{\"a\":[1,2,\"x\"],\"b\":null}";
    for (size_t max = 0; max < strlen(want); max++) {
        mv_buf b;
        mv_buf_init(&b, max);
        assert_int_equal(mv_json_write(&b, r), MV_ERR_TOO_LARGE);
        assert_int_equal(b.len, 0);
        mv_buf_clear(&b);
    }
    mv_buf b;
    mv_buf_init(&b, strlen(want));
    assert_int_equal(mv_json_write(&b, r), MV_OK);
    assert_string_equal((char *)b.ptr, want);
    /* A subtree is written without its member key. */
    mv_buf_reset(&b);
    assert_int_equal(mv_json_write(&b, mv_json_get(r, "a")), MV_OK);
    assert_string_equal((char *)b.ptr, "[1,2,\"x\"]");
    mv_buf_clear(&b);
    mv_json_free(r);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *docs[] = {
        ("{\"a\" : [ 1.50 , -0 , 1e+10 , true , false , null , \"\\u00e9\\ud83d\\ude00\\t\\/\" ] ,"
         " \"b\" : { \"c\" : { } , \"d\" : [ [ ] , [ { } ] ] } , \"\\u0000\" : \"\\u001F\" }"),
        "\"\\b\\f\\n\\r\\t\\\"\\\\\"",
        "[]",
        "{}",
        "-1.25E-7",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t n1 = 0, n2 = 0;
        char *w1 = rewrite(docs[i], strlen(docs[i]), &n1);
        char *w2 = rewrite(w1, n1, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(w1, w2, n1);
        mv_free(w1);
        mv_free(w2);
    }
    expect_rewrite(docs[0], "{\"a\":[1.50,-0,1e+10,true,false,null,\"\xc3\xa9\xf0\x9f\x98\x80\\t/\"],"
                            "\"b\":{\"c\":{},\"d\":[[],[{}]]},\"\\u0000\":\"\\u001f\"}");
}

/* Fault injection: fail the n-th allocation for n = 0, 1, 2, ... until the operation
 * succeeds; every failure must be a clean MV_ERR_NOMEM (ASan checks for leaks). */
static void test_alloc_failure(void **state)
{
    (void)state;
    mv_buf doc;
    mv_buf_init(&doc, 1 << 20);
    assert_int_equal(mv_buf_puts(&doc, "{\"list\":["), MV_OK);
    for (int i = 0; i < 300; i++)
        assert_int_equal(mv_buf_printf(&doc, "%s{\"id\":%d,\"s\":\"x\xc3\xa9\",\"n\":[[%d]]}", i ? "," : "", i, i),
                         MV_OK);
    assert_int_equal(mv_buf_puts(&doc, "],\"big\":{"), MV_OK);
    for (int i = 0; i < 40; i++)
        assert_int_equal(mv_buf_printf(&doc, "%s\"k%d\":%d", i ? "," : "", i, i), MV_OK);
    assert_int_equal(mv_buf_puts(&doc, "}}"), MV_OK);

    size_t failures = 0;
    mv_json *r = NULL;
    for (size_t n = 0;; n++) {
        size_t off = 0;
        mv_mem_fail_after(n);
        mv_err rc = mv_json_parse((const char *)doc.ptr, doc.len, NULL, &r, &off);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK)
            break;
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_null(r);
        failures++;
        assert_true(n < 10000);
    }
    assert_true(failures > 3);
    assert_int_equal(mv_json_len(mv_json_get(r, "list")), 300);

    size_t wfail = 0;
    for (size_t n = 0;; n++) {
        mv_buf b;
        mv_buf_init(&b, 1 << 20);
        mv_mem_fail_after(n);
        mv_err rc = mv_json_write(&b, r);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_int_equal(b.len, doc.len);
            assert_memory_equal(b.ptr, doc.ptr, doc.len);
            mv_buf_clear(&b);
            break;
        }
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_int_equal(b.len, 0);
        mv_buf_clear(&b);
        wfail++;
        assert_true(n < 10000);
    }
    assert_true(wfail > 2);
    mv_json_free(r);
    mv_buf_clear(&doc);
}

/* The project's vector files must parse; Wycheproof files are also checked for their own
 * consistency (numberOfTests equals the tests listed), which exercises the accessors on
 * real data. */
static void test_vector_files(void **state)
{
    (void)state;
    mv_json *r = tu_load_json("rfc9497-ristretto255-sha512.json");
    assert_int_equal(mv_json_type_of(r), MV_JSON_OBJECT);
    assert_non_null(mv_json_get_str(r, "title", NULL));
    mv_json_free(r);

    const char *vdir = getenv("MV_VECTORS_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/wycheproof", vdir ? vdir : "tests/vectors");
    DIR *d = opendir(path);
    assert_non_null(d);
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 5, ".json") != 0)
            continue;
        char name[600];
        snprintf(name, sizeof name, "wycheproof/%s", de->d_name);
        r = tu_load_json(name);
        uint64_t want = 0, got = 0;
        assert_int_equal(mv_json_get_u64(r, "numberOfTests", &want), MV_OK);
        const mv_json *groups = mv_json_get(r, "testGroups");
        assert_int_equal(mv_json_type_of(groups), MV_JSON_ARRAY);
        for (size_t g = 0; g < mv_json_len(groups); g++)
            got += mv_json_len(mv_json_get(mv_json_at(groups, g), "tests"));
        assert_true(got == want);
        assert_true(got > 0);

        /* Round trip: write, re-parse, write again: identical. */
        mv_buf b1, b2;
        mv_buf_init(&b1, 64u << 20);
        mv_buf_init(&b2, 64u << 20);
        assert_int_equal(mv_json_write(&b1, r), MV_OK);
        mv_json *r2 = NULL;
        assert_int_equal(mv_json_parse((const char *)b1.ptr, b1.len, NULL, &r2, NULL), MV_OK);
        assert_int_equal(mv_json_write(&b2, r2), MV_OK);
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.ptr, b2.ptr, b1.len);
        mv_json_free(r2);
        mv_buf_clear(&b1);
        mv_buf_clear(&b2);
        mv_json_free(r);
        files++;
    }
    closedir(d);
    /* Six files when this test was written; more may be added, none may silently vanish. */
    assert_true(files >= 6);
}

/* The streaming writer: commas and nesting, every value kind, and the first error winning. */
static void test_jw_document(void **state)
{
    (void)state;
    mv_buf b;
    mv_jw w;
    const uint8_t k[3] = {0x00, 0xab, 0xff};
    mv_buf_init(&b, 1024);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "name", "Dr \"A\"\n");
    mv_jw_key(&w, "departments");
    mv_jw_arr(&w);
    mv_jw_str(&w, "cardiology");
    mv_jw_u64(&w, 18446744073709551615u);
    mv_jw_i64(&w, -5);
    mv_jw_obj(&w);
    mv_jw_obj_end(&w);
    mv_jw_arr(&w);
    mv_jw_arr_end(&w);
    mv_jw_arr_end(&w);
    mv_jw_khex(&w, "key", k, 3);
    mv_jw_kbool(&w, "yes", 1);
    mv_jw_kbool(&w, "no", 0);
    mv_jw_knull(&w, "none");
    mv_jw_kstr(&w, "null_str", NULL);
    mv_jw_key(&w, "raw");
    mv_jw_raw(&w, "[1,2]", 5);
    mv_jw_ki64(&w, "neg", INT64_MIN);
    mv_jw_obj_end(&w);
    assert_int_equal(mv_jw_finish(&w), MV_OK);
    assert_string_equal((char *)b.ptr,
                        "{\"name\":\"Dr \\\"A\\\"\\n\",\"departments\":[\"cardiology\",18446744073709551615,-5,{},[]],"
                        "\"key\":\"00abff\",\"yes\":true,\"no\":false,\"none\":null,\"null_str\":null,\"raw\":[1,2],"
                        "\"neg\":-9223372036854775808}");
    /* What it writes parses. */
    mv_json *root = NULL;
    assert_int_equal(mv_json_parse((char *)b.ptr, b.len, NULL, &root, NULL), MV_OK);
    mv_json_free(root);
    mv_buf_clear(&b);
}

static void test_jw_misuse(void **state)
{
    (void)state;
    mv_buf b;
    mv_jw w;
    mv_buf_init(&b, 1024);
    /* A value where an object wants a key; later calls change nothing. */
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_str(&w, "x");
    size_t at = b.len;
    mv_jw_kstr(&w, "a", "b");
    mv_jw_obj_end(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    assert_int_equal(b.len, at);
    /* A key outside an object, in an array, twice in a row. */
    mv_jw_init(&w, &b);
    mv_jw_key(&w, "a");
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    mv_jw_init(&w, &b);
    mv_jw_arr(&w);
    mv_jw_key(&w, "a");
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "a");
    mv_jw_key(&w, "b");
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    /* Closing the wrong kind, closing with a key pending, unclosed, nothing written. */
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_arr_end(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "a");
    mv_jw_obj_end(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    mv_jw_init(&w, &b);
    mv_jw_arr(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    mv_jw_init(&w, &b);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    /* Two top-level values. */
    mv_jw_init(&w, &b);
    mv_jw_u64(&w, 1);
    assert_int_equal(mv_jw_finish(&w), MV_OK);
    mv_jw_u64(&w, 2);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    /* Nesting beyond MV_JW_DEPTH_MAX. */
    mv_jw_init(&w, &b);
    for (int i = 0; i < MV_JW_DEPTH_MAX; i++)
        mv_jw_arr(&w);
    assert_int_equal(w.rc, MV_OK);
    mv_jw_arr(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_INVAL);
    /* Invalid UTF-8 in a string is the string writer's error, kept. */
    mv_jw_init(&w, &b);
    mv_jw_arr(&w);
    mv_jw_strn(&w, "\xff", 1);
    mv_jw_arr_end(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_PARSE);
    /* A full buffer: the cap's error. */
    mv_buf small;
    mv_buf_init(&small, 8);
    mv_jw_init(&w, &small);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "long key", "longer value");
    mv_jw_obj_end(&w);
    assert_int_equal(mv_jw_finish(&w), MV_ERR_TOO_LARGE);
    mv_buf_clear(&small);
    mv_buf_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_null_accessors),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_u64_accessor),
        cmocka_unit_test(test_hex_and_str_accessors),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_write_str_rfc8785),
        cmocka_unit_test(test_write_hex),
        cmocka_unit_test(test_write_cap),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_vector_files),
        cmocka_unit_test(test_jw_document),
        cmocka_unit_test(test_jw_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
