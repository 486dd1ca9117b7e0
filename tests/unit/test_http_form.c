/* test_http_form.c - query and form parameters (mv_http_form_get, mv_http_query in
 * mv_http.h): application/x-www-form-urlencoded as the WHATWG URL standard section 5.1
 * parses it ('&' separated pairs, '+' is a space, %XX escapes), plus our refusals:
 * bad escapes, NUL and control characters, invalid UTF-8 (RFC 3629), the output cap; and
 * mv_http_query_add, whose output mv_http_form_get reads back unchanged. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_http.h"

static mv_err get(const char *text, const char *name, char *out, size_t cap)
{
    return mv_http_form_get(text, strlen(text), name, out, cap);
}

static void expect(const char *text, const char *name, const char *want)
{
    char out[256];
    memset(out, 'z', sizeof out);
    assert_int_equal(get(text, name, out, sizeof out), MV_OK);
    assert_string_equal(out, want);
}

static void expect_err(const char *text, const char *name, mv_err want)
{
    char out[256];
    memset(out, 'z', sizeof out);
    assert_int_equal(get(text, name, out, sizeof out), want);
    assert_int_equal(out[0], 0); /* never a half-decoded value */
}

static void test_basic(void **state)
{
    (void)state;
    expect("q=smith", "q", "smith");
    expect("q=smith&role=doctor&limit=50", "role", "doctor");
    expect("q=smith&role=doctor&limit=50", "limit", "50");
    expect("a=1&a=2", "a", "1");           /* the first match */
    expect("q=", "q", "");                 /* present but empty */
    expect("x=1&q=&y=2", "q", "");
    expect("&&q=v&&", "q", "v");           /* empty pairs are skipped */
    expect("qq=1&q=2", "q", "2");          /* names match exactly */
    expect("q=1&qq=2", "qq", "2");
    expect("q=a=b", "q", "a=b");           /* only the first '=' separates */
    expect("patient=MRN-000001&status=booked", "patient", "MRN-000001");
    expect_err("q", "q", MV_ERR_NOT_FOUND); /* a name without '=' is not a value */
    expect_err("qq=1", "q", MV_ERR_NOT_FOUND);
    expect_err("xq=1", "q", MV_ERR_NOT_FOUND);
    expect_err("", "q", MV_ERR_NOT_FOUND);
    expect_err("Q=1", "q", MV_ERR_NOT_FOUND); /* case-sensitive */
    /* Only len bytes are read: the text need not be NUL-terminated. */
    char out[16];
    assert_int_equal(mv_http_form_get("q=12345", 5, "q", out, sizeof out), MV_OK);
    assert_string_equal(out, "123");
    assert_int_equal(mv_http_form_get("q=12345", 1, "q", out, sizeof out), MV_ERR_NOT_FOUND);
}

