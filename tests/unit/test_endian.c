/* test_endian.c - the byte order helpers and the bounds-checked cursor of core/endian.h, the
 * one reader that net/frames.c and the decoy codec and shape store share: values come out
 * little-endian and in order, and a read that does not fit fails without consuming a byte. */
#include "testutil.h"

#include <string.h>

#include "core/endian.h"

static void test_le_round_trip(void **state)
{
    (void)state;
    uint8_t b[8];
    mv_le_put(b, 0x0102, 2);
    assert_int_equal(b[0], 0x02);
    assert_int_equal(b[1], 0x01);
    mv_le_put(b, 0x01020304u, 4);
    assert_memory_equal(b, "\x04\x03\x02\x01", 4);
    mv_le_put(b, 0x0102030405060708ull, 8);
    assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    assert_true(mv_le_get(b, 8) == 0x0102030405060708ull);
    assert_int_equal(mv_le_get(b, 4), 0x05060708u);
    assert_int_equal(mv_le_get(b, 2), 0x0708);
    mv_le_put(b, UINT64_MAX, 8);
    assert_true(mv_le_get(b, 8) == UINT64_MAX);
    /* Big-endian, the order of the signed formats, is the mirror image. */
    mv_be64_put(b, 0x0102030405060708ull);
    assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_true(mv_be64_get(b) == 0x0102030405060708ull);
}

static void test_reads_in_order(void **state)
{
    (void)state;
    static const uint8_t in[] = {0xaa, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 'x', 'y'};
    mv_rd r;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    const uint8_t *p;
    mv_rd_init(&r, in, sizeof in);
    assert_int_equal(mv_rd_u8(&r, &u8), 0);
    assert_int_equal(u8, 0xaa);
    assert_int_equal(mv_rd_u16(&r, &u16), 0);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(mv_rd_u32(&r, &u32), 0);
    assert_int_equal(u32, 0x12345678u);
    assert_int_equal(mv_rd_u64(&r, &u64), 0);
    assert_true(u64 == 0x0807060504030201ull);
    assert_int_equal(mv_rd_bytes(&r, 2, &p), 0);
    assert_ptr_equal(p, in + 15);
    assert_int_equal(r.left, 0);
    /* Empty reads succeed at the end; nothing else does. */
    assert_int_equal(mv_rd_bytes(&r, 0, &p), 0);
    assert_int_equal(mv_rd_u8(&r, &u8), -1);
}

/* Each getter on one byte too few: -1, the cursor and the output untouched. */
static void test_short_reads_consume_nothing(void **state)
{
    (void)state;
    static const uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    mv_rd r;
    uint16_t u16 = 7;
    uint32_t u32 = 7;
    uint64_t u64 = 7;
    const uint8_t *p = NULL;

    mv_rd_init(&r, in, 1);
    assert_int_equal(mv_rd_u16(&r, &u16), -1);
    assert_int_equal(u16, 7);
    assert_ptr_equal(r.p, in);
    assert_int_equal(r.left, 1);

    mv_rd_init(&r, in, 3);
    assert_int_equal(mv_rd_u32(&r, &u32), -1);
    assert_int_equal(u32, 7);
    assert_ptr_equal(r.p, in);
    assert_int_equal(r.left, 3);

    mv_rd_init(&r, in, 7);
    assert_int_equal(mv_rd_u64(&r, &u64), -1);
    assert_true(u64 == 7);
    assert_ptr_equal(r.p, in);
    assert_int_equal(r.left, 7);

    /* A length near SIZE_MAX (a hostile count times a size) cannot wrap the check. */
    assert_int_equal(mv_rd_bytes(&r, SIZE_MAX, &p), -1);
    assert_null(p);
    assert_int_equal(r.left, 7);
    assert_int_equal(mv_rd_bytes(&r, 8, &p), -1);
    assert_int_equal(mv_rd_bytes(&r, 7, &p), 0);
    assert_ptr_equal(p, in);
    assert_int_equal(r.left, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_le_round_trip),
        cmocka_unit_test(test_reads_in_order),
        cmocka_unit_test(test_short_reads_consume_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
