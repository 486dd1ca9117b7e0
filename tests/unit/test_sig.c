/* test_sig.c - Ed25519 (mv_sig.h): RFC 8032 section 7.1 TEST 1-3, all of Wycheproof's
 * ed25519_test.json, bit flips, and the Ed25519 -> X25519 maps. */
#include "testutil.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

/* RFC 8032 section 7.1: public key from seed, deterministic signature bytes, verification. */
static void test_rfc8032(void **state)
{
    (void)state;
    mv_json *root = tu_load_json("rfc8032-ed25519.json");
    const mv_json *tests = mv_json_get(root, "tests");
    size_t ran = 0;
    for (size_t i = 0; i < mv_json_len(tests); i++) {
        const mv_json *t = mv_json_at(tests, i);
        size_t seed_n, pk_n, msg_n, sig_n;
        uint8_t *seed = tu_json_hex(t, "secret_key", &seed_n);
        uint8_t *pk_want = tu_json_hex(t, "public_key", &pk_n);
        uint8_t *msg = tu_json_hex(t, "message", &msg_n);
        uint8_t *sig_want = tu_json_hex(t, "signature", &sig_n);
        assert_int_equal(seed_n, MV_SIGN_SEED_BYTES);
        assert_int_equal(pk_n, MV_SIGN_PUBLIC_BYTES);
        assert_int_equal(sig_n, MV_SIGNATURE_BYTES);

        uint8_t pk[MV_SIGN_PUBLIC_BYTES], sk[MV_SIGN_SECRET_BYTES], sig[MV_SIGNATURE_BYTES];
        assert_int_equal(mv_sign_seed_keypair(pk, sk, seed), MV_OK);
        assert_memory_equal(pk, pk_want, MV_SIGN_PUBLIC_BYTES);
        assert_int_equal(mv_sign(sig, msg, msg_n, sk), MV_OK);
        assert_memory_equal(sig, sig_want, MV_SIGNATURE_BYTES);
        assert_int_equal(mv_sign_verify(sig, msg, msg_n, pk), MV_OK);
        /* A different message (one byte appended) must fail. */
        uint8_t *longer = mv_malloc(msg_n + 1);
        assert_non_null(longer);
        if (msg_n)
            memcpy(longer, msg, msg_n);
        longer[msg_n] = 0;
        assert_int_equal(mv_sign_verify(sig, longer, msg_n + 1, pk), MV_ERR_VERIFY);
        mv_free(longer);
        mv_free(seed);
        mv_free(pk_want);
        mv_free(msg);
        mv_free(sig_want);
        ran++;
    }
    assert_int_equal(ran, 3);
    mv_json_free(root);
}

/* Project Wycheproof ed25519_test.json: every "valid" case verifies, every "invalid" case is
 * rejected. Signatures whose length is not 64 bytes cannot be passed to the fixed-size API
 * and count as rejected by length (as a parser in front of it would). */
static void test_wycheproof(void **state)
{
    (void)state;
    mv_json *root = tu_load_json("wycheproof/ed25519_test.json");
    uint64_t declared = 0;
    assert_int_equal(mv_json_get_u64(root, "numberOfTests", &declared), MV_OK);
    const mv_json *groups = mv_json_get(root, "testGroups");
    size_t total = 0, valid_ok = 0, invalid_rejected = 0, invalid_by_length = 0;
    for (size_t g = 0; g < mv_json_len(groups); g++) {
        const mv_json *grp = mv_json_at(groups, g);
        size_t pk_n;
        uint8_t *pk = tu_json_hex(mv_json_get(grp, "publicKey"), "pk", &pk_n);
        assert_int_equal(pk_n, MV_SIGN_PUBLIC_BYTES);
        const mv_json *tests = mv_json_get(grp, "tests");
        for (size_t i = 0; i < mv_json_len(tests); i++) {
            const mv_json *t = mv_json_at(tests, i);
            size_t msg_n, sig_n, rlen;
            uint8_t *msg = tu_json_hex(t, "msg", &msg_n);
            uint8_t *sig = tu_json_hex(t, "sig", &sig_n);
            const char *result = mv_json_get_str(t, "result", &rlen);
            assert_non_null(result);
            int want_valid = strcmp(result, "valid") == 0;
            if (!want_valid && strcmp(result, "invalid") != 0)
                fail_msg("unexpected result %s", result);
            mv_err rc = MV_ERR_VERIFY;
            if (sig_n == MV_SIGNATURE_BYTES)
                rc = mv_sign_verify(sig, msg, msg_n, pk);
            else
                invalid_by_length += !want_valid;
            if (want_valid) {
                if (rc != MV_OK)
                    fail_msg("valid case rejected");
                valid_ok++;
            } else {
                if (rc != MV_ERR_VERIFY)
                    fail_msg("invalid case accepted");
                invalid_rejected++;
            }
            total++;
            mv_free(msg);
            mv_free(sig);
        }
        mv_free(pk);
    }
    assert_int_equal(total, declared);
    assert_int_equal(total, 151);
    assert_int_equal(valid_ok, 88);
    assert_int_equal(invalid_rejected, 63);
    assert_int_equal(invalid_by_length, 12);
    mv_json_free(root);
}

