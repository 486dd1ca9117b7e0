/* test_stepup.c - step-up grants and device proofs (include/medvault/mv_stepup.h, layout in
 * ISSUE5 / docs/stepup.md): a grant round-trips through its 117-byte encoding and base64,
 * every single-byte change is refused, a wrong hospital key is refused, the validity window is
 * [issued, expires), and a device proof verifies only for its key, subject, time and nonce. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_stepup.h"
#include "medvault/mv_sig.h"

static uint8_t hpk[32], hsk[64], opk[32], osk[64];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(mv_crypto_init(), MV_OK);
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(opk, osk), MV_OK);
    return 0;
}

static mv_stepup_grant grant(void)
{
    mv_stepup_grant g;
    memset(&g, 0, sizeof g);
    for (int i = 0; i < 32; i++)
        g.subject[i] = (uint8_t)(i + 1);
    g.issued = 1000;
    g.expires = 1900;
    g.method = MV_STEPUP_METHOD_DEVICE;
    assert_int_equal(mv_stepup_grant_sign(&g, hsk), MV_OK);
    return g;
}

static void test_round_trip(void **state)
{
    (void)state;
    mv_stepup_grant g = grant(), out;
    uint8_t enc[MV_STEPUP_GRANT_BYTES];
    char b64[MV_STEPUP_GRANT_B64_LEN + 1];
    assert_int_equal(mv_stepup_grant_encode(&g, enc), MV_OK);
    assert_memory_equal(enc, "MVS1", 4);
    assert_memory_equal(enc + 4, g.subject, 32);
    assert_int_equal(enc[52], 1);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1000, &out), MV_OK);
    assert_memory_equal(&out, &g, sizeof g);
    assert_int_equal(mv_stepup_grant_encode_b64(&g, b64, sizeof b64), MV_OK);
    assert_int_equal(strlen(b64), MV_STEPUP_GRANT_B64_LEN);
    assert_int_equal(mv_stepup_grant_verify_b64(b64, strlen(b64), hpk, 1899, &out), MV_OK);
    assert_int_equal(out.expires, 1900);
    assert_int_equal(mv_stepup_grant_encode_b64(&g, b64, MV_STEPUP_GRANT_B64_LEN), MV_ERR_TOO_LARGE);
    g.method = 2;
    assert_int_equal(mv_stepup_grant_sign(&g, hsk), MV_OK);
    assert_int_equal(mv_stepup_grant_encode(&g, enc), MV_OK);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1000, &out), MV_OK);
    assert_int_equal(out.method, MV_STEPUP_METHOD_ADMIN);
    /* Signing refuses what could not verify. */
    g.method = 3;
    assert_int_equal(mv_stepup_grant_sign(&g, hsk), MV_ERR_INVAL);
    g.method = 1;
    g.expires = g.issued;
    assert_int_equal(mv_stepup_grant_sign(&g, hsk), MV_ERR_INVAL);
}

static void test_every_byte_tampered(void **state)
{
    (void)state;
    mv_stepup_grant g = grant(), out;
    uint8_t enc[MV_STEPUP_GRANT_BYTES];
    size_t refused = 0;
    assert_int_equal(mv_stepup_grant_encode(&g, enc), MV_OK);
    for (size_t i = 0; i < sizeof enc; i++) {
        enc[i] ^= 0x01;
        mv_err rc = mv_stepup_grant_verify(enc, sizeof enc, hpk, 1000, &out);
        /* A flipped time may move the window; any outcome but MV_OK is a refusal. */
        assert_int_not_equal(rc, MV_OK);
        refused++;
        enc[i] ^= 0x01;
    }
    assert_int_equal(refused, MV_STEPUP_GRANT_BYTES);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc - 1, hpk, 1000, &out), MV_ERR_PARSE);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1000, &out), MV_OK);
    assert_int_equal(mv_stepup_grant_verify_b64("!!!!", 4, hpk, 1000, &out), MV_ERR_PARSE);
}

static void test_wrong_key(void **state)
{
    (void)state;
    mv_stepup_grant g = grant(), out;
    uint8_t enc[MV_STEPUP_GRANT_BYTES];
    assert_int_equal(mv_stepup_grant_encode(&g, enc), MV_OK);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, opk, 1000, &out), MV_ERR_VERIFY);
    uint8_t zero[32] = {0};
    assert_memory_equal(out.subject, zero, 32); /* zeroed on error */
    /* Signed by another key: refused under the hospital's. */
    assert_int_equal(mv_stepup_grant_sign(&g, osk), MV_OK);
    assert_int_equal(mv_stepup_grant_encode(&g, enc), MV_OK);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1000, &out), MV_ERR_VERIFY);
}

static void test_window(void **state)
{
    (void)state;
    mv_stepup_grant g = grant();
    uint8_t enc[MV_STEPUP_GRANT_BYTES];
    assert_int_equal(mv_stepup_grant_encode(&g, enc), MV_OK);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 999, NULL), MV_ERR_EXPIRED);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1000, NULL), MV_OK);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1899, NULL), MV_OK);
    assert_int_equal(mv_stepup_grant_verify(enc, sizeof enc, hpk, 1900, NULL), MV_ERR_EXPIRED);
}

static void test_device_proof(void **state)
{
    (void)state;
    uint8_t dpk[32], dsk[64], sig[64], subject[32], other[32], nonce[16];
    assert_int_equal(mv_sign_keypair(dpk, dsk), MV_OK);
    memset(subject, 0xaa, 32);
    memset(other, 0xbb, 32);
    memset(nonce, 0x11, 16);
    assert_int_equal(mv_stepup_proof_sign(sig, dsk, subject, 12345, nonce), MV_OK);
    assert_int_equal(mv_stepup_proof_verify(sig, dpk, subject, 12345, nonce), MV_OK);
    assert_int_equal(mv_stepup_proof_verify(sig, opk, subject, 12345, nonce), MV_ERR_VERIFY);
    assert_int_equal(mv_stepup_proof_verify(sig, dpk, other, 12345, nonce), MV_ERR_VERIFY);
    assert_int_equal(mv_stepup_proof_verify(sig, dpk, subject, 12346, nonce), MV_ERR_VERIFY);
    nonce[15] ^= 1;
    assert_int_equal(mv_stepup_proof_verify(sig, dpk, subject, 12345, nonce), MV_ERR_VERIFY);
    nonce[15] ^= 1;
    sig[0] ^= 1;
    assert_int_equal(mv_stepup_proof_verify(sig, dpk, subject, 12345, nonce), MV_ERR_VERIFY);
    /* Domain separation: the device key's signature over the same bytes without the
     * "medvault-stepup-v1" prefix is not a proof. */
    uint8_t raw[32 + 8 + 16];
    memcpy(raw, subject, 32);
    memset(raw + 32, 0, 8);
    raw[38] = 12345 >> 8;
    raw[39] = 12345 & 0xff;
    memcpy(raw + 40, nonce, 16);
    assert_int_equal(mv_sign(sig, raw, sizeof raw, dsk), MV_OK);
    assert_int_equal(mv_stepup_proof_verify(sig, dpk, subject, 12345, nonce), MV_ERR_VERIFY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_every_byte_tampered), cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_window),     cmocka_unit_test(test_device_proof),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
