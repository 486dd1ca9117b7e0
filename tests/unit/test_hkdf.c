/* test_hkdf.c - HKDF-SHA-256 (mv_hkdf.h).
 *
 * Known answers: RFC 5869 Appendix A, test cases 1-3 (A.1-A.3, SHA-256), checking both
 * PRK and OKM; and all of Project Wycheproof hkdf_sha256_test.json (the SizeTooLarge
 * cases, L > 255*HashLen per RFC 5869 section 2.3, must be refused). */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_hkdf.h"
#include "medvault/mv_mem.h"

static void test_rfc5869(void **state)
{
    (void)state;
    mv_json *root = tu_load_json("rfc5869-hkdf-sha256.json");
    const mv_json *tests = mv_json_get(root, "tests");
    assert_non_null(mv_json_get_str(root, "source", NULL));
    assert_int_equal(mv_json_len(tests), 3);
    for (size_t i = 0; i < mv_json_len(tests); i++) {
        const mv_json *t = mv_json_at(tests, i);
        size_t ikm_len, salt_len, info_len, prk_len, okm_len;
        uint8_t *ikm = tu_json_hex(t, "ikm", &ikm_len);
        uint8_t *salt = tu_json_hex(t, "salt", &salt_len);
        uint8_t *info = tu_json_hex(t, "info", &info_len);
        uint8_t *prk = tu_json_hex(t, "prk", &prk_len);
        uint8_t *okm = tu_json_hex(t, "okm", &okm_len);
        uint64_t L = tu_json_u64(t, "L");
        uint8_t got_prk[MV_HKDF_SHA256_PRK_BYTES];
        uint8_t *out = mv_malloc(okm_len);
        assert_non_null(out);
        assert_int_equal(prk_len, 32);
        assert_int_equal(okm_len, L);

        assert_int_equal(mv_hkdf_sha256_extract(got_prk, salt_len ? salt : NULL, salt_len, ikm, ikm_len), MV_OK);
        assert_memory_equal(got_prk, prk, 32);
        assert_int_equal(mv_hkdf_sha256_expand(out, okm_len, got_prk, 32, info_len ? info : NULL, info_len), MV_OK);
        assert_memory_equal(out, okm, okm_len);
        memset(out, 0, okm_len);
        assert_int_equal(mv_hkdf_sha256(out, okm_len, salt, salt_len, ikm, ikm_len, info, info_len), MV_OK);
        assert_memory_equal(out, okm, okm_len);

        mv_free(out);
        mv_free(ikm);
        mv_free(salt);
        mv_free(info);
        mv_free(prk);
        mv_free(okm);
    }
    mv_json_free(root);
}

static void test_wycheproof(void **state)
{
    (void)state;
    mv_json *root = tu_load_json("wycheproof/hkdf_sha256_test.json");
    const mv_json *groups = mv_json_get(root, "testGroups");
    uint64_t expected = tu_json_u64(root, "numberOfTests");
    size_t ran = 0, valid = 0, invalid = 0, empty_salt = 0;
    for (size_t g = 0; g < mv_json_len(groups); g++) {
        const mv_json *tests = mv_json_get(mv_json_at(groups, g), "tests");
        for (size_t i = 0; i < mv_json_len(tests); i++) {
            const mv_json *t = mv_json_at(tests, i);
            size_t ikm_len, salt_len, info_len, okm_len;
            uint8_t *ikm = tu_json_hex(t, "ikm", &ikm_len);
            uint8_t *salt = tu_json_hex(t, "salt", &salt_len);
            uint8_t *info = tu_json_hex(t, "info", &info_len);
            uint8_t *okm = tu_json_hex(t, "okm", &okm_len);
            uint64_t size = tu_json_u64(t, "size");
            uint64_t id = tu_json_u64(t, "tcId");
            const char *result = mv_json_get_str(t, "result", NULL);
            uint8_t prk[MV_HKDF_SHA256_PRK_BYTES];
            uint8_t *out = mv_malloc((size_t)size + 1);
            assert_non_null(out);
            assert_non_null(result);
            empty_salt += salt_len == 0;
            if (strcmp(result, "valid") == 0) {
                assert_int_equal(okm_len, size);
                assert_int_equal(mv_hkdf_sha256(out, (size_t)size, salt, salt_len, ikm, ikm_len, info, info_len), MV_OK);
                if (memcmp(out, okm, okm_len) != 0)
                    fail_msg("tcId %llu: OKM differs", (unsigned long long)id);
                memset(out, 0, (size_t)size);
                assert_int_equal(mv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len), MV_OK);
                assert_int_equal(mv_hkdf_sha256_expand(out, (size_t)size, prk, sizeof prk, info, info_len), MV_OK);
                assert_memory_equal(out, okm, okm_len);
                valid++;
            } else {
                assert_string_equal(result, "invalid");
                assert_true(size > MV_HKDF_SHA256_MAX_OUT);
                assert_int_equal(mv_hkdf_sha256(out, (size_t)size, salt, salt_len, ikm, ikm_len, info, info_len), MV_ERR_INVAL);
                assert_int_equal(mv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len), MV_OK);
                assert_int_equal(mv_hkdf_sha256_expand(out, (size_t)size, prk, sizeof prk, info, info_len), MV_ERR_INVAL);
                invalid++;
            }
            ran++;
            mv_free(out);
            mv_free(ikm);
            mv_free(salt);
            mv_free(info);
            mv_free(okm);
        }
    }
    assert_int_equal(ran, expected);
    assert_int_equal(invalid, 3);
    assert_true(valid > 0 && empty_salt > 0);
    mv_json_free(root);
}

