/* test_hmac.c - HMAC-SHA-256 and HMAC-SHA-1 (mv_hmac.h).
 *
 * Known answers: RFC 4231 section 4 (test cases 1-7, HMAC-SHA-256; test case 5 is
 * truncated to 128 bits), RFC 2202 section 3 (test cases 1-7, HMAC-SHA-1), and all of
 * Project Wycheproof hmac_sha256_test.json / hmac_sha1_test.json (truncated tags:
 * tagSize bits; invalid tags must not match). */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_hmac.h"
#include "medvault/mv_mem.h"

typedef mv_err (*hmac_fn)(uint8_t *out, const uint8_t *key, size_t key_len, const void *msg,
                          size_t msg_len);

static mv_err hmac256(uint8_t *out, const uint8_t *key, size_t key_len, const void *msg, size_t msg_len)
{
    return mv_hmac_sha256(out, key, key_len, msg, msg_len);
}

static mv_err hmac1(uint8_t *out, const uint8_t *key, size_t key_len, const void *msg, size_t msg_len)
{
    return mv_hmac_sha1(out, key, key_len, msg, msg_len);
}

/* RFC files: {"tests": [{key, data, mac, mac_bits}]}; returns the number of cases run. */
static size_t run_rfc_file(const char *file, hmac_fn fn, size_t full_bytes)
{
    mv_json *root = tu_load_json(file);
    const mv_json *tests = mv_json_get(root, "tests");
    assert_non_null(mv_json_get_str(root, "source", NULL));
    size_t n = mv_json_len(tests);
    for (size_t i = 0; i < n; i++) {
        const mv_json *t = mv_json_at(tests, i);
        size_t key_len, data_len, mac_len;
        uint8_t *key = tu_json_hex(t, "key", &key_len);
        uint8_t *data = tu_json_hex(t, "data", &data_len);
        uint8_t *mac = tu_json_hex(t, "mac", &mac_len);
        uint64_t bits = tu_json_u64(t, "mac_bits");
        uint8_t out[MV_HMAC_SHA256_BYTES];
        assert_int_equal(bits % 8, 0);
        assert_int_equal(mac_len, bits / 8);
        assert_true(mac_len > 0 && mac_len <= full_bytes);
        assert_int_equal(fn(out, key, key_len, data, data_len), MV_OK);
        assert_memory_equal(out, mac, mac_len);
        mv_free(key);
        mv_free(data);
        mv_free(mac);
    }
    mv_json_free(root);
    return n;
}

static void test_rfc4231(void **state)
{
    (void)state;
    assert_int_equal(run_rfc_file("rfc4231-hmac-sha256.json", hmac256, 32), 7);
}

static void test_rfc2202(void **state)
{
    (void)state;
    assert_int_equal(run_rfc_file("rfc2202-hmac-sha1.json", hmac1, 20), 7);
}

/* Wycheproof MacTest files. A tag matches when it has tagSize/8 bytes and equals that
 * prefix of the full HMAC. For untruncated SHA-256 tags the verify API is checked too. */
static void run_wycheproof(const char *file, hmac_fn fn, size_t full_bytes, int use_verify)
{
    mv_json *root = tu_load_json(file);
    const mv_json *groups = mv_json_get(root, "testGroups");
    uint64_t expected = tu_json_u64(root, "numberOfTests");
    size_t ran = 0, valid = 0, invalid = 0, verified = 0;
    for (size_t g = 0; g < mv_json_len(groups); g++) {
        const mv_json *grp = mv_json_at(groups, g);
        const mv_json *tests = mv_json_get(grp, "tests");
        uint64_t tag_bits = tu_json_u64(grp, "tagSize");
        assert_int_equal(tag_bits % 8, 0);
        assert_true(tag_bits / 8 <= full_bytes && tag_bits > 0);
        for (size_t i = 0; i < mv_json_len(tests); i++) {
            const mv_json *t = mv_json_at(tests, i);
            size_t key_len, msg_len, tag_len;
            uint8_t *key = tu_json_hex(t, "key", &key_len);
            uint8_t *msg = tu_json_hex(t, "msg", &msg_len);
            uint8_t *tag = tu_json_hex(t, "tag", &tag_len);
            const char *result = mv_json_get_str(t, "result", NULL);
            uint64_t id = tu_json_u64(t, "tcId");
            uint8_t out[MV_HMAC_SHA256_BYTES];
            assert_non_null(result);
            assert_int_equal(fn(out, key, key_len, msg, msg_len), MV_OK);
            int match = tag_len == tag_bits / 8 && mv_ct_eq(out, tag, tag_len);
            if (strcmp(result, "valid") == 0) {
                if (!match)
                    fail_msg("%s tcId %llu: valid tag does not match", file, (unsigned long long)id);
                valid++;
            } else {
                assert_string_equal(result, "invalid");
                if (match)
                    fail_msg("%s tcId %llu: invalid tag matches", file, (unsigned long long)id);
                invalid++;
            }
            if (use_verify && tag_bits / 8 == full_bytes && tag_len == full_bytes) {
                mv_err want = match ? MV_OK : MV_ERR_VERIFY;
                assert_int_equal(mv_hmac_sha256_verify(tag, key, key_len, msg, msg_len), want);
                verified++;
            }
            ran++;
            mv_free(key);
            mv_free(msg);
            mv_free(tag);
        }
    }
    assert_int_equal(ran, expected);
    assert_true(valid > 0 && invalid > 0);
    if (use_verify)
        assert_true(verified > 0);
    mv_json_free(root);
}

