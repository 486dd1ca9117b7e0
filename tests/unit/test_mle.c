/* test_mle.c - message-locked encryption of a block (mv_mle.h, DESIGN.md 3).
 *
 * Known answers (test_kat) were computed with an independent oracle, python3 3.x:
 *   - fp, tag: hashlib.sha256;
 *   - key: HKDF-SHA-256 written out from RFC 5869 section 2 with the hmac module (salt = 32
 *     zero bytes, which RFC 5869 2.2 defines as the absent salt);
 *   - C: the `cryptography` package (48.0.0), AESGCM(key).encrypt(bytes(12), p,
 *     b"medvault-block-v1"), which returns ciphertext || 16-byte tag;
 *   - PoW response: hmac.new(challenge, C, hashlib.sha256).
 * The script is in the comment above test_kat. Plus: the dedup property, key separation,
 * every one-bit flip of C failing to decrypt and failing tag_ok, PoW with a wrong challenge,
 * C or response, zero-length blocks, in-place operation, overlap and argument errors, and a
 * round trip through mv_zstd. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_zstd.h"

#define PLEN 100

static void kat_inputs(uint8_t oprf[64], uint8_t p[PLEN], uint8_t challenge[32])
{
    for (int i = 0; i < 64; i++)
        oprf[i] = (uint8_t)i;
    for (int i = 0; i < PLEN; i++)
        p[i] = (uint8_t)((i * 7 + 3) & 0xff);
    for (int i = 0; i < 32; i++)
        challenge[i] = (uint8_t)(0xa0 + i);
}

static void hex_eq(const uint8_t *got, size_t n, const char *hex)
{
    size_t len;
    uint8_t *want = tu_hex(hex, &len);
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
    mv_free(want);
}

/* Oracle (python3):
 *   import hashlib, hmac
 *   from cryptography.hazmat.primitives.ciphers.aead import AESGCM
 *   oprf = bytes(range(64)); p = bytes((i*7+3) & 0xff for i in range(100))
 *   prk = hmac.new(b"\0"*32, oprf, hashlib.sha256).digest()
 *   key = hmac.new(prk, b"medvault mle v1" + b"\x01", hashlib.sha256).digest()
 *   C = AESGCM(key).encrypt(b"\0"*12, p, b"medvault-block-v1")
 *   hashlib.sha256(p), hashlib.sha256(C), hmac.new(bytes(range(0xa0, 0xc0)), C, hashlib.sha256)
 *   C0 = AESGCM(key).encrypt(b"\0"*12, b"", b"medvault-block-v1") */
