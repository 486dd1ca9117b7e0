/* test_core.c - mv_err, mv_mem, mv_buf, the hex/base64 codecs and the monotonic clock. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_err.h"
#include "medvault/mv_mem.h"

static void test_strerror_all(void **state)
{
    (void)state;
    for (int e = MV_OK; e <= MV_ERR_HTTP; e++) {
        const char *m = mv_strerror((mv_err)e);
        assert_non_null(m);
        assert_string_not_equal(m, "unknown error");
    }
    assert_string_equal(mv_strerror((mv_err)999), "unknown error");
}

static void test_buf_cap(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 10);
    assert_int_equal(mv_buf_append(&b, "12345", 5), MV_OK);
    assert_int_equal(mv_buf_printf(&b, "%d", 6789), MV_OK);
    assert_int_equal(b.len, 9);
    assert_string_equal((char *)b.ptr, "123456789");
    /* Past the cap: refused, buffer unchanged. */
    assert_int_equal(mv_buf_append(&b, "ab", 2), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_buf_printf(&b, "%s", "xy"), MV_ERR_TOO_LARGE);
    assert_int_equal(b.len, 9);
    assert_string_equal((char *)b.ptr, "123456789");
    assert_int_equal(mv_buf_append(&b, "0", 1), MV_OK);
    size_t n = 0;
    uint8_t *p = mv_buf_steal(&b, &n);
    assert_int_equal(n, 10);
    assert_memory_equal(p, "1234567890", 10);
    assert_null(b.ptr);
    mv_free(p);
    mv_buf_clear(&b);
}

static void test_buf_alloc_failure(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    mv_mem_fail_after(0);
    assert_int_equal(mv_buf_append(&b, "x", 1), MV_ERR_NOMEM);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(b.len, 0);
    assert_int_equal(mv_buf_append(&b, "x", 1), MV_OK);
    mv_buf_clear(&b);
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t in[4] = {0x00, 0xab, 0xCD, 0xff}, out[4];
    char hex[9];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, in, 4), MV_OK);
    assert_string_equal(hex, "00abcdff");
    assert_int_equal(mv_hex_encode(hex, 8, in, 4), MV_ERR_INVAL);
    assert_int_equal(mv_hex_decode_exact(out, 4, "00ABcdff", 8), MV_OK);
    assert_memory_equal(in, out, 4);
    assert_int_equal(mv_hex_decode_exact(out, 4, "00abcdf", 7), MV_ERR_PARSE);
    assert_int_equal(mv_hex_decode_exact(out, 4, "00abcdfg", 8), MV_ERR_PARSE);
    assert_int_equal(mv_hex_decode_exact(out, 3, "00abcdff", 8), MV_ERR_PARSE);
    size_t n = 0;
    assert_int_equal(mv_hex_decode(out, 4, &n, "", 0), MV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(mv_hex_decode(out, 1, &n, "0011", 4), MV_ERR_TOO_LARGE);
}

/* mv_is_lower_hex: exactly n lowercase hex digits, nothing before the NUL and nothing after. */
static void test_is_lower_hex(void **state)
{
    (void)state;
    assert_int_equal(mv_is_lower_hex("0123456789abcdef0123456789abcdef", 32), 1);
    assert_int_equal(mv_is_lower_hex("0123456789abcdef0123456789abcdeF", 32), 0); /* uppercase */
    assert_int_equal(mv_is_lower_hex("0123456789abcdef0123456789abcde", 32), 0);  /* one short */
    assert_int_equal(mv_is_lower_hex("0123456789abcdef0123456789abcdef0", 32), 0); /* one long */
    assert_int_equal(mv_is_lower_hex("0123456789abcdef0123456789abcdeg", 32), 0);
    assert_int_equal(mv_is_lower_hex("0123456789abcdef 123456789abcdef", 32), 0);
    assert_int_equal(mv_is_lower_hex("", 0), 0);
    assert_int_equal(mv_is_lower_hex(NULL, 32), 0);
    assert_int_equal(mv_is_lower_hex("ab", 2), 1);
}

static void test_b64(void **state)
{
    (void)state;
    /* RFC 4648 section 10 test vectors. */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        uint8_t back[8];
        size_t n = 0;
        assert_int_equal(mv_b64_encode(out, sizeof out, (const uint8_t *)plain[i], strlen(plain[i])), MV_OK);
        assert_string_equal(out, enc[i]);
        assert_int_equal(mv_b64_decode(back, sizeof back, &n, enc[i], strlen(enc[i])), MV_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(back, plain[i], n);
    }
    uint8_t back[8];
    size_t n = 0;
    assert_int_equal(mv_b64_decode(back, sizeof back, &n, "Zm9v!", 5), MV_ERR_PARSE);
    assert_int_equal(mv_b64_decode(back, sizeof back, &n, "Zm9vYg=", 7), MV_ERR_PARSE);
    assert_int_equal(mv_b64_decode(back, 2, &n, "Zm9vYmFy", 8), MV_ERR_TOO_LARGE);
}

