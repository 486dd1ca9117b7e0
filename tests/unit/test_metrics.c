/* test_metrics.c - the Prometheus registry (mv_metrics.h): exact exposition text (format
 * 0.0.4), validation of names and labels, caps, and concurrent updates. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_metrics.h"

static void test_render_exact(void **state)
{
    (void)state;
    mv_metrics *m = NULL;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_metrics_new(&m), MV_OK);
    assert_int_equal(mv_metrics_counter_add(m, "x_requests_total", "Requests.\nBy code \\ all", "code=\"200\"", 2),
                     MV_OK);
    assert_int_equal(mv_metrics_counter_add(m, "x_requests_total", "ignored", "code=\"400\"", 1), MV_OK);
    assert_int_equal(mv_metrics_counter_add(m, "x_requests_total", NULL, "code=\"200\"", 3), MV_OK);
    assert_int_equal(mv_metrics_gauge_set(m, "x_up", "Up.", NULL, 1.5), MV_OK);
    assert_int_equal(mv_metrics_gauge_set(m, "x_up", "Up.", "a=\"q\\\"\\\\\\n\"", NAN), MV_OK);
    assert_int_equal(mv_metrics_gauge_set(m, "x_up", "Up.", "a=\"inf\"", -INFINITY), MV_OK);
    assert_int_equal(mv_metrics_histogram_observe(m, "x_seconds", "Latency.", NULL, 0.003), MV_OK);
    assert_int_equal(mv_metrics_histogram_observe(m, "x_seconds", "Latency.", NULL, 0.25), MV_OK);
    assert_int_equal(mv_metrics_histogram_observe(m, "x_seconds", "Latency.", NULL, 20), MV_OK);
    assert_int_equal(mv_metrics_histogram_observe(m, "x_seconds", "Latency.", "r=\"a\"", 0.0005), MV_OK);
    assert_int_equal(mv_metrics_render(m, &b), MV_OK);
    const char *want =
        "# HELP x_requests_total Requests.\\nBy code \\\\ all\n"
        "# TYPE x_requests_total counter\n"
        "x_requests_total{code=\"200\"} 5\n"
        "x_requests_total{code=\"400\"} 1\n"
        "# HELP x_up Up.\n"
        "# TYPE x_up gauge\n"
        "x_up 1.5\n"
        "x_up{a=\"q\\\"\\\\\\n\"} NaN\n"
        "x_up{a=\"inf\"} -Inf\n"
        "# HELP x_seconds Latency.\n"
        "# TYPE x_seconds histogram\n"
        "x_seconds_bucket{le=\"0.0005\"} 0\n"
        "x_seconds_bucket{le=\"0.001\"} 0\n"
        "x_seconds_bucket{le=\"0.0025\"} 0\n"
        "x_seconds_bucket{le=\"0.005\"} 1\n"
        "x_seconds_bucket{le=\"0.01\"} 1\n"
        "x_seconds_bucket{le=\"0.025\"} 1\n"
        "x_seconds_bucket{le=\"0.05\"} 1\n"
        "x_seconds_bucket{le=\"0.1\"} 1\n"
        "x_seconds_bucket{le=\"0.25\"} 2\n"
        "x_seconds_bucket{le=\"0.5\"} 2\n"
        "x_seconds_bucket{le=\"1\"} 2\n"
        "x_seconds_bucket{le=\"2.5\"} 2\n"
        "x_seconds_bucket{le=\"5\"} 2\n"
        "x_seconds_bucket{le=\"10\"} 2\n"
        "x_seconds_bucket{le=\"+Inf\"} 3\n"
        "x_seconds_sum 20.253\n"
        "x_seconds_count 3\n"
        "x_seconds_bucket{r=\"a\",le=\"0.0005\"} 1\n";
    assert_true(b.len > strlen(want));
    assert_memory_equal(b.ptr, want, strlen(want));
    assert_non_null(strstr((char *)b.ptr, "x_seconds_bucket{r=\"a\",le=\"+Inf\"} 1\nx_seconds_sum{r=\"a\"} "
                                          "0.00050000000000000001\nx_seconds_count{r=\"a\"} 1\n"));
    /* HELP/TYPE exactly once per family. */
    size_t helps = 0;
    for (const char *p = (char *)b.ptr; (p = strstr(p, "# TYPE ")); p++)
        helps++;
    assert_int_equal(helps, 3);
    /* Output cap: refused and the buffer is unchanged. */
    mv_buf small;
    mv_buf_init(&small, 100);
    assert_int_equal(mv_buf_puts(&small, "keep"), MV_OK);
    assert_int_equal(mv_metrics_render(m, &small), MV_ERR_TOO_LARGE);
    assert_int_equal(small.len, 4);
    assert_string_equal((char *)small.ptr, "keep");
    mv_buf_clear(&small);
    mv_buf_clear(&b);
    mv_metrics_free(m);
}