static void test_kat(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], fp[32], key[32], c[PLEN + 16], tag[32], resp[32];
    size_t c_len = 0;
    kat_inputs(oprf, p, ch);
    assert_int_equal(mv_mle_fingerprint(p, PLEN, fp), MV_OK);
    hex_eq(fp, 32, "5a2cda2351d1cdd9dd7957e57c0b3c8522451f25b6494569b7e94388c46f0980");
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    hex_eq(key, 32, "29047f8766f900f6701e96d519e4491d3a14b3931eea7f085b097e9b43c34229");
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, c, sizeof c, &c_len, tag), MV_OK);
    assert_int_equal(c_len, PLEN + MV_MLE_OVERHEAD);
    hex_eq(c, c_len,
           "efd1bdca7baccf06067b2ba396a1c10e5c1d8d88af063c0b37cae134e01cffdc8b6badcf758270579e330b19"
           "99a21d197f15f46ce3baf0206527c13a52b943aa7f0fb744a1a1aa05868aff16394613b1f74f3f03b307a710"
           "1da2c4e66a2a31cc247e3098304c529e97e51118a9ff72da964f84d5");
    hex_eq(tag, 32, "f35abaf33c41db997ee853b966022e181d502e5d33c6570f0e92c83e748ee4cc");
    assert_true(mv_mle_tag_ok(c, c_len, tag));
    assert_int_equal(mv_mle_pow_response(ch, c, c_len, resp), MV_OK);
    hex_eq(resp, 32, "16319e553b1028e17548c78c663de23b4f95ab53884fd7b59d00c8656a2da536");
    assert_true(mv_mle_pow_ok(ch, c, c_len, resp));

    /* The empty block. */
    assert_int_equal(mv_mle_encrypt(key, NULL, 0, c, sizeof c, &c_len, tag), MV_OK);
    assert_int_equal(c_len, 16);
    hex_eq(c, 16, "75c3e895b35c427c9cfdfc47d3d7f86e");
    hex_eq(tag, 32, "a4ce5ff7356369f77054ae77a3977f12db0e35e003ec4c01a8f19b4b65188cf7");
    /* SHA-256 of the empty string (FIPS 180-4 example). */
    assert_int_equal(mv_mle_fingerprint(NULL, 0, fp), MV_OK);
    hex_eq(fp, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_dedup_and_key_separation(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], k1[32], k2[32], c1[PLEN + 16], c2[PLEN + 16], t1[32], t2[32];
    uint8_t out[PLEN];
    size_t l1, l2, pl = 99;
    kat_inputs(oprf, p, ch);
    /* Two independent clients holding the same block and OPRF output: identical C and tag. */
    assert_int_equal(mv_mle_key(oprf, k1), MV_OK);
    assert_int_equal(mv_mle_key(oprf, k2), MV_OK);
    assert_int_equal(mv_mle_encrypt(k1, p, PLEN, c1, sizeof c1, &l1, t1), MV_OK);
    assert_int_equal(mv_mle_encrypt(k2, p, PLEN, c2, sizeof c2, &l2, t2), MV_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(c1, c2, l1);
    assert_memory_equal(t1, t2, 32);

    /* Another OPRF output: another key, C and tag; the first key cannot open it. */
    oprf[63] ^= 1;
    assert_int_equal(mv_mle_key(oprf, k2), MV_OK);
    assert_memory_not_equal(k1, k2, 32);
    assert_int_equal(mv_mle_encrypt(k2, p, PLEN, c2, sizeof c2, &l2, t2), MV_OK);
    assert_memory_not_equal(c1, c2, PLEN);
    assert_memory_not_equal(t1, t2, 32);
    memset(out, 0x55, sizeof out);
    assert_int_equal(mv_mle_decrypt(k1, c2, l2, out, sizeof out, &pl), MV_ERR_VERIFY);
    assert_int_equal(pl, 0);
    assert_true(tu_all_zero(out, sizeof out));
    assert_int_equal(mv_mle_decrypt(k2, c2, l2, out, sizeof out, &pl), MV_OK);
    assert_int_equal(pl, PLEN);
    assert_memory_equal(out, p, PLEN);
    /* Another block under the same key (never done in practice) is still another C. */
    p[0] ^= 1;
    assert_int_equal(mv_mle_encrypt(k1, p, PLEN, c2, sizeof c2, &l2, t2), MV_OK);
    assert_memory_not_equal(t1, t2, 32);
}

static void test_bit_flips(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], key[32], c[PLEN + 16], tag[32], resp[32], out[PLEN];
    size_t c_len, pl;
    size_t flips = 0;
    kat_inputs(oprf, p, ch);
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, c, sizeof c, &c_len, tag), MV_OK);
    assert_int_equal(mv_mle_pow_response(ch, c, c_len, resp), MV_OK);
    for (size_t i = 0; i < c_len * 8; i++) {
        c[i / 8] ^= (uint8_t)(1u << (i % 8));
        memset(out, 0x55, sizeof out);
        pl = 7;
        assert_int_equal(mv_mle_decrypt(key, c, c_len, out, sizeof out, &pl), MV_ERR_VERIFY);
        assert_int_equal(pl, 0);
        assert_true(tu_all_zero(out, sizeof out));
        assert_false(mv_mle_tag_ok(c, c_len, tag));
        assert_false(mv_mle_pow_ok(ch, c, c_len, resp));
        c[i / 8] ^= (uint8_t)(1u << (i % 8));
        flips++;
    }
    assert_int_equal(flips, (PLEN + 16) * 8);
    /* Each bit of the tag and of the key. */
    for (size_t i = 0; i < 256; i++) {
        tag[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(mv_mle_tag_ok(c, c_len, tag));
        tag[i / 8] ^= (uint8_t)(1u << (i % 8));
        key[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(mv_mle_decrypt(key, c, c_len, out, sizeof out, &pl), MV_ERR_VERIFY);
        key[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* Truncated or extended C. */
    assert_false(mv_mle_tag_ok(c, c_len - 1, tag));
    assert_int_equal(mv_mle_decrypt(key, c, c_len - 1, out, sizeof out, &pl), MV_ERR_VERIFY);
    assert_int_equal(mv_mle_decrypt(key, c + 1, c_len - 1, out, sizeof out, &pl), MV_ERR_VERIFY);
    assert_int_equal(mv_mle_decrypt(key, c, 15, out, sizeof out, &pl), MV_ERR_PARSE);
    assert_true(mv_mle_tag_ok(c, c_len, tag));
    assert_int_equal(mv_mle_decrypt(key, c, c_len, out, sizeof out, &pl), MV_OK);
    assert_memory_equal(out, p, PLEN);
}

static void test_pow(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], key[32], c[PLEN + 16], tag[32], resp[32], r2[32];
    size_t c_len;
    kat_inputs(oprf, p, ch);
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, c, sizeof c, &c_len, tag), MV_OK);
    assert_int_equal(mv_mle_pow_response(ch, c, c_len, resp), MV_OK);
    assert_true(mv_mle_pow_ok(ch, c, c_len, resp));
    /* Wrong challenge (each bit), wrong response (each bit), truncated C. */
    for (size_t i = 0; i < 256; i++) {
        ch[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(mv_mle_pow_ok(ch, c, c_len, resp));
        ch[i / 8] ^= (uint8_t)(1u << (i % 8));
        resp[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(mv_mle_pow_ok(ch, c, c_len, resp));
        resp[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_false(mv_mle_pow_ok(ch, c, c_len - 1, resp));
    /* The tag alone does not answer a challenge: a fresh challenge gives a fresh response. */
    memcpy(r2, ch, 32);
    r2[0] ^= 0x80;
    assert_int_equal(mv_mle_pow_response(r2, c, c_len, r2), MV_OK); /* resp aliases challenge */
    assert_memory_not_equal(r2, resp, 32);
    assert_false(mv_mle_pow_ok(ch, c, c_len, r2));
    /* Empty C is valid HMAC input. */
    assert_int_equal(mv_mle_pow_response(ch, NULL, 0, r2), MV_OK);
    assert_true(mv_mle_pow_ok(ch, NULL, 0, r2));
    assert_false(mv_mle_pow_ok(ch, c, c_len, r2));
    assert_int_equal(mv_mle_pow_response(ch, NULL, 1, r2), MV_ERR_INVAL);
    assert_false(mv_mle_pow_ok(ch, NULL, 1, r2));
}

static void test_zero_length(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], key[32], c[16], tag[32];
    size_t c_len, pl = 5;
    kat_inputs(oprf, p, ch);
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    assert_int_equal(mv_mle_encrypt(key, NULL, 0, c, sizeof c, &c_len, tag), MV_OK);
    assert_int_equal(c_len, 16);
    assert_true(mv_mle_tag_ok(c, c_len, tag));
    assert_int_equal(mv_mle_decrypt(key, c, c_len, NULL, 0, &pl), MV_OK);
    assert_int_equal(pl, 0);
    c[3] ^= 1;
    assert_int_equal(mv_mle_decrypt(key, c, c_len, NULL, 0, &pl), MV_ERR_VERIFY);
}

/* c may equal p: the documented in-place mode gives the same C as separate buffers. */
static void test_in_place(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], key[32], ref[PLEN + 16], tag[32], t2[32];
    uint8_t buf[PLEN + 16];
    size_t c_len, pl;
    kat_inputs(oprf, p, ch);
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, ref, sizeof ref, &c_len, tag), MV_OK);
    memcpy(buf, p, PLEN);
    assert_int_equal(mv_mle_encrypt(key, buf, PLEN, buf, sizeof buf, &c_len, t2), MV_OK);
    assert_memory_equal(buf, ref, sizeof ref);
    assert_memory_equal(t2, tag, 32);
    assert_int_equal(mv_mle_decrypt(key, buf, c_len, buf, sizeof buf, &pl), MV_OK);
    assert_int_equal(pl, PLEN);
    assert_memory_equal(buf, p, PLEN);
    /* Too small for in place: p needs 16 spare bytes. */
    assert_int_equal(mv_mle_encrypt(key, buf, PLEN, buf, PLEN, &c_len, t2), MV_ERR_INVAL);
    assert_int_equal(c_len, 0);
    assert_memory_equal(buf, p, PLEN); /* argument errors write nothing */
    /* Partial overlaps are refused, and the input is left alone. */
    uint8_t big[PLEN + 32];
    memcpy(big, p, PLEN);
    assert_int_equal(mv_mle_encrypt(key, big, PLEN, big + 1, sizeof big - 1, &c_len, t2), MV_ERR_INVAL);
    assert_memory_equal(big, p, PLEN);
    memcpy(big + 1, ref, sizeof ref);
    assert_int_equal(mv_mle_decrypt(key, big + 1, sizeof ref, big, sizeof big, &pl), MV_ERR_INVAL);
    assert_memory_equal(big + 1, ref, sizeof ref);
}