static void test_wycheproof_sha256(void **state)
{
    (void)state;
    run_wycheproof("wycheproof/hmac_sha256_test.json", hmac256, 32, 1);
}

static void test_wycheproof_sha1(void **state)
{
    (void)state;
    run_wycheproof("wycheproof/hmac_sha1_test.json", hmac1, 20, 0);
}

/* Empty key and empty message are valid HMAC inputs (values computed with Python's
 * hmac module: HMAC(b"", b"")). */
static void test_empty_inputs(void **state)
{
    (void)state;
    size_t n;
    uint8_t out[MV_HMAC_SHA256_BYTES];
    uint8_t *e256 = tu_hex("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", &n);
    uint8_t *e1 = tu_hex("fbdb1d1b18aa6c08324b7d64b71fb76370690e1d", &n);
    assert_int_equal(mv_hmac_sha256(out, NULL, 0, NULL, 0), MV_OK);
    assert_memory_equal(out, e256, 32);
    assert_int_equal(mv_hmac_sha256(out, (const uint8_t *)"", 0, "", 0), MV_OK);
    assert_memory_equal(out, e256, 32);
    assert_int_equal(mv_hmac_sha256_verify(e256, NULL, 0, NULL, 0), MV_OK);
    assert_int_equal(mv_hmac_sha1(out, NULL, 0, NULL, 0), MV_OK);
    assert_memory_equal(out, e1, 20);
    mv_free(e256);
    mv_free(e1);
}

static void test_invalid_args(void **state)
{
    (void)state;
    uint8_t out[MV_HMAC_SHA256_BYTES], k[4] = {1, 2, 3, 4};
    assert_int_equal(mv_hmac_sha256(out, NULL, 1, k, 4), MV_ERR_INVAL);
    assert_int_equal(mv_hmac_sha256(out, k, 4, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_hmac_sha1(out, NULL, 1, k, 4), MV_ERR_INVAL);
    assert_int_equal(mv_hmac_sha1(out, k, 4, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(mv_hmac_sha256_verify(out, NULL, 1, k, 4), MV_ERR_INVAL);
}

/* Every single-bit change of the MAC, and of key and message, is rejected. */
static void test_verify_bit_flips(void **state)
{
    (void)state;
    uint8_t key[40], msg[70], mac[MV_HMAC_SHA256_BYTES];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 13 + 5);
    assert_int_equal(mv_hmac_sha256(mac, key, sizeof key, msg, sizeof msg), MV_OK);
    assert_int_equal(mv_hmac_sha256_verify(mac, key, sizeof key, msg, sizeof msg), MV_OK);
    for (size_t bit = 0; bit < 8 * sizeof mac; bit++) {
        mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_hmac_sha256_verify(mac, key, sizeof key, msg, sizeof msg), MV_ERR_VERIFY);
        mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof key; bit++) {
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_hmac_sha256_verify(mac, key, sizeof key, msg, sizeof msg), MV_ERR_VERIFY);
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof msg; bit++) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_hmac_sha256_verify(mac, key, sizeof key, msg, sizeof msg), MV_ERR_VERIFY);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* Message length matters: a prefix or an extension does not verify. */
    assert_int_equal(mv_hmac_sha256_verify(mac, key, sizeof key, msg, sizeof msg - 1), MV_ERR_VERIFY);
    assert_int_equal(mv_hmac_sha256_verify(mac, key, sizeof key - 1, msg, sizeof msg), MV_ERR_VERIFY);
}

/* out may alias the message or the key (documented in mv_hmac.h). */
static void test_aliasing(void **state)
{
    (void)state;
    uint8_t buf[MV_HMAC_SHA256_BYTES], expect[MV_HMAC_SHA256_BYTES];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(mv_hmac_sha256(expect, buf, sizeof buf, buf, sizeof buf), MV_OK);
    assert_int_equal(mv_hmac_sha256(buf, buf, sizeof buf, buf, sizeof buf), MV_OK);
    assert_memory_equal(buf, expect, sizeof buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_rfc2202),
        cmocka_unit_test(test_wycheproof_sha256),
        cmocka_unit_test(test_wycheproof_sha1),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_verify_bit_flips),
        cmocka_unit_test(test_aliasing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
