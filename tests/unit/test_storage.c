/* test_storage.c - mv_storage_config_defaults: defaults, every setting read from
 * storage.conf, and refusals (unknown key, value out of range, malformed line) that name the
 * offending line. The HTTP API itself is tested against the real server in
 * tests/integration/test_storage_api.c. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_file.h"
#include "medvault/mv_storage.h"

static void write_conf(const char *dir, const char *text)
{
    char path[512];
    assert_int_equal(mv_path_join(path, sizeof path, dir, "storage.conf"), MV_OK);
    assert_int_equal(mv_file_write_atomic(path, text, strlen(text), 0644), MV_OK);
}

static void test_defaults(void **state)
{
    (void)state;
    mv_storage_config c;
    size_t line = 99;
    assert_int_equal(mv_storage_config_defaults(&c, NULL, &line), MV_OK);
    assert_null(c.dir);
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.skew_seconds, 300);
    assert_int_equal(c.max_body, (size_t)256 << 20);
    assert_true(c.gc_interval_s == 600.0);
    assert_int_equal(c.claim_ttl_s, 3600);
    assert_null(c.listen);
    assert_null(c.port_file);
    assert_true(tu_all_zero(c.hospital_pk, 32));
    /* A directory without storage.conf gives the same. */
    const char *dir = tu_tmpdir();
    assert_int_equal(mv_storage_config_defaults(&c, dir, &line), MV_OK);
    assert_ptr_equal(c.dir, dir);
    assert_int_equal(c.threads, 4);
    assert_int_equal(mv_storage_config_defaults(NULL, dir, &line), MV_ERR_INVAL);
}

static void test_every_setting(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    write_conf(dir, "# storage\nthreads = 7\nskew_seconds = 120\nmax_body = 1048576\n"
                    "gc_interval_seconds = 0\nclaim_ttl_seconds = 5\n");
    mv_storage_config c;
    size_t line = 99;
    assert_int_equal(mv_storage_config_defaults(&c, dir, &line), MV_OK);
    assert_int_equal(c.threads, 7);
    assert_int_equal(c.skew_seconds, 120);
    assert_int_equal(c.max_body, 1048576);
    assert_true(c.gc_interval_s == 0.0);
    assert_int_equal(c.claim_ttl_s, 5);
}

static void test_refusals_name_the_line(void **state)
{
    (void)state;
    static const struct { const char *text; size_t line; } cases[] = {
        {"threads = 2\n\nlisten = 127.0.0.1:1\n", 3},      /* a flag-only setting */
        {"threads = 2\nthreds = 3\n", 2},                  /* misspelt */
        {"threads = 0\n", 1},                               /* below the range */
        {"# x\nthreads = 257\n", 2},                        /* above the range */
        {"skew_seconds = 3601\n", 1},
        {"max_body = 12\n", 1},
        {"gc_interval_seconds = -1\n", 1},                  /* not a whole number */
        {"claim_ttl_seconds = 0\n", 1},
        {"threads = 2\nthis is not a setting\n", 2},        /* syntax */
        {"threads = 2\nthreads = 3\n", 2},                  /* duplicate */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = tu_tmpdir();
        write_conf(dir, cases[i].text);
        mv_storage_config c;
        size_t line = 0;
        assert_int_equal(mv_storage_config_defaults(&c, dir, &line), MV_ERR_PARSE);
        assert_int_equal(line, cases[i].line);
    }
}

static void test_run_refuses_bad_configs(void **state)
{
    (void)state;
    mv_storage_config c;
    assert_int_equal(mv_storage_run(NULL), MV_ERR_INVAL);
    assert_int_equal(mv_storage_config_defaults(&c, tu_tmpdir(), NULL), MV_OK);
    assert_int_equal(mv_storage_run(&c), MV_ERR_INVAL); /* no listen address */
    c.listen = "127.0.0.1:0";
    c.threads = 0;
    assert_int_equal(mv_storage_run(&c), MV_ERR_INVAL);
    c.threads = 1;
    c.gc_interval_s = -1;
    assert_int_equal(mv_storage_run(&c), MV_ERR_INVAL);
    c.gc_interval_s = 0;
    c.claim_ttl_s = 0;
    assert_int_equal(mv_storage_run(&c), MV_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_setting),
        cmocka_unit_test(test_refusals_name_the_line),
        cmocka_unit_test(test_run_refuses_bad_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