static void test_args(void **state)
{
    (void)state;
    uint8_t oprf[64], p[PLEN], ch[32], key[32], c[PLEN + 16], tag[32], out[PLEN];
    size_t c_len = 9, pl = 9;
    kat_inputs(oprf, p, ch);
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, c, PLEN + 15, &c_len, tag), MV_ERR_INVAL);
    assert_int_equal(c_len, 0);
    assert_int_equal(mv_mle_encrypt(key, NULL, 1, c, sizeof c, &c_len, tag), MV_ERR_INVAL);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, NULL, sizeof c, &c_len, tag), MV_ERR_INVAL);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, c, sizeof c, NULL, tag), MV_ERR_INVAL);
    assert_int_equal(mv_mle_encrypt(key, p, SIZE_MAX - 8, c, sizeof c, &c_len, tag), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_mle_encrypt(key, p, PLEN, c, sizeof c, &c_len, tag), MV_OK);
    assert_int_equal(mv_mle_decrypt(key, c, c_len, out, PLEN - 1, &pl), MV_ERR_INVAL);
    assert_int_equal(pl, 0);
    assert_int_equal(mv_mle_decrypt(key, c, c_len, NULL, PLEN, &pl), MV_ERR_INVAL);
    assert_int_equal(mv_mle_decrypt(key, NULL, 16, out, PLEN, &pl), MV_ERR_INVAL);
    assert_int_equal(mv_mle_decrypt(key, c, c_len, out, PLEN, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_mle_decrypt(key, c, 0, out, PLEN, &pl), MV_ERR_PARSE);
    assert_int_equal(mv_mle_fingerprint(NULL, 1, tag), MV_ERR_INVAL);
    assert_false(mv_mle_tag_ok(NULL, 1, tag));
}