/* RFC 5869 section 2.2: an absent salt is HashLen zero bytes. */
static void test_empty_salt_is_zeros(void **state)
{
    (void)state;
    uint8_t zeros[32] = {0}, ikm[5] = {1, 2, 3, 4, 5}, a[32], b[32];
    assert_int_equal(mv_hkdf_sha256_extract(a, NULL, 0, ikm, sizeof ikm), MV_OK);
    assert_int_equal(mv_hkdf_sha256_extract(b, zeros, sizeof zeros, ikm, sizeof ikm), MV_OK);
    assert_memory_equal(a, b, 32);
    /* And an empty IKM is allowed too. */
    assert_int_equal(mv_hkdf_sha256_extract(a, NULL, 0, NULL, 0), MV_OK);
}

static void test_length_bounds(void **state)
{
    (void)state;
    uint8_t prk[32], ikm[3] = {7, 8, 9};
    uint8_t *out = mv_malloc(MV_HKDF_SHA256_MAX_OUT + 1);
    assert_non_null(out);
    assert_int_equal(mv_hkdf_sha256_extract(prk, NULL, 0, ikm, sizeof ikm), MV_OK);
    assert_int_equal(mv_hkdf_sha256_expand(out, MV_HKDF_SHA256_MAX_OUT, prk, 32, NULL, 0), MV_OK);
    assert_int_equal(mv_hkdf_sha256_expand(out, MV_HKDF_SHA256_MAX_OUT + 1, prk, 32, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256(out, MV_HKDF_SHA256_MAX_OUT + 1, NULL, 0, ikm, 3, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256(out, SIZE_MAX, NULL, 0, ikm, 3, NULL, 0), MV_ERR_INVAL);
    /* A shorter output is a prefix of a longer one (same PRK and info). */
    uint8_t a[100], b[33];
    assert_int_equal(mv_hkdf_sha256_expand(a, sizeof a, prk, 32, ikm, 3), MV_OK);
    assert_int_equal(mv_hkdf_sha256_expand(b, sizeof b, prk, 32, ikm, 3), MV_OK);
    assert_memory_equal(a, b, sizeof b);
    /* Zero-length output: nothing to do, out may be NULL. */
    assert_int_equal(mv_hkdf_sha256_expand(NULL, 0, prk, 32, NULL, 0), MV_OK);
    assert_int_equal(mv_hkdf_sha256(NULL, 0, NULL, 0, ikm, 3, NULL, 0), MV_OK);
    mv_free(out);
}

static void test_invalid_args(void **state)
{
    (void)state;
    uint8_t prk[32] = {0}, out[16], x[4] = {0};
    assert_int_equal(mv_hkdf_sha256_expand(out, sizeof out, prk, 31, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256_expand(out, sizeof out, NULL, 32, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256_expand(out, sizeof out, prk, 32, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256_expand(NULL, 1, prk, 32, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256_extract(prk, NULL, 1, x, 4), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256_extract(prk, x, 4, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256(out, sizeof out, x, 4, NULL, 1, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_hkdf_sha256(out, sizeof out, x, 4, x, 4, NULL, 1), MV_ERR_INVAL);
}

/* Each input changes the output: salt, ikm and info are all bound in. */
static void test_inputs_bound(void **state)
{
    (void)state;
    uint8_t salt[8] = {1}, ikm[8] = {2}, info[8] = {3}, base[32], o[32];
    assert_int_equal(mv_hkdf_sha256(base, 32, salt, 8, ikm, 8, info, 8), MV_OK);
    uint8_t *fields[3] = {salt, ikm, info};
    for (size_t f = 0; f < 3; f++) {
        for (size_t bit = 0; bit < 64; bit++) {
            fields[f][bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(mv_hkdf_sha256(o, 32, salt, 8, ikm, 8, info, 8), MV_OK);
            assert_memory_not_equal(o, base, 32);
            fields[f][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5869),
        cmocka_unit_test(test_wycheproof),
        cmocka_unit_test(test_empty_salt_is_zeros),
        cmocka_unit_test(test_length_bounds),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_inputs_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
