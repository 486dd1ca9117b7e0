/* test_config.c - mv_config: the `key = value` daemon configuration format (mv_config.h). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_config.h"
#include "medvault/mv_mem.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static mv_config *parse_ok(const char *text, size_t len)
{
    mv_config *c = NULL;
    size_t line = 0;
    mv_err rc = mv_config_parse(text, len, &c, &line);
    if (rc != MV_OK)
        fail_msg("unexpected %s on line %zu", mv_strerror(rc), line);
    assert_non_null(c);
    return c;
}

/* Expects rc on line `want_line` for text. */
static void expect_err(const char *text, size_t len, mv_err want, size_t want_line)
{
    mv_config *c = (mv_config *)(uintptr_t)1;
    size_t line = 999;
    mv_err rc = mv_config_parse(text, len, &c, &line);
    if (rc != want || line != want_line)
        fail_msg("got %s on line %zu, want %s on line %zu for: %.*s", mv_strerror(rc), line,
                 mv_strerror(want), want_line, (int)len, text);
    assert_null(c);
}

static void test_basic(void **state)
{
    (void)state;
    const char *text = "# medvault key server\n"
                       "\n"
                       "listen = 127.0.0.1:8443\n"
                       "  data_dir=/var/lib/medvault   \n"
                       "\tlog.level\t=\tinfo\t\n"
                       "   # indented comment\n"
                       "empty =\n"
                       "hash = a#b # not a comment\n"
                       "quoted = \"  spaced \\\"q\\\" back\\\\slash  \"  \n"
                       "eq = a=b=c\n"
                       "utf8 = caf\xc3\xa9 \xe2\x82\xac\n"
                       "crlf = yes\r\n"
                       "last-key_2 = 42";
    mv_config *c = parse_ok(text, strlen(text));
    assert_int_equal(mv_config_count(c), 10);
    assert_string_equal(mv_config_get(c, "listen"), "127.0.0.1:8443");
    assert_int_equal(mv_config_line(c, "listen"), 3);
    assert_string_equal(mv_config_get(c, "data_dir"), "/var/lib/medvault");
    assert_string_equal(mv_config_get(c, "log.level"), "info");
    assert_int_equal(mv_config_line(c, "log.level"), 5);
    assert_string_equal(mv_config_get(c, "empty"), "");
    assert_string_equal(mv_config_get(c, "hash"), "a#b # not a comment");
    assert_string_equal(mv_config_get(c, "quoted"), "  spaced \"q\" back\\slash  ");
    assert_string_equal(mv_config_get(c, "eq"), "a=b=c");
    assert_string_equal(mv_config_get(c, "utf8"), "caf\xc3\xa9 \xe2\x82\xac");
    assert_string_equal(mv_config_get(c, "crlf"), "yes");
    assert_string_equal(mv_config_get(c, "last-key_2"), "42");
    assert_int_equal(mv_config_line(c, "last-key_2"), 13);
    assert_null(mv_config_get(c, "absent"));
    assert_null(mv_config_get(c, "Listen"));
    assert_null(mv_config_get(c, "# medvault key server"));
    assert_int_equal(mv_config_line(c, "absent"), 0);
    assert_null(mv_config_get(c, NULL));
    assert_null(mv_config_get(NULL, "listen"));
    assert_int_equal(mv_config_count(NULL), 0);
    mv_config_free(c);
    mv_config_free(NULL);

    /* Empty input and comment-only input are valid and empty. */
    c = parse_ok("", 0);
    assert_int_equal(mv_config_count(c), 0);
    assert_null(mv_config_get(c, "a"));
    mv_config_free(c);
    c = parse_ok(S("# only\n\n   \n\t\n"));
    assert_int_equal(mv_config_count(c), 0);
    mv_config_free(c);
    /* Quoted empty string; quote characters inside an unquoted value are literal. */
    c = parse_ok(S("a = \"\"\nb = say \"hi\"\nc=\"#\" \n"));
    assert_string_equal(mv_config_get(c, "a"), "");
    assert_string_equal(mv_config_get(c, "b"), "say \"hi\"");
    assert_string_equal(mv_config_get(c, "c"), "#");
    mv_config_free(c);
    /* Not NUL-terminated: bytes past len are not read. */
    const char buf[] = {'a', '=', '1', '2'};
    c = parse_ok(buf, 3);
    assert_string_equal(mv_config_get(c, "a"), "1");
    mv_config_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_err(S("a = 1\nnovalue\n"), MV_ERR_PARSE, 2);
    expect_err(S("= 1\n"), MV_ERR_PARSE, 1);
    expect_err(S("Upper = 1\n"), MV_ERR_PARSE, 1);
    expect_err(S("a b = 1\n"), MV_ERR_PARSE, 1);
    expect_err(S("a/b = 1\n"), MV_ERR_PARSE, 1);
    expect_err(S("a: 1\n"), MV_ERR_PARSE, 1);
    expect_err(S("k\xc3\xa9y = 1\n"), MV_ERR_PARSE, 1);
    expect_err(S("a = \"open\n"), MV_ERR_PARSE, 1);
    expect_err(S("a = \"x\" y\n"), MV_ERR_PARSE, 1);
    expect_err(S("a = \"bad \\n escape\"\n"), MV_ERR_PARSE, 1);
    expect_err(S("a = \"trailing backslash \\\n"), MV_ERR_PARSE, 1);
    expect_err(S("\n\n\na = 1\nb = 2\na = 3\n"), MV_ERR_PARSE, 6);  /* duplicate */
    expect_err(S("x=1\na=1\nb=1\nb=2\na=2\n"), MV_ERR_PARSE, 4);     /* first repeat */
    expect_err(S("a = 1\nb = x\x01y\n"), MV_ERR_PARSE, 2);           /* control char */
    expect_err(S("a = 1\nb = x\x7fy\n"), MV_ERR_PARSE, 2);           /* DEL */
    expect_err("a = 1\nb = x\0y\n", 12, MV_ERR_PARSE, 2);            /* NUL */
    expect_err(S("a = 1\rb = 2\n"), MV_ERR_PARSE, 1);                /* bare CR */
    expect_err(S("# \xc0\x80 comment\n"), MV_ERR_PARSE, 1);          /* overlong, even in a comment */
    expect_err(S("a = \xed\xa0\x80\n"), MV_ERR_PARSE, 1);            /* surrogate */
    expect_err(S("a = \xf4\x90\x80\x80\n"), MV_ERR_PARSE, 1);        /* > U+10FFFF */
    expect_err(S("a = 1\nb = \xe2\x82"), MV_ERR_PARSE, 2);           /* truncated */
    expect_err(S("\xef\xbb\xbf" "a = 1\n"), MV_ERR_PARSE, 1);        /* BOM is not a key */

    mv_config *c = NULL;
    size_t line = 7;
    assert_int_equal(mv_config_parse(NULL, 1, &c, &line), MV_ERR_INVAL);
    assert_int_equal(mv_config_parse(NULL, 0, &c, &line), MV_ERR_INVAL);
    assert_int_equal(mv_config_parse("a=1", 3, NULL, &line), MV_ERR_INVAL);
    assert_int_equal(mv_config_load(NULL, &c, &line), MV_ERR_INVAL);
}

