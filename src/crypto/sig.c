/* sig.c - Ed25519 signing and strict verification: only the holder of sk can produce a
 * signature that verifies, and malleated signatures (non-canonical S, small-order keys) fail. */
#include "medvault/mv_sig.h"
#include "medvault/mv_crypto.h"

#include <sodium.h>

#include "medvault/mv_mem.h"

mv_err mv_sign_keypair(uint8_t pk[static MV_SIGN_PUBLIC_BYTES], uint8_t sk[static MV_SIGN_SECRET_BYTES])
{
    mv_err rc;
    if (!pk || !sk)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (crypto_sign_ed25519_keypair(pk, sk) != 0) {
        mv_wipe(sk, MV_SIGN_SECRET_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}

mv_err mv_sign_seed_keypair(uint8_t pk[static MV_SIGN_PUBLIC_BYTES], uint8_t sk[static MV_SIGN_SECRET_BYTES],
                            const uint8_t seed[static MV_SIGN_SEED_BYTES])
{
    mv_err rc;
    if (!pk || !sk || !seed)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (crypto_sign_ed25519_seed_keypair(pk, sk, seed) != 0) {
        mv_wipe(sk, MV_SIGN_SECRET_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}

mv_err mv_sign(uint8_t sig[static MV_SIGNATURE_BYTES], const void *msg, size_t n,
               const uint8_t sk[static MV_SIGN_SECRET_BYTES])
{
    static const uint8_t empty[1];
    mv_err rc;
    if (!sig || !sk || (n && !msg))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (crypto_sign_ed25519_detached(sig, NULL, n ? msg : empty, n, sk) != 0) {
        mv_wipe(sig, MV_SIGNATURE_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}

mv_err mv_sign_verify(const uint8_t sig[static MV_SIGNATURE_BYTES], const void *msg, size_t n,
                      const uint8_t pk[static MV_SIGN_PUBLIC_BYTES])
{
    static const uint8_t empty[1];
    mv_err rc;
    if (!sig || !pk || (n && !msg))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (crypto_sign_ed25519_verify_detached(sig, n ? msg : empty, n, pk) != 0)
        return MV_ERR_VERIFY;
    return MV_OK;
}

mv_err mv_sign_pk_to_x25519(uint8_t x_pk[static MV_SIGN_X25519_BYTES], const uint8_t ed_pk[static MV_SIGN_PUBLIC_BYTES])
{
    mv_err rc;
    if (!x_pk || !ed_pk)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0) {
        mv_wipe(x_pk, MV_SIGN_X25519_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}

mv_err mv_sign_sk_to_x25519(uint8_t x_sk[static MV_SIGN_X25519_BYTES], const uint8_t ed_sk[static MV_SIGN_SECRET_BYTES])
{
    mv_err rc;
    if (!x_sk || !ed_sk)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk) != 0) {
        mv_wipe(x_sk, MV_SIGN_X25519_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}
