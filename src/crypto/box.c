/* box.c - X25519 and sealed boxes over libsodium: all-zero shared secrets are refused
 * and an unopened box never releases plaintext. */
#include "medvault/mv_box.h"

#include <sodium.h>
#include <string.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_mem.h"

_Static_assert(MV_BOX_PUBLIC_BYTES == crypto_box_PUBLICKEYBYTES, "X25519 public key size");
_Static_assert(MV_BOX_SECRET_BYTES == crypto_box_SECRETKEYBYTES, "X25519 secret key size");
_Static_assert(MV_BOX_SEAL_BYTES == crypto_box_SEALBYTES, "sealed box overhead");
_Static_assert(MV_X25519_BYTES == crypto_scalarmult_BYTES, "X25519 output size");
_Static_assert(MV_BOX_SECRET_BYTES == crypto_scalarmult_SCALARBYTES, "X25519 scalar size");

static int overlap(const void *a, size_t an, const void *b, size_t bn)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return an && bn && x < y + bn && y < x + an;
}

mv_err mv_box_keypair(uint8_t pk[static MV_BOX_PUBLIC_BYTES], uint8_t sk[static MV_BOX_SECRET_BYTES])
{
    mv_err rc;
    if (!pk || !sk || overlap(pk, MV_BOX_PUBLIC_BYTES, sk, MV_BOX_SECRET_BYTES))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    /* Cannot fail once libsodium is initialised (randombytes aborts rather than return). */
    return crypto_box_keypair(pk, sk) == 0 ? MV_OK : MV_ERR_CRYPTO;
}

mv_err mv_box_seal(uint8_t *c, const uint8_t *m, size_t m_len, const uint8_t pk[static MV_BOX_PUBLIC_BYTES])
{
    mv_err rc;
    if (!c || !pk || (!m && m_len))
        return MV_ERR_INVAL;
    if (m_len > SIZE_MAX - MV_BOX_SEAL_BYTES || m_len > crypto_box_MESSAGEBYTES_MAX)
        return MV_ERR_TOO_LARGE;
    if (overlap(c, m_len + MV_BOX_SEAL_BYTES, m, m_len) ||
        overlap(c, m_len + MV_BOX_SEAL_BYTES, pk, MV_BOX_PUBLIC_BYTES))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    /* libsodium rejects a low-order pk (its shared secret would be all zero). */
    rc = crypto_box_seal(c, m, m_len, pk) == 0 ? MV_OK : MV_ERR_CRYPTO;
out:
    if (rc != MV_OK)
        mv_wipe(c, m_len + MV_BOX_SEAL_BYTES);
    return rc;
}

mv_err mv_box_seal_open(uint8_t *m, const uint8_t *c, size_t c_len, const uint8_t pk[static MV_BOX_PUBLIC_BYTES],
                        const uint8_t sk[static MV_BOX_SECRET_BYTES])
{
    mv_err rc;
    size_t m_len;
    if (!c || !pk || !sk)
        return MV_ERR_INVAL;
    if (c_len < MV_BOX_SEAL_BYTES)
        return MV_ERR_PARSE;
    m_len = c_len - MV_BOX_SEAL_BYTES;
    if (!m && m_len)
        return MV_ERR_INVAL;
    if (m_len > crypto_box_MESSAGEBYTES_MAX)
        return MV_ERR_TOO_LARGE;
    if (overlap(m, m_len, c, c_len) || overlap(m, m_len, pk, MV_BOX_PUBLIC_BYTES) ||
        overlap(m, m_len, sk, MV_BOX_SECRET_BYTES))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    /* libsodium verifies the Poly1305 tag before decrypting into m. */
    rc = crypto_box_seal_open(m, c, c_len, pk, sk) == 0 ? MV_OK : MV_ERR_VERIFY;
out:
    if (rc != MV_OK)
        mv_wipe(m, m_len);
    return rc;
}

mv_err mv_x25519(uint8_t shared[static MV_X25519_BYTES], const uint8_t sk[static MV_BOX_SECRET_BYTES],
                 const uint8_t pk[static MV_BOX_PUBLIC_BYTES])
{
    /* libsodium's implementations may write q before they finish reading p, so the
     * result goes through a local to make aliasing safe. */
    uint8_t tmp[MV_X25519_BYTES];
    mv_err rc;
    if (!shared || !sk || !pk)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    /* crypto_scalarmult returns -1 exactly when the result is all zero (RFC 7748 6.1). */
    if (crypto_scalarmult(tmp, sk, pk) != 0) {
        rc = MV_ERR_CRYPTO;
        goto out;
    }
    memcpy(shared, tmp, sizeof tmp);
out:
    mv_wipe(tmp, sizeof tmp);
    if (rc != MV_OK)
        mv_wipe(shared, MV_X25519_BYTES);
    return rc;
}