static void test_caps(void **state)
{
    (void)state;
    /* Line cap: 4096 bytes without the line end (LF or CRLF) is fine, 4097 is not. */
    char *t = mv_malloc(MV_CONFIG_MAX_BYTES + 2);
    assert_non_null(t);
    size_t n = 0;
    memcpy(t, "a=1\nk = ", 8);
    n = 8;
    memset(t + n, 'v', MV_CONFIG_MAX_LINE - 4);
    n += MV_CONFIG_MAX_LINE - 4;
    t[n++] = '\r';
    t[n++] = '\n';
    mv_config *c = parse_ok(t, n);
    assert_int_equal(strlen(mv_config_get(c, "k")), MV_CONFIG_MAX_LINE - 4);
    mv_config_free(c);
    t[n - 2] = 'v'; /* now 4097 bytes on line 2 */
    expect_err(t, n - 1, MV_ERR_TOO_LARGE, 2);
    /* File cap: exactly 1 MiB of comment lines is fine, one byte more is not. */
    memset(t, '#', MV_CONFIG_MAX_BYTES + 1);
    for (size_t i = 100; i < MV_CONFIG_MAX_BYTES; i += 101)
        t[i] = '\n';
    c = parse_ok(t, MV_CONFIG_MAX_BYTES);
    assert_int_equal(mv_config_count(c), 0);
    mv_config_free(c);
    expect_err(t, MV_CONFIG_MAX_BYTES + 1, MV_ERR_TOO_LARGE, 0);
    /* Many keys (sorted duplicate check and lookup). */
    n = 0;
    for (size_t i = 0; i < 50000; i++)
        n += (size_t)snprintf(t + n, 64, "key%zu = %zu\n", i, i * 7);
    c = parse_ok(t, n);
    assert_int_equal(mv_config_count(c), 50000);
    assert_string_equal(mv_config_get(c, "key31337"), "219359");
    assert_int_equal(mv_config_line(c, "key31337"), 31338);
    mv_config_free(c);
    n += (size_t)snprintf(t + n, 64, "key25000 = dup\n");
    expect_err(t, n, MV_ERR_PARSE, 50001);
    mv_free(t);
}

