/* test_xmd.c - expand_message_xmd(SHA-512): every RFC 9380 Appendix K.3 vector in
 * tests/vectors/rfc9497-ristretto255-sha512.json, the per-mode expand_message_xmd_64
 * intermediates of the same file, and the argument bounds of RFC 9380 5.3.1. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_xmd.h"

#define VEC "rfc9497-ristretto255-sha512.json"

/* RFC 9380 K.3: msg (ASCII), len_in_bytes, uniform_bytes under DST
 * "QUUX-V01-CS02-with-expander-SHA512-256". */
static void test_rfc9380_k3(void **state)
{
    (void)state;
    mv_json *root = tu_load_json(VEC);
    const mv_json *x = mv_json_get(root, "expand_message_xmd_SHA512_vectors");
    size_t dst_len = 0;
    const char *dst = mv_json_get_str(x, "DST", &dst_len);
    assert_non_null(dst);
    assert_string_equal(dst, "QUUX-V01-CS02-with-expander-SHA512-256");
    const mv_json *tests = mv_json_get(x, "tests");
    size_t n = mv_json_len(tests), ran = 0;
    for (size_t i = 0; i < n; i++) {
        const mv_json *t = mv_json_at(tests, i);
        size_t msg_len = 0, want_len = 0;
        uint64_t len = 0;
        const char *msg = mv_json_get_str(t, "msg", &msg_len);
        assert_non_null(msg);
        assert_int_equal(mv_json_get_u64(t, "len_in_bytes", &len), MV_OK);
        uint8_t *want = tu_json_hex(t, "uniform_bytes", &want_len);
        assert_int_equal(want_len, (size_t)len);
        uint8_t out[256];
        assert_true(len <= sizeof out);
        assert_int_equal(mv_xmd_sha512(out, (size_t)len, (const uint8_t *)msg, msg_len, (const uint8_t *)dst, dst_len),
                         MV_OK);
        assert_memory_equal(out, want, (size_t)len);

        /* The same message split into parts at every third byte gives the same bytes. */
        mv_xmd_part parts[200];
        size_t np = 0;
        for (size_t off = 0; off < msg_len; off += 3)
            parts[np++] = (mv_xmd_part){(const uint8_t *)msg + off, msg_len - off < 3 ? msg_len - off : 3};
        uint8_t out2[256];
        assert_int_equal(mv_xmd_sha512_parts(out2, (size_t)len, parts, np, (const uint8_t *)dst, dst_len), MV_OK);
        assert_memory_equal(out2, want, (size_t)len);
        mv_free(want);
        ran++;
    }
    /* K.3 has 5 messages at 32 and 128 bytes of output. */
    assert_int_equal(ran, 10);
    mv_json_free(root);
}

/* The file's derived intermediates: xmd(Input, HashToGroup DST, 64) for each mode. */
static void test_hash_to_group_xmd(void **state)
{
    (void)state;
    mv_json *root = tu_load_json(VEC);
    const mv_json *pm = mv_json_get(mv_json_get(root, "derived_intermediates_not_in_rfc"), "per_mode");
    size_t ran = 0;
    for (size_t m = 0; m < mv_json_len(pm); m++) {
        const mv_json *mode = mv_json_at(pm, m);
        size_t dst_len = 0;
        uint8_t *dst = tu_json_hex(mode, "HashToGroupDST", &dst_len);
        const mv_json *inputs = mv_json_get(mode, "inputs");
        for (size_t i = 0; i < mv_json_len(inputs); i++) {
            const mv_json *in = mv_json_at(inputs, i);
            size_t il = 0, wl = 0;
            uint8_t *input = tu_json_hex(in, "Input", &il);
            uint8_t *want = tu_json_hex(in, "expand_message_xmd_64", &wl);
            assert_int_equal(wl, 64);
            uint8_t out[64];
            assert_int_equal(mv_xmd_sha512(out, 64, input, il, dst, dst_len), MV_OK);
            assert_memory_equal(out, want, 64);
            mv_free(input);
            mv_free(want);
            ran++;
        }
        mv_free(dst);
    }
    assert_int_equal(ran, 6); /* 3 modes x 2 inputs */
    mv_json_free(root);
}

static void test_bounds(void **state)
{
    (void)state;
    static uint8_t big[MV_XMD_MAX_OUT + 1];
    uint8_t dst[256];
    memset(dst, 'D', sizeof dst);
    /* ell = 255 is the largest allowed; 255*64+1 bytes need ell = 256 (RFC 9380 5.3.1). */
    assert_int_equal(mv_xmd_sha512(big, MV_XMD_MAX_OUT, (const uint8_t *)"abc", 3, dst, 10), MV_OK);
    assert_int_equal(mv_xmd_sha512(big, MV_XMD_MAX_OUT + 1, (const uint8_t *)"abc", 3, dst, 10), MV_ERR_INVAL);
    assert_int_equal(mv_xmd_sha512(big, 0, (const uint8_t *)"abc", 3, dst, 10), MV_ERR_INVAL);
    assert_int_equal(mv_xmd_sha512(big, 32, (const uint8_t *)"abc", 3, dst, 255), MV_OK);
    assert_int_equal(mv_xmd_sha512(big, 32, (const uint8_t *)"abc", 3, dst, 256), MV_ERR_INVAL);
    for (size_t i = 0; i < 32; i++)
        assert_int_equal(big[i], 0); /* wiped on error */
    assert_int_equal(mv_xmd_sha512(big, 32, NULL, 3, dst, 10), MV_ERR_INVAL);
    assert_int_equal(mv_xmd_sha512(big, 32, NULL, 0, dst, 10), MV_OK);
    assert_int_equal(mv_xmd_sha512(NULL, 32, NULL, 0, dst, 10), MV_ERR_INVAL);
    assert_int_equal(mv_xmd_sha512(big, 32, NULL, 0, NULL, 1), MV_ERR_INVAL);

    /* Output length is part of the hash input: the 32-byte output is not a prefix of the 64-byte one. */
    uint8_t a[64], b[32];
    assert_int_equal(mv_xmd_sha512(a, 64, (const uint8_t *)"x", 1, dst, 10), MV_OK);
    assert_int_equal(mv_xmd_sha512(b, 32, (const uint8_t *)"x", 1, dst, 10), MV_OK);
    assert_memory_not_equal(a, b, 32);
    /* A different DST changes the output. */
    uint8_t c[64];
    assert_int_equal(mv_xmd_sha512(c, 64, (const uint8_t *)"x", 1, dst, 11), MV_OK);
    assert_memory_not_equal(a, c, 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9380_k3),
        cmocka_unit_test(test_hash_to_group_xmd),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