/* LEB128 varints: edges round-trip in the fewest bytes; truncated, over-long (more than 64
 * bits) and non-minimal encodings are refused. */
static void test_varint(void **state)
{
    (void)state;
    static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    static const size_t lens[] = {1, 1, 1, 2, 2, 2, 3, 5, 10, 10};
    uint8_t p[MV_VARINT_MAX];
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        size_t n = mv_varint_put(p, vals[i]), pos = 0;
        uint64_t v = 0;
        assert_int_equal(n, lens[i]);
        assert_int_equal(mv_varint_get(p, n, &pos, &v), 1);
        assert_int_equal(pos, n);
        assert_true(v == vals[i]);
        pos = 0;
        assert_int_equal(mv_varint_get(p, n - 1, &pos, &v), 0); /* truncated */
    }
    static const uint8_t nonmin[] = {0x80, 0x00}, over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
                         eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    uint64_t v = 7;
    size_t pos = 0;
    assert_int_equal(mv_varint_get(nonmin, sizeof nonmin, &pos, &v), 0);
    pos = 0;
    assert_int_equal(mv_varint_get(over, sizeof over, &pos, &v), 0);
    pos = 0;
    assert_int_equal(mv_varint_get(eleven, sizeof eleven, &pos, &v), 0);
    assert_true(v == 7);
}

static void test_ct_eq(void **state)
{
    (void)state;
    uint8_t a[32] = {0}, b[32] = {0};
    assert_true(mv_ct_eq(a, b, 32));
    b[31] = 1;
    assert_false(mv_ct_eq(a, b, 32));
    mv_wipe(b, 32);
    assert_true(mv_ct_eq(a, b, 32));
}

static void test_array_grow(void **state)
{
    (void)state;
    uint32_t *a = NULL;
    size_t cap = 0, n = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        assert_int_equal(mv_array_grow(&a, &cap, n, sizeof *a, 4), MV_OK);
        assert_true(n < cap);
        a[n++] = i * 7;
    }
    assert_int_equal(cap, 1024); /* 4, 8, ..., 1024 */
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(a[i], i * 7);
    /* Room left: no allocation, nothing moves. */
    uint32_t *before = a;
    mv_mem_fail_after(0);
    assert_int_equal(mv_array_grow(&a, &cap, n, sizeof *a, 4), MV_OK);
    assert_ptr_equal(a, before);
    /* Full and the allocation fails: array and capacity unchanged. */
    n = cap;
    for (size_t i = 1000; i < n; i++)
        a[i] = 1;
    assert_int_equal(mv_array_grow(&a, &cap, n, sizeof *a, 4), MV_ERR_NOMEM);
    mv_mem_fail_after(SIZE_MAX);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 1024);
    assert_int_equal(a[999], 999 * 7);
    assert_int_equal(mv_array_grow(&a, &cap, cap + 1, sizeof *a, 4), MV_ERR_INVAL);
    assert_int_equal(mv_array_grow(NULL, &cap, 0, sizeof *a, 4), MV_ERR_INVAL);
    mv_free(a);
}

/* The three readings agree with each other, never go back, and a deadline is normalised
 * and lies the asked number of milliseconds after the reading before it. */
static void test_mono_clock(void **state)
{
    (void)state;
    double s0 = mv_mono_seconds();
    uint64_t m0 = mv_mono_ms();
    struct timespec now, at;
    mv_mono_deadline(&now, 0);
    mv_mono_deadline(&at, 2999);
    double s1 = mv_mono_seconds();
    uint64_t m1 = mv_mono_ms();
    assert_true(s1 >= s0);
    assert_true(m1 >= m0);
    assert_true(m0 + 1 >= (uint64_t)(s0 * 1000.0) && m0 <= (uint64_t)(s1 * 1000.0) + 1);
    assert_true(now.tv_nsec >= 0 && now.tv_nsec < 1000000000L);
    assert_true(at.tv_nsec >= 0 && at.tv_nsec < 1000000000L);
    double n = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    double a = (double)at.tv_sec + (double)at.tv_nsec / 1e9;
    assert_true(n >= s0 && n <= s1);
    assert_true(a - n >= 2.999 - 0.5 && a - n <= 2.999 + 0.5);
    assert_true(a >= s0 + 2.999 - 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_all), cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_buf_alloc_failure), cmocka_unit_test(test_hex), cmocka_unit_test(test_is_lower_hex),
        cmocka_unit_test(test_b64), cmocka_unit_test(test_ct_eq),
        cmocka_unit_test(test_array_grow), cmocka_unit_test(test_varint),
        cmocka_unit_test(test_mono_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