static void test_u64(void **state)
{
    (void)state;
    mv_config *c = parse_ok(S("port = 8443\nmax = 18446744073709551615\nover = 18446744073709551616\n"
                              "neg = -1\nplus = +1\nhex = 0x10\nsp = \"1 \"\nempty =\nzero = 0\nlead = 007\n"
                              "frac = 1.5\n"));
    uint64_t v = 77;
    assert_int_equal(mv_config_get_u64(c, "port", 1, 1, 65535, &v), MV_OK);
    assert_true(v == 8443);
    assert_int_equal(mv_config_get_u64(c, "max", 0, 0, UINT64_MAX, &v), MV_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(mv_config_get_u64(c, "zero", 5, 0, 10, &v), MV_OK);
    assert_true(v == 0);
    assert_int_equal(mv_config_get_u64(c, "lead", 5, 0, 10, &v), MV_OK);
    assert_true(v == 7);
    assert_int_equal(mv_config_get_u64(c, "absent", 1234, 1, 10, &v), MV_OK);
    assert_true(v == 1234); /* the default is not range-checked */
    v = 77;
    const char *bad[] = {"over", "neg", "plus", "hex", "sp", "empty", "frac"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mv_config_get_u64(c, bad[i], 0, 0, UINT64_MAX, &v), MV_ERR_PARSE);
        assert_true(v == 77);
    }
    assert_int_equal(mv_config_get_u64(c, "port", 1, 1, 8442, &v), MV_ERR_INVAL);
    assert_int_equal(mv_config_get_u64(c, "port", 1, 8444, 9000, &v), MV_ERR_INVAL);
    assert_int_equal(mv_config_get_u64(c, "port", 1, 8443, 8443, &v), MV_OK);
    assert_int_equal(mv_config_get_u64(c, "port", 1, 1, 2, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_config_get_u64(NULL, "port", 1, 1, 2, &v), MV_ERR_INVAL);
    mv_config_free(c);
}

static void test_bool(void **state)
{
    (void)state;
    mv_config *c = parse_ok(S("a = true\nb = YES\nc = 1\nd = False\ne = no\nf = 0\n"
                              "g = on\nh = 2\ni = \nj = truex\nk = \"true \"\n"));
    int v = 5;
    const char *t[] = {"a", "b", "c"}, *f[] = {"d", "e", "f"}, *bad[] = {"g", "h", "i", "j", "k"};
    for (size_t i = 0; i < 3; i++) {
        v = 5;
        assert_int_equal(mv_config_get_bool(c, t[i], 0, &v), MV_OK);
        assert_int_equal(v, 1);
        v = 5;
        assert_int_equal(mv_config_get_bool(c, f[i], 1, &v), MV_OK);
        assert_int_equal(v, 0);
    }
    v = 5;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mv_config_get_bool(c, bad[i], 1, &v), MV_ERR_PARSE);
        assert_int_equal(v, 5);
    }
    assert_int_equal(mv_config_get_bool(c, "absent", 7, &v), MV_OK);
    assert_int_equal(v, 1);
    assert_int_equal(mv_config_get_bool(c, "absent", 0, &v), MV_OK);
    assert_int_equal(v, 0);
    assert_int_equal(mv_config_get_bool(c, "a", 0, NULL), MV_ERR_INVAL);
    mv_config_free(c);
}

