/* test_addr_limit.c - the hospital's per-address rate limit (src/hospital/addr_limit.c) on a
 * simulated clock: the burst, the refill rate and Retry-After, independence of addresses,
 * refusals that do not extend the wait, a full table that stays bounded and forgets only
 * buckets that refilled first, long addresses, and argument checks. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net/addr_limit.h"
#include "medvault/mv_mem.h"

static void test_burst_and_refill(void **state)
{
    (void)state;
    net_addr_limit *l = NULL;
    uint64_t retry = 0;
    const uint64_t t = 1000000;
    assert_int_equal(net_addr_limit_new(16, 3, 30000, &l), MV_OK);
    /* Three at once, then refused with the wait until the next token. */
    for (int i = 0; i < 3; i++)
        assert_true(net_addr_limit_take(l, "10.0.0.1", t, &retry));
    assert_false(net_addr_limit_take(l, "10.0.0.1", t, &retry));
    assert_int_equal(retry, 30);
    /* Asking again does not push the wait further out. */
    for (int i = 0; i < 100; i++)
        assert_false(net_addr_limit_take(l, "10.0.0.1", t + 1000, &retry));
    assert_int_equal(retry, 29);
    assert_false(net_addr_limit_take(l, "10.0.0.1", t + 29999, &retry));
    assert_int_equal(retry, 1); /* rounded up: never "0 seconds" */
    /* One token per interval. */
    assert_true(net_addr_limit_take(l, "10.0.0.1", t + 30000, &retry));
    assert_false(net_addr_limit_take(l, "10.0.0.1", t + 30000, &retry));
    /* Another address has its own bucket; NULL is the address "". */
    for (int i = 0; i < 3; i++)
        assert_true(net_addr_limit_take(l, "10.0.0.2", t + 30000, NULL));
    assert_false(net_addr_limit_take(l, "10.0.0.2", t + 30000, NULL));
    assert_true(net_addr_limit_take(l, NULL, t, NULL));
    /* After burst * interval of silence the bucket is full again. */
    for (int i = 0; i < 3; i++)
        assert_true(net_addr_limit_take(l, "10.0.0.1", t + 30000 + 3 * 30000, &retry));
    assert_false(net_addr_limit_take(l, "10.0.0.1", t + 30000 + 3 * 30000, &retry));
    net_addr_limit_free(l);
}

/* Burst 1: exactly one request per interval. */
static void test_burst_one(void **state)
{
    (void)state;
    net_addr_limit *l = NULL;
    uint64_t retry = 0;
    assert_int_equal(net_addr_limit_new(4, 1, 1000, &l), MV_OK);
    assert_true(net_addr_limit_take(l, "a", 5000, &retry));
    assert_false(net_addr_limit_take(l, "a", 5999, &retry));
    assert_int_equal(retry, 1);
    assert_true(net_addr_limit_take(l, "a", 6000, &retry));
    net_addr_limit_free(l);
}

/* More addresses than slots: memory stays the table; a limited address keeps its limit while
 * the others that take its place have buckets that refill sooner. */
static void test_table_full(void **state)
{
    (void)state;
    net_addr_limit *l = NULL;
    char addr[32];
    assert_int_equal(net_addr_limit_new(4, 2, 10000, &l), MV_OK);
    /* The attacker empties its bucket first (full again at t + 20 s). */
    assert_true(net_addr_limit_take(l, "attacker", 0, NULL));
    assert_true(net_addr_limit_take(l, "attacker", 0, NULL));
    assert_false(net_addr_limit_take(l, "attacker", 0, NULL));
    /* Three others take one each (full again at +10 s): the table (4) is full. */
    for (int i = 0; i < 3; i++) {
        snprintf(addr, sizeof addr, "10.9.0.%d", i);
        assert_true(net_addr_limit_take(l, addr, 1000, NULL));
    }
    /* A fifth address reuses the slot that refills first (one of the three), not the attacker's. */
    assert_true(net_addr_limit_take(l, "newcomer", 2000, NULL));
    assert_false(net_addr_limit_take(l, "attacker", 2000, NULL));
    /* Once buckets refill their slots are free for anyone. */
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof addr, "10.8.%d.%d", i / 250, i % 250);
        assert_true(net_addr_limit_take(l, addr, 100000 + (uint64_t)i * 20000, NULL));
    }
    net_addr_limit_free(l);
}

/* Addresses longer than NET_ADDR_LIMIT_ADDR_MAX are cut: two differing only beyond it share. */
static void test_long_address(void **state)
{
    (void)state;
    net_addr_limit *l = NULL;
    char a[100], b[100];
    memset(a, 'x', sizeof a);
    a[sizeof a - 1] = 0;
    memcpy(b, a, sizeof b);
    b[80] = 'y';
    assert_int_equal(net_addr_limit_new(4, 1, 1000, &l), MV_OK);
    assert_true(net_addr_limit_take(l, a, 0, NULL));
    assert_false(net_addr_limit_take(l, b, 0, NULL));
    net_addr_limit_free(l);
}

static void test_arguments(void **state)
{
    (void)state;
    net_addr_limit *l = NULL;
    assert_int_equal(net_addr_limit_new(0, 1, 1, &l), MV_ERR_INVAL);
    assert_null(l);
    assert_int_equal(net_addr_limit_new(1, 0, 1, &l), MV_ERR_INVAL);
    assert_int_equal(net_addr_limit_new(1, 1, 0, &l), MV_ERR_INVAL);
    assert_int_equal(net_addr_limit_new(1, 1, 86400001, &l), MV_ERR_INVAL);
    assert_int_equal(net_addr_limit_new(((size_t)1 << 20) + 1, 1, 1, &l), MV_ERR_INVAL);
    assert_int_equal(net_addr_limit_new(1, 1, 1, NULL), MV_ERR_INVAL);
    assert_false(net_addr_limit_take(NULL, "a", 0, NULL));
    net_addr_limit_free(NULL);
    /* Out of memory: nothing leaks, *out stays NULL. */
    for (size_t n = 0; n < 2; n++) {
        mv_mem_fail_after(n);
        assert_int_equal(net_addr_limit_new(8, 1, 1, &l), MV_ERR_NOMEM);
        mv_mem_fail_after(SIZE_MAX);
        assert_null(l);
    }
    uint64_t a = net_addr_limit_now_ms(), b = net_addr_limit_now_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_and_refill), cmocka_unit_test(test_burst_one),
        cmocka_unit_test(test_table_full),       cmocka_unit_test(test_long_address),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
