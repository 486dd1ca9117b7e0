/* hmac.c - HMAC-SHA-256/SHA-1 over EVP_MAC; tags are compared in constant time and
 * every temporary tag is wiped. */
#include "medvault/mv_hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "medvault/mv_mem.h"

static mv_err hmac(const char *digest, uint8_t *out, size_t out_len, const uint8_t *key,
                   size_t key_len, const void *msg, size_t msg_len)
{
    /* EVP_MAC_init treats a NULL key as "keep the previous key", so an empty key must
     * be passed as a non-NULL pointer with length 0. */
    static const uint8_t empty_key[1] = {0};
    mv_err rc = MV_ERR_CRYPTO;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    size_t got = 0;
    OSSL_PARAM params[2];

    if ((!key && key_len) || (!msg && msg_len))
        return MV_ERR_INVAL;
    if (!key)
        key = empty_key;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (!(mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)))
        goto out;
    if (!(ctx = EVP_MAC_CTX_new(mac))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (EVP_MAC_init(ctx, key, key_len, params) != 1)
        goto out;
    if (msg_len && EVP_MAC_update(ctx, msg, msg_len) != 1)
        goto out;
    if (EVP_MAC_final(ctx, out, &got, out_len) != 1 || got != out_len)
        goto out;
    rc = MV_OK;
out:
    if (rc != MV_OK)
        mv_wipe(out, out_len);
    EVP_MAC_CTX_free(ctx); /* cleanses the keyed HMAC state */
    EVP_MAC_free(mac);
    return rc;
}

mv_err mv_hmac_sha256(uint8_t out[static MV_HMAC_SHA256_BYTES], const uint8_t *key, size_t key_len,
                      const void *msg, size_t msg_len)
{
    return hmac(OSSL_DIGEST_NAME_SHA2_256, out, MV_HMAC_SHA256_BYTES, key, key_len, msg, msg_len);
}

mv_err mv_hmac_sha1(uint8_t out[static MV_HMAC_SHA1_BYTES], const uint8_t *key, size_t key_len,
                    const void *msg, size_t msg_len)
{
    return hmac(OSSL_DIGEST_NAME_SHA1, out, MV_HMAC_SHA1_BYTES, key, key_len, msg, msg_len);
}

mv_err mv_hmac_sha256_verify(const uint8_t mac[static MV_HMAC_SHA256_BYTES], const uint8_t *key,
                             size_t key_len, const void *msg, size_t msg_len)
{
    uint8_t expect[MV_HMAC_SHA256_BYTES];
    mv_err rc = mv_hmac_sha256(expect, key, key_len, msg, msg_len);
    if (rc != MV_OK)
        goto out;
    if (!mv_ct_eq(expect, mac, sizeof expect))
        rc = MV_ERR_VERIFY;
out:
    mv_wipe(expect, sizeof expect);
    return rc;
}
