/* test_json_pins.c - the exact bytes of JSON documents that other programs read or that are
 * compared byte for byte (alerts on the wire, metadata the decoy must mirror, --json output).
 * Each expectation was taken from the hand-written code before it moved to the mv_jw writer,
 * so a writer change that alters one byte fails here. */
#include "testutil.h"
#include <string.h>
#include "medvault/mv_alert.h"
#include "medvault/mv_buf.h"

static void test_alert(void **state)
{
    (void)state;
    static const uint8_t pk[32] = {0xab, 0x01};
    mv_alert a;
    mv_buf b;
    mv_alert_fill(&a, 1795247509, "storage", "honeytoken", pk, "127.0.0.1", "rec\"1", "honeytoken read");
    mv_buf_init(&b, 4096);
    assert_int_equal(mv_alert_to_json(&a, 3, &b), MV_OK);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    assert_string_equal((char *)b.ptr,
                        "{\"at\":1795247509,\"source\":\"storage\",\"kind\":\"honeytoken\",\"principal\":"
                        "\"ab01000000000000000000000000000000000000000000000000000000000000\","
                        "\"address\":\"127.0.0.1\",\"object\":\"rec\\\"1\",\"reason\":\"honeytoken read\",\"count\":3}");
    /* An unknown principal is the empty string, not null. */
    mv_alert_fill(&a, 0, "decoy", "decoy_served", NULL, "", "", "");
    mv_buf_reset(&b);
    assert_int_equal(mv_alert_to_json(&a, 0, &b), MV_OK);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    assert_string_equal((char *)b.ptr, "{\"at\":0,\"source\":\"decoy\",\"kind\":\"decoy_served\",\"principal\":\"\","
                                       "\"address\":\"\",\"object\":\"\",\"reason\":\"\",\"count\":0}");
    /* The cap still holds: a buffer too small for the object is MV_ERR_TOO_LARGE. */
    mv_buf_clear(&b);
    mv_buf_init(&b, 16);
    assert_int_equal(mv_alert_to_json(&a, 0, &b), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
