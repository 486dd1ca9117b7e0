/* test_aead.c - AES-256-GCM (mv_aead.h).
 *
 * Known answers: Project Wycheproof aes_gcm_test.json, the groups with a 256-bit key,
 * 96-bit IV and 128-bit tag (the only parameters the API offers; the other groups are
 * counted, not run). Plus round trips, a one-bit flip in every bit of ciphertext, tag,
 * aad, nonce and key (MV_ERR_VERIFY and a wiped output), zero lengths, in-place use,
 * overlap and size limits. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_aead.h"
#include "medvault/mv_mem.h"

/* Observed in the pinned file (wycheproof/SOURCE.txt): 39 valid and 27 invalid tests with
 * keySize 256, ivSize 96, tagSize 128, out of 316. */
#define WP_MIN_VALID 39
#define WP_MIN_INVALID 27

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31);
}

static void test_wycheproof(void **state)
{
    (void)state;
    mv_json *root = tu_load_json("wycheproof/aes_gcm_test.json");
    const mv_json *groups = mv_json_get(root, "testGroups");
    uint64_t expected = tu_json_u64(root, "numberOfTests");
    size_t valid = 0, invalid = 0, skipped = 0;
    for (size_t g = 0; g < mv_json_len(groups); g++) {
        const mv_json *grp = mv_json_at(groups, g);
        const mv_json *tests = mv_json_get(grp, "tests");
        if (tu_json_u64(grp, "keySize") != 256 || tu_json_u64(grp, "ivSize") != 96 ||
            tu_json_u64(grp, "tagSize") != 128) {
            skipped += mv_json_len(tests);
            continue;
        }
        for (size_t i = 0; i < mv_json_len(tests); i++) {
            const mv_json *t = mv_json_at(tests, i);
            size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
            uint8_t *key = tu_json_hex(t, "key", &key_len);
            uint8_t *iv = tu_json_hex(t, "iv", &iv_len);
            uint8_t *aad = tu_json_hex(t, "aad", &aad_len);
            uint8_t *msg = tu_json_hex(t, "msg", &msg_len);
            uint8_t *ct = tu_json_hex(t, "ct", &ct_len);
            uint8_t *tag = tu_json_hex(t, "tag", &tag_len);
            const char *result = mv_json_get_str(t, "result", NULL);
            uint64_t id = tu_json_u64(t, "tcId");
            assert_non_null(result);
            assert_int_equal(key_len, MV_AEAD_KEY_BYTES);
            assert_int_equal(iv_len, MV_AEAD_NONCE_BYTES);
            assert_int_equal(tag_len, MV_AEAD_TAG_BYTES);
            assert_int_equal(ct_len, msg_len);

            uint8_t *sealed = mv_malloc(ct_len + tag_len);
            uint8_t *enc = mv_malloc(msg_len + MV_AEAD_TAG_BYTES);
            uint8_t *dec = mv_malloc(msg_len + 1);
            assert_non_null(sealed);
            assert_non_null(enc);
            assert_non_null(dec);
            memcpy(sealed, ct, ct_len);
            memcpy(sealed + ct_len, tag, tag_len);
            memset(dec, 0xa5, msg_len + 1);
            mv_err rc = mv_aead_decrypt(dec, sealed, ct_len + tag_len, aad, aad_len, iv, key);
            assert_int_equal(mv_aead_encrypt(enc, msg, msg_len, aad, aad_len, iv, key), MV_OK);
            if (strcmp(result, "valid") == 0) {
                if (rc != MV_OK || memcmp(dec, msg, msg_len) != 0)
                    fail_msg("tcId %llu: valid ciphertext rejected (%s)", (unsigned long long)id, mv_strerror(rc));
                if (memcmp(enc, sealed, ct_len + tag_len) != 0)
                    fail_msg("tcId %llu: encryption differs", (unsigned long long)id);
                valid++;
            } else {
                assert_string_equal(result, "invalid");
                if (rc != MV_ERR_VERIFY)
                    fail_msg("tcId %llu: invalid ciphertext gave %s", (unsigned long long)id, mv_strerror(rc));
                assert_true(tu_all_zero(dec, msg_len));
                assert_memory_not_equal(enc, sealed, ct_len + tag_len);
                invalid++;
            }
            assert_int_equal(dec[msg_len], 0xa5); /* nothing written past the plaintext */
            mv_free(sealed);
            mv_free(enc);
            mv_free(dec);
            mv_free(key);
            mv_free(iv);
            mv_free(aad);
            mv_free(msg);
            mv_free(ct);
            mv_free(tag);
        }
    }
    assert_true(valid >= WP_MIN_VALID);
    assert_true(invalid >= WP_MIN_INVALID);
    assert_int_equal(valid + invalid + skipped, expected);
    mv_json_free(root);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 15, 16, 17, 64, 1000, 70000};
    uint8_t key[32], nonce[12], aad[29];
    fill(key, sizeof key, 1);
    fill(nonce, sizeof nonce, 2);
    fill(aad, sizeof aad, 3);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *pt = mv_malloc(n + 1), *ct = mv_malloc(n + 16), *back = mv_malloc(n + 1);
        assert_non_null(pt);
        assert_non_null(ct);
        assert_non_null(back);
        fill(pt, n, (uint8_t)s);
        assert_int_equal(mv_aead_encrypt(ct, pt, n, aad, sizeof aad, nonce, key), MV_OK);
        if (n)
            assert_memory_not_equal(ct, pt, n);
        assert_int_equal(mv_aead_decrypt(back, ct, n + 16, aad, sizeof aad, nonce, key), MV_OK);
        assert_memory_equal(back, pt, n);
        /* A truncated sealed message does not verify (or, shorter than a tag, is malformed). */
        assert_int_equal(mv_aead_decrypt(back, ct, n + 15, aad, sizeof aad, nonce, key),
                         n ? MV_ERR_VERIFY : MV_ERR_PARSE);
        mv_free(pt);
        mv_free(ct);
        mv_free(back);
    }
}

