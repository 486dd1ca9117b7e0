/* test_ui.c - the local UI's configuration checks (mv_ui.h): it listens on loopback only and
 * refuses a bad fixed token before touching the network or the user's files. The pages are
 * tested through real processes in tests/integration/test_ui.sh. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_ui.h"

static void test_listen_loopback_only(void **state)
{
    (void)state;
    static const char *const ok[] = {"127.0.0.1:0", "127.0.0.1:8080", "127.1.2.3:65535", "127.255.255.255:1"};
    static const char *const bad[] = {
        "0.0.0.0:0",    "10.0.0.1:80",    "128.0.0.1:80",     "127.0.0.1",       "127.0.0.1:",  "127.0.0:80",
        "127.0.0.1:65536", "127.0.0.256:1", "127.0.0.1:80x",   "localhost:80",    "",            ":80",
        "127.0.0.1:-1", " 127.0.0.1:80",  "127.0.0.1.1:80",   "1127.0.0.1:80",   "127.0.0.1:0080000",
    };
    size_t n_ok = 0, n_bad = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++, n_ok++)
        assert_int_equal(mv_ui_listen_ok(ok[i]), 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++, n_bad++) {
        if (mv_ui_listen_ok(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(n_ok, 4);
    assert_int_equal(n_bad, 17);
    assert_int_equal(mv_ui_listen_ok(NULL), 0);
}

static void test_run_refuses_bad_config(void **state)
{
    (void)state;
    mv_ui_config c = {.deployment_path = "/nonexistent/deployment.json", .user_dir = "/nonexistent/user",
                      .listen = "0.0.0.0:0"};
    assert_int_equal(mv_ui_run(NULL), MV_ERR_INVAL);
    assert_int_equal(mv_ui_run(&c), MV_ERR_INVAL); /* not loopback */
    c.listen = "127.0.0.1:0";
    c.token = "short";
    assert_int_equal(mv_ui_run(&c), MV_ERR_INVAL);
    c.token = "0123456789abcdef0123456789abcdef&x=1";
    assert_int_equal(mv_ui_run(&c), MV_ERR_INVAL);
    c.token = NULL;
    c.user_dir = NULL;
    assert_int_equal(mv_ui_run(&c), MV_ERR_INVAL);
    /* A valid config whose deployment does not exist fails at once (no server started). */
    c.user_dir = "/nonexistent/user";
    c.token = "0123456789abcdef0123456789abcdef";
    assert_int_equal(mv_ui_run(&c), MV_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_loopback_only),
        cmocka_unit_test(test_run_refuses_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
