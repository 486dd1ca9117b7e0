/* test_html.c - HTML escaping and the page frame (mv_html.h): the five markup characters,
 * UTF-8 validation (RFC 3629 section 4: overlongs, surrogates, code points above U+10FFFF and
 * truncated sequences become U+FFFD), escaping of every %s in mv_html_printf while numbers
 * are formatted, caps, the frame's escaping and aria-current, and the page writer (mv_hw):
 * the same bytes as the calls it wraps, and the first error kept while later calls do nothing. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_html.h"
#include "medvault/mv_mem.h"

static void expect_escape(const char *in, size_t len, const char *want)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(mv_html_escape(&b, in, len), MV_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
    mv_buf_clear(&b);
}

static void test_escape_markup(void **state)
{
    (void)state;
    expect_escape("plain text", 10, "plain text");
    expect_escape("<script>alert('x')</script>", 27, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    expect_escape("a&b \"q\"", 7, "a&amp;b &quot;q&quot;");
    expect_escape("&amp;", 5, "&amp;amp;"); /* already-escaped text is escaped again, not trusted */
    expect_escape("", 0, "");
    /* An embedded NUL is kept as a byte (length-delimited input). */
    mv_buf b;
    mv_buf_init(&b, 16);
    assert_int_equal(mv_html_escape(&b, "a\0b", 3), MV_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.ptr, "a\0b", 3);
    mv_buf_clear(&b);
}