static void test_with_zstd(void **state)
{
    (void)state;
    static const char block[] = "{\"code\":{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\","
                                "\"code\":\"197361\"}]},\"dosageInstruction\":[{\"text\":\"1 tablet daily\"}]}";
    uint8_t oprf[64], fp1[32], fp2[32], key[32], tag[32], ch[32], scratch[PLEN];
    mv_buf z, back;
    kat_inputs(oprf, scratch, ch);
    mv_buf_init(&z, 4096);
    mv_buf_init(&back, 4096);
    assert_int_equal(mv_zstd_compress((const uint8_t *)block, sizeof block - 1, MV_ZSTD_LEVEL, &z), MV_OK);
    assert_int_equal(mv_mle_fingerprint(z.ptr, z.len, fp1), MV_OK);
    uint8_t *c = mv_malloc(z.len + 16);
    uint8_t *p = mv_malloc(z.len);
    size_t c_len, pl;
    assert_non_null(c);
    assert_non_null(p);
    assert_int_equal(mv_mle_key(oprf, key), MV_OK);
    assert_int_equal(mv_mle_encrypt(key, z.ptr, z.len, c, z.len + 16, &c_len, tag), MV_OK);
    assert_int_equal(mv_mle_decrypt(key, c, c_len, p, z.len, &pl), MV_OK);
    assert_int_equal(mv_mle_fingerprint(p, pl, fp2), MV_OK);
    assert_memory_equal(fp1, fp2, 32);
    assert_int_equal(mv_zstd_decompress(p, pl, 4096, &back), MV_OK);
    assert_int_equal(back.len, sizeof block - 1);
    assert_memory_equal(back.ptr, block, sizeof block - 1);
    mv_free(c);
    mv_free(p);
    mv_buf_clear(&z);
    mv_buf_clear(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kat),
        cmocka_unit_test(test_dedup_and_key_separation),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_pow),
        cmocka_unit_test(test_zero_length),
        cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_with_zstd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