/* Flipping any single bit of the signature, the message or the public key fails. */
static void test_bit_flips(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], sig[64], msg[37];
    assert_int_equal(mv_sign_keypair(pk, sk), MV_OK);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(mv_sign(sig, msg, sizeof msg, sk), MV_OK);
    assert_int_equal(mv_sign_verify(sig, msg, sizeof msg, pk), MV_OK);
    for (size_t bit = 0; bit < 64 * 8; bit++) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_sign_verify(sig, msg, sizeof msg, pk), MV_ERR_VERIFY);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < sizeof msg * 8; bit++) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_sign_verify(sig, msg, sizeof msg, pk), MV_ERR_VERIFY);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 32 * 8; bit++) {
        pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_sign_verify(sig, msg, sizeof msg, pk), MV_ERR_VERIFY);
        pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(mv_sign_verify(sig, msg, sizeof msg, pk), MV_OK);
    /* Empty messages work with NULL. */
    assert_int_equal(mv_sign(sig, NULL, 0, sk), MV_OK);
    assert_int_equal(mv_sign_verify(sig, NULL, 0, pk), MV_OK);
    assert_int_equal(mv_sign_verify(sig, msg, 1, pk), MV_ERR_VERIFY);
    /* Caller bugs. */
    assert_int_equal(mv_sign(sig, NULL, 1, sk), MV_ERR_INVAL);
    assert_int_equal(mv_sign_verify(sig, NULL, 1, pk), MV_ERR_INVAL);
    mv_wipe(sk, sizeof sk);
}

/* The X25519 keys derived from an Ed25519 pair form a working X25519 pair, and a
 * key pair from the same seed gives the same keys (determinism). */
static void test_x25519_maps(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], sk[64], pk2[32], sk2[64], xpk[32], xsk[32], xpk_from_sk[32];
    memset(seed, 0x42, sizeof seed);
    assert_int_equal(mv_sign_seed_keypair(pk, sk, seed), MV_OK);
    assert_int_equal(mv_sign_seed_keypair(pk2, sk2, seed), MV_OK);
    assert_memory_equal(pk, pk2, 32);
    assert_memory_equal(sk, sk2, 64);
    assert_memory_equal(sk + 32, pk, 32);
    assert_int_equal(mv_sign_pk_to_x25519(xpk, pk), MV_OK);
    assert_int_equal(mv_sign_sk_to_x25519(xsk, sk), MV_OK);
    assert_int_equal(crypto_scalarmult_base(xpk_from_sk, xsk), 0);
    assert_memory_equal(xpk, xpk_from_sk, 32);
    /* A small-order point (the identity, encoded as y = 1) is refused. */
    uint8_t ident[32] = {1};
    assert_int_equal(mv_sign_pk_to_x25519(xpk, ident), MV_ERR_CRYPTO);
    mv_wipe(xsk, sizeof xsk);
    mv_wipe(sk, sizeof sk);
    mv_wipe(sk2, sizeof sk2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032),
        cmocka_unit_test(test_wycheproof),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_x25519_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