static void test_escapes(void **state)
{
    (void)state;
    expect("q=a+b", "q", "a b");
    expect("q=a%20b", "q", "a b");
    expect("q=%2B", "q", "+");              /* an escaped '+' stays a '+' */
    expect("q=%26%3D", "q", "&=");         /* escaped separators are data */
    expect("q=%2f%2F", "q", "//");         /* either case */
    expect("q=100%25", "q", "100%");
    expect("q=caf%C3%A9", "q", "caf\xc3\xa9");                  /* U+00E9 */
    expect("q=%E2%82%AC", "q", "\xe2\x82\xac");                 /* U+20AC */
    expect("q=%F0%9F%98%80", "q", "\xf0\x9f\x98\x80");          /* U+1F600 */
    expect("q=\xc3\xa9t\xc3\xa9", "q", "\xc3\xa9t\xc3\xa9");    /* raw UTF-8 */
    /* The name is matched on the raw text (it is not decoded). */
    expect_err("%71=1", "q", MV_ERR_NOT_FOUND);

    /* Bad escapes. */
    expect_err("q=%", "q", MV_ERR_PARSE);
    expect_err("q=%2", "q", MV_ERR_PARSE);
    expect_err("q=%2&x=1", "q", MV_ERR_PARSE);   /* the escape cannot span the separator */
    expect_err("q=%G0", "q", MV_ERR_PARSE);
    expect_err("q=%0G", "q", MV_ERR_PARSE);
    expect_err("q=% 1", "q", MV_ERR_PARSE);
    expect_err("q=%-1", "q", MV_ERR_PARSE);
    /* A bad escape in another parameter does not matter. */
    expect("x=%&q=ok", "q", "ok");
    /* Every escape of a byte in 0x00..0x1f and 0x7f is refused, raw or escaped. */
    for (int c = 0; c < 0x80; c++) {
        char text[8], raw[4];
        const char *hex = "0123456789ABCDEF";
        text[0] = 'q';
        text[1] = '=';
        text[2] = '%';
        text[3] = hex[c >> 4];
        text[4] = hex[c & 15];
        text[5] = 0;
        char out[8];
        mv_err rc = get(text, "q", out, sizeof out);
        if (c < 0x20 || c == 0x7f) {
            assert_int_equal(rc, MV_ERR_PARSE);
        } else {
            assert_int_equal(rc, MV_OK);
            assert_int_equal((unsigned char)out[0], c);
            assert_int_equal(out[1], 0);
        }
        if (c == 0 || c == '&')
            continue;
        raw[0] = (char)c;
        raw[1] = 0;
        memcpy(text + 2, raw, 2);
        rc = mv_http_form_get(text, 3, "q", out, sizeof out);
        if (c < 0x20 || c == 0x7f)
            assert_int_equal(rc, MV_ERR_PARSE);
        else if (c != '%')
            assert_int_equal(rc, MV_OK);
    }
    /* A raw NUL inside len. */
    {
        char out[8];
        assert_int_equal(mv_http_form_get("q=a\0b", 5, "q", out, sizeof out), MV_ERR_PARSE);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    expect_err("q=%C3", "q", MV_ERR_PARSE);             /* truncated */
    expect_err("q=%C3%28", "q", MV_ERR_PARSE);          /* bad continuation */
    expect_err("q=%80", "q", MV_ERR_PARSE);             /* lone continuation */
    expect_err("q=%C0%AF", "q", MV_ERR_PARSE);          /* overlong '/' */
    expect_err("q=%E0%80%AF", "q", MV_ERR_PARSE);       /* overlong */
    expect_err("q=%ED%A0%80", "q", MV_ERR_PARSE);       /* UTF-16 surrogate */
    expect_err("q=%F4%90%80%80", "q", MV_ERR_PARSE);    /* above U+10FFFF */
    expect_err("q=%FF", "q", MV_ERR_PARSE);
    expect_err("q=\xc3", "q", MV_ERR_PARSE);            /* raw, truncated */
    expect_err("q=\xe2\x82", "q", MV_ERR_PARSE);
    expect_err("q=%E2%82%AC%E2", "q", MV_ERR_PARSE);    /* valid then truncated */
    expect("q=%F4%8F%BF%BF", "q", "\xf4\x8f\xbf\xbf");  /* U+10FFFF */
    expect("q=%EF%BF%BD", "q", "\xef\xbf\xbd");         /* U+FFFD */
}

static void test_cap(void **state)
{
    (void)state;
    char out[4];
    /* cap counts the NUL: 3 bytes fit in 4. */
    assert_int_equal(get("q=abc", "q", out, sizeof out), MV_OK);
    assert_string_equal(out, "abc");
    memset(out, 'z', sizeof out);
    assert_int_equal(get("q=abcd", "q", out, sizeof out), MV_ERR_TOO_LARGE);
    assert_int_equal(out[0], 0);
    /* The cap is on decoded bytes: "%41%42%43" is 3. */
    assert_int_equal(get("q=%41%42%43", "q", out, sizeof out), MV_OK);
    assert_string_equal(out, "ABC");
    assert_int_equal(get("q=", "q", out, 1), MV_OK);
    assert_string_equal(out, "");
    assert_int_equal(get("q=a", "q", out, 1), MV_ERR_TOO_LARGE);

    assert_int_equal(get("q=a", "q", out, 0), MV_ERR_INVAL);
    assert_int_equal(mv_http_form_get(NULL, 3, "q", out, sizeof out), MV_ERR_INVAL);
    assert_int_equal(mv_http_form_get("q=a", 3, NULL, out, sizeof out), MV_ERR_INVAL);
    assert_int_equal(mv_http_form_get("q=a", 3, "q", NULL, sizeof out), MV_ERR_INVAL);
    assert_int_equal(get("=a", "", out, sizeof out), MV_ERR_INVAL);
}

static void test_query(void **state)
{
    (void)state;
    mv_http_request r;
    memset(&r, 0, sizeof r);
    r.path_and_query = "/v1/directory?q=smi+th&role=doctor";
    r.path = "/v1/directory";
    assert_string_equal(mv_http_query(&r), "q=smi+th&role=doctor");
    char out[32];
    const char *q = mv_http_query(&r);
    assert_int_equal(mv_http_form_get(q, strlen(q), "q", out, sizeof out), MV_OK);
    assert_string_equal(out, "smi th");
    r.path_and_query = "/v1/directory";
    assert_string_equal(mv_http_query(&r), "");
    r.path_and_query = "/v1/directory?";
    assert_string_equal(mv_http_query(&r), "");
    r.path_and_query = "/a?b?c=1";
    assert_string_equal(mv_http_query(&r), "b?c=1");
    r.path_and_query = NULL;
    assert_string_equal(mv_http_query(&r), "");
    assert_string_equal(mv_http_query(NULL), "");
}

/* Every value mv_http_query_add writes comes back from mv_http_form_get as it was, and
 * nothing of it can end the pair or start another. */
static void test_query_add(void **state)
{
    static const char *const vals[] = {"", "plain-1.2_3~", "a b&c=d+e%f?g#h", "Caf\xc3\xa9 \xe2\x82\xac/\"<>'"};
    mv_buf b;
    char out[128];
    mv_buf_init(&b, 1024);
    assert_int_equal(mv_buf_puts(&b, "/records"), MV_OK);
    assert_int_equal(mv_http_query_add(&b, "skip", NULL), MV_OK);
    assert_int_equal(b.len, 8);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char name[8];
        snprintf(name, sizeof name, "v%zu", i);
        assert_int_equal(mv_http_query_add(&b, name, vals[i]), MV_OK);
    }
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    const char *url = (const char *)b.ptr;
    static const char want[] = "/records?v0=&v1=plain-1.2_3~&v2=a%20b%26c%3Dd%2Be%25f%3Fg%23h&v3=Caf%C3%A9%20%E2%82%AC%2F%22%3C%3E%27";
    assert_string_equal(url, want);
    const char *q = strchr(url, '?') + 1;
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char name[8];
        snprintf(name, sizeof name, "v%zu", i);
        assert_int_equal(mv_http_form_get(q, strlen(q), name, out, sizeof out), MV_OK);
        assert_string_equal(out, vals[i]);
    }
    assert_int_equal(mv_http_query_add(NULL, "a", "b"), MV_ERR_INVAL);
    assert_int_equal(mv_http_query_add(&b, NULL, "b"), MV_ERR_INVAL);
    mv_buf_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic), cmocka_unit_test(test_escapes), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_cap),   cmocka_unit_test(test_query),
        cmocka_unit_test(test_query_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