/* Decrypt with one input changed; expect MV_ERR_VERIFY and an all-zero output. */
static void expect_reject(uint8_t *out, size_t pt_len, const uint8_t *sealed, const uint8_t *aad,
                          size_t aad_len, const uint8_t *nonce, const uint8_t *key)
{
    memset(out, 0xa5, pt_len);
    assert_int_equal(mv_aead_decrypt(out, sealed, pt_len + 16, aad, aad_len, nonce, key), MV_ERR_VERIFY);
    assert_true(tu_all_zero(out, pt_len));
}

static void test_bit_flips(void **state)
{
    (void)state;
    enum { PT = 37, AAD = 13 };
    uint8_t key[32], nonce[12], aad[AAD], pt[PT], sealed[PT + 16], out[PT];
    fill(key, sizeof key, 9);
    fill(nonce, sizeof nonce, 8);
    fill(aad, sizeof aad, 7);
    fill(pt, sizeof pt, 6);
    assert_int_equal(mv_aead_encrypt(sealed, pt, PT, aad, AAD, nonce, key), MV_OK);
    assert_int_equal(mv_aead_decrypt(out, sealed, sizeof sealed, aad, AAD, nonce, key), MV_OK);
    assert_memory_equal(out, pt, PT);

    struct { uint8_t *p; size_t n; } fields[] = {
        {sealed, PT},           /* ciphertext */
        {sealed + PT, 16},      /* tag */
        {aad, AAD},
        {nonce, sizeof nonce},
        {key, sizeof key},
    };
    size_t flips = 0;
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (size_t bit = 0; bit < 8 * fields[f].n; bit++) {
            fields[f].p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            expect_reject(out, PT, sealed, aad, AAD, nonce, key);
            fields[f].p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            flips++;
        }
    }
    assert_int_equal(flips, 8 * (PT + 16 + AAD + 12 + 32));
    /* Dropping the aad altogether also fails. */
    expect_reject(out, PT, sealed, NULL, 0, nonce, key);
    /* Everything restored: decrypts again. */
    assert_int_equal(mv_aead_decrypt(out, sealed, sizeof sealed, aad, AAD, nonce, key), MV_OK);
    assert_memory_equal(out, pt, PT);
}

static void test_zero_lengths(void **state)
{
    (void)state;
    uint8_t key[32], nonce[12], tag[16], tag2[16], aad[5] = {1, 2, 3, 4, 5};
    fill(key, sizeof key, 4);
    fill(nonce, sizeof nonce, 5);
    /* Empty plaintext and empty aad: the output is the tag alone. */
    assert_int_equal(mv_aead_encrypt(tag, NULL, 0, NULL, 0, nonce, key), MV_OK);
    assert_int_equal(mv_aead_decrypt(NULL, tag, 16, NULL, 0, nonce, key), MV_OK);
    tag[0] ^= 1;
    assert_int_equal(mv_aead_decrypt(NULL, tag, 16, NULL, 0, nonce, key), MV_ERR_VERIFY);
    tag[0] ^= 1;
    /* Empty plaintext, non-empty aad: the tag authenticates the aad. */
    assert_int_equal(mv_aead_encrypt(tag2, NULL, 0, aad, sizeof aad, nonce, key), MV_OK);
    assert_memory_not_equal(tag, tag2, 16);
    assert_int_equal(mv_aead_decrypt(NULL, tag2, 16, aad, sizeof aad, nonce, key), MV_OK);
    assert_int_equal(mv_aead_decrypt(NULL, tag2, 16, NULL, 0, nonce, key), MV_ERR_VERIFY);
    /* Shorter than a tag: malformed. */
    uint8_t out[1];
    assert_int_equal(mv_aead_decrypt(out, tag, 15, NULL, 0, nonce, key), MV_ERR_PARSE);
    assert_int_equal(mv_aead_decrypt(out, tag, 0, NULL, 0, nonce, key), MV_ERR_PARSE);
}