static void test_validation_and_caps(void **state)
{
    (void)state;
    mv_metrics *m = NULL;
    assert_int_equal(mv_metrics_new(&m), MV_OK);
    static const char *bad_names[] = {"", "1abc", "a-b", "a b", "a{", "é"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        assert_int_equal(mv_metrics_counter_add(m, bad_names[i], NULL, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_metrics_counter_add(m, NULL, NULL, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_metrics_counter_add(m, ":ok_name:1", NULL, NULL, 1), MV_OK);
    static const char *bad_labels[] = {"code=200",   "code=\"200",   "code=\"2\"x",   "=\"1\"",
                                       "a=\"1\",",   "a=\"\\x\"",    "a=\"\n\"",      "__a=\"1\"",
                                       "a b=\"1\"",  "a=\"1\"b=\"2\"", "a=\"1\\\"", "1a=\"1\""};
    for (size_t i = 0; i < sizeof bad_labels / sizeof *bad_labels; i++)
        if (mv_metrics_counter_add(m, "c", NULL, bad_labels[i], 1) != MV_ERR_INVAL)
            fail_msg("label set %zu accepted", i);
    assert_int_equal(mv_metrics_counter_add(m, "c", NULL, "a=\"\",b_2=\"x y\"", 1), MV_OK);
    assert_int_equal(mv_metrics_histogram_observe(m, "h", NULL, "le=\"1\"", 1), MV_ERR_INVAL);
    assert_int_equal(mv_metrics_histogram_observe(m, "h", NULL, NULL, NAN), MV_ERR_INVAL);
    assert_int_equal(mv_metrics_counter_add(m, "le_ok", NULL, "le=\"1\"", 1), MV_OK);
    /* One name, one type. */
    assert_int_equal(mv_metrics_gauge_set(m, "c", NULL, NULL, 1), MV_ERR_INVAL);
    /* Length caps. */
    char longname[MV_METRICS_MAX_NAME + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(mv_metrics_counter_add(m, longname, NULL, NULL, 1), MV_ERR_TOO_LARGE);
    /* Counters saturate. */
    assert_int_equal(mv_metrics_counter_add(m, "sat", NULL, NULL, UINT64_MAX - 1), MV_OK);
    assert_int_equal(mv_metrics_counter_add(m, "sat", NULL, NULL, 5), MV_OK);
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_metrics_render(m, &b), MV_OK);
    assert_non_null(strstr((char *)b.ptr, "\nsat 18446744073709551615\n"));
    mv_buf_clear(&b);
    /* Series cap. */
    size_t made = 0;
    mv_err rc = MV_OK;
    for (size_t i = 0; i < MV_METRICS_MAX_SERIES + 10 && rc == MV_OK; i++) {
        char l[32];
        snprintf(l, sizeof l, "i=\"%zu\"", i);
        rc = mv_metrics_counter_add(m, "many", NULL, l, 1);
        made += rc == MV_OK;
    }
    assert_int_equal(rc, MV_ERR_TOO_LARGE);
    assert_int_equal(made, MV_METRICS_MAX_SERIES - 4); /* 4 series existed before */
    /* Existing series still update at the cap. */
    assert_int_equal(mv_metrics_counter_add(m, "many", NULL, "i=\"0\"", 1), MV_OK);
    mv_metrics_free(m);
    mv_metrics_free(NULL);
}

static void *bump(void *p)
{
    mv_metrics *m = p;
    for (int i = 0; i < 1000; i++) {
        if (mv_metrics_counter_add(m, "t_total", "t", (i & 1) ? "k=\"odd\"" : "k=\"even\"", 1) != MV_OK ||
            mv_metrics_histogram_observe(m, "t_seconds", "t", NULL, 0.001) != MV_OK)
            return p;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    mv_metrics *m = NULL;
    assert_int_equal(mv_metrics_new(&m), MV_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bump, m), 0);
    for (int i = 0; i < 4; i++) {
        void *r = (void *)1;
        assert_int_equal(pthread_join(th[i], &r), 0);
        assert_null(r);
    }
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_metrics_render(m, &b), MV_OK);
    assert_non_null(strstr((char *)b.ptr, "t_total{k=\"even\"} 2000\n"));
    assert_non_null(strstr((char *)b.ptr, "t_total{k=\"odd\"} 2000\n"));
    assert_non_null(strstr((char *)b.ptr, "t_seconds_bucket{le=\"0.001\"} 4000\n"));
    assert_non_null(strstr((char *)b.ptr, "t_seconds_count 4000\n"));
    mv_buf_clear(&b);
    mv_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_validation_and_caps),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