static void test_check_keys(void **state)
{
    (void)state;
    static const char *const allowed[] = {"listen", "data_dir", "log.level", NULL};
    static const char *const none[] = {NULL};
    mv_config *c = parse_ok(S("listen = x\ndata_dir = y\n"));
    const char *bad = "sentinel";
    assert_int_equal(mv_config_check_keys(c, allowed, &bad), MV_OK);
    assert_null(bad);
    assert_int_equal(mv_config_check_keys(c, none, &bad), MV_ERR_PARSE);
    assert_string_equal(bad, "listen");
    assert_int_equal(mv_config_check_keys(c, NULL, &bad), MV_ERR_INVAL);
    mv_config_free(c);

    /* A typo is reported by name and line; the first unknown key in file order wins. */
    c = parse_ok(S("listen = x\n# c\ndata_dri = y\nzzz = 1\nlog.level = 2\n"));
    assert_int_equal(mv_config_check_keys(c, allowed, &bad), MV_ERR_PARSE);
    assert_string_equal(bad, "data_dri");
    assert_int_equal(mv_config_line(c, bad), 3);
    assert_int_equal(mv_config_check_keys(c, allowed, NULL), MV_ERR_PARSE);
    mv_config_free(c);

    c = parse_ok("", 0);
    assert_int_equal(mv_config_check_keys(c, none, &bad), MV_OK);
    mv_config_free(c);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_load(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512], big[512], bad[512];
    snprintf(path, sizeof path, "%s/ok.conf", dir);
    snprintf(big, sizeof big, "%s/big.conf", dir);
    snprintf(bad, sizeof bad, "%s/bad.conf", dir);
    write_file(path, S("# test\nlisten = 127.0.0.1:9000\nworkers = 4\n"));
    mv_config *c = NULL;
    size_t line = 9;
    assert_int_equal(mv_config_load(path, &c, &line), MV_OK);
    assert_string_equal(mv_config_get(c, "listen"), "127.0.0.1:9000");
    uint64_t w = 0;
    assert_int_equal(mv_config_get_u64(c, "workers", 1, 1, 64, &w), MV_OK);
    assert_true(w == 4);
    mv_config_free(c);

    write_file(bad, S("a = 1\n\nb c\n"));
    assert_int_equal(mv_config_load(bad, &c, &line), MV_ERR_PARSE);
    assert_int_equal(line, 3);
    assert_null(c);

    /* Larger than the file cap (a file read through several chunks). */
    char *t = mv_malloc(MV_CONFIG_MAX_BYTES + 1);
    assert_non_null(t);
    memset(t, '\n', MV_CONFIG_MAX_BYTES + 1);
    write_file(big, t, MV_CONFIG_MAX_BYTES + 1);
    assert_int_equal(mv_config_load(big, &c, &line), MV_ERR_TOO_LARGE);
    assert_int_equal(line, 0);
    write_file(big, t, MV_CONFIG_MAX_BYTES);
    assert_int_equal(mv_config_load(big, &c, &line), MV_OK);
    assert_int_equal(mv_config_count(c), 0);
    mv_config_free(c);
    mv_free(t);

    char missing[512];
    snprintf(missing, sizeof missing, "%s/missing.conf", dir);
    assert_int_equal(mv_config_load(missing, &c, &line), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_config_load(dir, &c, &line), MV_ERR_IO); /* a directory */
    assert_null(c);

    unlink(path);
    unlink(bad);
    unlink(big);
    rmdir(dir);
}

/* Fault injection: fail each allocation in turn until parsing succeeds. */
static void test_alloc_failure(void **state)
{
    (void)state;
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "key%d = \"value %d\"\n", i, i);
    size_t fails = 0;
    mv_config *c = NULL;
    for (size_t k = 0;; k++) {
        size_t line = 5;
        mv_mem_fail_after(k);
        mv_err rc = mv_config_parse(text, n, &c, &line);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK)
            break;
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_int_equal(line, 0);
        assert_null(c);
        fails++;
        assert_true(k < 1000);
    }
    assert_true(fails >= 4); /* config, arena, entries (grown twice), sorted index */
    assert_string_equal(mv_config_get(c, "key39"), "value 39");
    mv_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),     cmocka_unit_test(test_errors),     cmocka_unit_test(test_caps),
        cmocka_unit_test(test_u64),       cmocka_unit_test(test_bool),       cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_load),      cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