static void test_escape_utf8(void **state)
{
    (void)state;
    /* Valid 2-, 3- and 4-byte sequences pass unchanged. */
    expect_escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    /* Invalid: lone continuation, overlong '/' (C0 AF), overlong 3-byte (E0 80 AF), surrogate
     * U+D800 (ED A0 80), above U+10FFFF (F4 90 80 80), F5 lead, truncated sequence at the end. */
    expect_escape("\x80", 1, "\xef\xbf\xbd");
    expect_escape("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    expect_escape("\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect_escape("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect_escape("\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect_escape("\xf5", 1, "\xef\xbf\xbd");
    expect_escape("ok\xe2\x82", 4, "ok\xef\xbf\xbd\xef\xbf\xbd");
    /* An invalid byte followed by markup: both handled. */
    expect_escape("\xff<", 2, "\xef\xbf\xbd&lt;");
}

static void test_escape_errors_and_caps(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 8);
    assert_int_equal(mv_html_escape(NULL, "x", 1), MV_ERR_INVAL);
    assert_int_equal(mv_html_escape(&b, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_html_escape(&b, NULL, 0), MV_OK);
    assert_int_equal(mv_html_text(&b, NULL), MV_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(mv_html_text(NULL, "x"), MV_ERR_INVAL);
    /* "<<" needs 8 bytes: fits; one more does not. */
    assert_int_equal(mv_html_text(&b, "<<"), MV_OK);
    assert_int_equal(b.len, 8);
    assert_int_equal(mv_html_text(&b, "<"), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
}

static void test_printf(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(mv_html_printf(&b, "<td title=\"%s\">%s</td>%d|%5.1f|%zu|%llu|%x|%%|%ld", "\"><img>",
                                    "<b>", -42, 3.14159, (size_t)7, 18446744073709551615ULL, 255u, -5L),
                     MV_OK);
    assert_string_equal((const char *)b.ptr,
                        "<td title=\"&quot;&gt;&lt;img&gt;\">&lt;b&gt;</td>-42|  3.1|7|18446744073709551615|ff|%|-5");
    mv_buf_reset(&b);
    const char *volatile none = NULL; /* volatile: the compiler must not see the NULL %s argument */
    assert_int_equal(mv_html_printf(&b, "%s|%s", none, "x"), MV_OK);
    assert_string_equal((const char *)b.ptr, "|x");
    mv_buf_reset(&b);
    /* An unsupported conversion is refused rather than guessed. */
    assert_int_equal(mv_html_printf(&b, "%p", (void *)&b), MV_ERR_INVAL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
    assert_int_equal(mv_html_printf(&b, "trailing %"), MV_ERR_INVAL);
#pragma GCC diagnostic pop
    assert_int_equal(mv_html_printf(NULL, "x"), MV_ERR_INVAL);
    mv_buf_clear(&b);
    mv_buf_init(&b, 3);
    assert_int_equal(mv_html_printf(&b, "%s", "<"), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
}

static void test_frame(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    const mv_html_link links[] = {{"/a", "A & B"}, {"/b?x=1&y=2", "<B>"}};
    assert_int_equal(mv_html_begin(&b, "app<1>", "Title \"x\"", links, 2, "/b?x=1&y=2"), MV_OK);
    assert_int_equal(mv_html_end(&b), MV_OK);
    const char *s = (const char *)b.ptr;
    assert_non_null(strstr(s, "<!doctype html>"));
    assert_non_null(strstr(s, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(s, "<title>Title &quot;x&quot; - app&lt;1&gt;</title>"));
    assert_non_null(strstr(s, "<h1>Title &quot;x&quot;</h1>"));
    assert_non_null(strstr(s, "<a href=\"/a\">A &amp; B</a>"));
    assert_non_null(strstr(s, "<a href=\"/b?x=1&amp;y=2\" aria-current=\"page\">&lt;B&gt;</a>"));
    assert_null(strstr(s, "<B>"));
    assert_null(strstr(s, "<script"));
    assert_non_null(strstr(s, "</main></body></html>\n"));
    /* Exactly one aria-current: only the current link. */
    const char *first = strstr(s, "aria-current=");
    assert_non_null(first);
    assert_null(strstr(first + 1, "aria-current="));
    mv_buf_reset(&b);
    assert_int_equal(mv_html_begin(&b, "app", "t", NULL, 0, NULL), MV_OK);
    assert_null(strstr((const char *)b.ptr, "aria-current="));
    assert_int_equal(mv_html_begin(&b, NULL, "t", NULL, 0, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_html_begin(&b, "a", "t", NULL, 1, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_html_end(NULL), MV_ERR_INVAL);
    mv_buf_clear(&b);
}

static void test_writer(void **state)
{
    (void)state;
    static const mv_html_link links[] = {{"/a", "A"}, {"/b", "B"}};
    mv_buf want, got;
    mv_hw w;
    mv_buf_init(&want, 1 << 16);
    mv_buf_init(&got, 1 << 16);
    /* The same page through the writer and through the calls it wraps: the same bytes. */
    assert_int_equal(mv_html_begin(&want, "app", "T<", links, 2, "/b"), MV_OK);
    assert_int_equal(mv_html_printf(&want, "<p>%s %d</p>", "x&y", 7), MV_OK);
    assert_int_equal(mv_buf_puts(&want, "<hr>"), MV_OK);
    assert_int_equal(mv_html_end(&want), MV_OK);
    mv_hw_init(&w, &got);
    mv_hw_begin(&w, "app", "T<", links, 2, "/b");
    mv_hw_printf(&w, "<p>%s %d</p>", "x&y", 7);
    mv_hw_raw(&w, "<hr>");
    mv_hw_end(&w);
    assert_int_equal(mv_hw_finish(&w), MV_OK);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.ptr, want.ptr, got.len);
    mv_buf_clear(&got);
    mv_buf_clear(&want);
    /* The first error wins: a write that does not fit fails, and nothing after it is written,
     * not even what would fit. */
    mv_buf_init(&got, 8);
    mv_hw_init(&w, &got);
    mv_hw_raw(&w, "<p>");
    mv_hw_printf(&w, "%s", "<<");
    assert_int_equal(w.rc, MV_ERR_TOO_LARGE);
    size_t len = got.len;
    mv_hw_raw(&w, "x");
    mv_hw_printf(&w, "%d", 1);
    mv_hw_end(&w);
    assert_int_equal(got.len, len);
    assert_int_equal(mv_hw_finish(&w), MV_ERR_TOO_LARGE);
    /* An error stored by the caller stops the page the same way. */
    mv_buf_reset(&got);
    mv_hw_init(&w, &got);
    w.rc = MV_ERR_IO;
    mv_hw_raw(&w, "x");
    assert_int_equal(got.len, 0);
    assert_int_equal(mv_hw_finish(&w), MV_ERR_IO);
    /* Misuse: no buffer, or NULL markup. */
    mv_hw_init(&w, NULL);
    mv_hw_raw(&w, "x");
    assert_int_equal(mv_hw_finish(&w), MV_ERR_INVAL);
    mv_hw_init(&w, &got);
    mv_hw_raw(&w, NULL);
    assert_int_equal(mv_hw_finish(&w), MV_ERR_INVAL);
    mv_buf_clear(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_markup),          cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_escape_errors_and_caps), cmocka_unit_test(test_printf),
        cmocka_unit_test(test_frame),                  cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