static void test_in_place(void **state)
{
    (void)state;
    enum { N = 100 };
    uint8_t key[32], nonce[12], aad[3] = {9, 9, 9}, pt[N], ref[N + 16], buf[N + 16];
    fill(key, sizeof key, 11);
    fill(nonce, sizeof nonce, 12);
    fill(pt, N, 13);
    assert_int_equal(mv_aead_encrypt(ref, pt, N, aad, sizeof aad, nonce, key), MV_OK);
    memcpy(buf, pt, N);
    assert_int_equal(mv_aead_encrypt(buf, buf, N, aad, sizeof aad, nonce, key), MV_OK);
    assert_memory_equal(buf, ref, N + 16);
    assert_int_equal(mv_aead_decrypt(buf, buf, N + 16, aad, sizeof aad, nonce, key), MV_OK);
    assert_memory_equal(buf, pt, N);
    /* In-place failure wipes the buffer (the ciphertext is consumed). */
    memcpy(buf, ref, N + 16);
    buf[N + 3] ^= 0x40;
    assert_int_equal(mv_aead_decrypt(buf, buf, N + 16, aad, sizeof aad, nonce, key), MV_ERR_VERIFY);
    assert_true(tu_all_zero(buf, N));
}

static void test_overlap_and_args(void **state)
{
    (void)state;
    uint8_t key[32] = {0}, nonce[12] = {0}, buf[64 + 16] = {0}, out[64];
    /* Partial overlaps are refused (only exact aliasing is supported). */
    assert_int_equal(mv_aead_encrypt(buf + 1, buf, 32, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_encrypt(buf, buf + 8, 32, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_decrypt(buf + 1, buf, 48, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_decrypt(buf + 16, buf, 48, NULL, 0, nonce, key), MV_ERR_INVAL);
    /* NULL with a length. */
    assert_int_equal(mv_aead_encrypt(NULL, buf, 1, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_encrypt(out, NULL, 1, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_encrypt(buf, out, 1, NULL, 1, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_decrypt(NULL, buf, 17, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_decrypt(out, NULL, 17, NULL, 0, nonce, key), MV_ERR_INVAL);
    assert_int_equal(mv_aead_decrypt(out, buf, 17, NULL, 1, nonce, key), MV_ERR_INVAL);
    /* Size caps: refused before any byte is touched, so small buffers are fine here. */
    assert_int_equal(mv_aead_encrypt(buf, out, MV_AEAD_MAX_PT + 1, NULL, 0, nonce, key), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_aead_encrypt(buf, out, 1, out, MV_AEAD_MAX_PT + 1, nonce, key), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_aead_decrypt(out, buf, MV_AEAD_MAX_PT + 17, NULL, 0, nonce, key), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_aead_decrypt(out, buf, SIZE_MAX, NULL, 0, nonce, key), MV_ERR_TOO_LARGE);
}

/* Same key and message under two nonces give unrelated ciphertexts. */
static void test_nonce_matters(void **state)
{
    (void)state;
    uint8_t key[32], n1[12] = {0}, n2[12] = {0}, pt[32], c1[48], c2[48];
    fill(key, sizeof key, 3);
    fill(pt, sizeof pt, 4);
    n2[11] = 1;
    assert_int_equal(mv_aead_encrypt(c1, pt, 32, NULL, 0, n1, key), MV_OK);
    assert_int_equal(mv_aead_encrypt(c2, pt, 32, NULL, 0, n2, key), MV_OK);
    assert_memory_not_equal(c1, c2, 32);
    assert_memory_not_equal(c1 + 32, c2 + 32, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wycheproof),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_zero_lengths),
        cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_overlap_and_args),
        cmocka_unit_test(test_nonce_matters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
