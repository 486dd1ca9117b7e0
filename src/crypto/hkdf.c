/* hkdf.c - HKDF-SHA-256 (RFC 5869) over EVP_KDF; output length capped at 255*HashLen,
 * intermediate keys wiped. */
#include "medvault/mv_hkdf.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "medvault/mv_mem.h"

/* Stands in for an empty input: an OSSL_PARAM octet string should not be NULL even when
 * its length is 0. Providers only read parameters, so dropping const is safe. */
static const uint8_t empty_input[1];

static void *param_ptr(const uint8_t *p)
{
    return (void *)(p ? p : empty_input);
}

/* One EVP_KDF "HKDF" derivation in the given mode (extract-only or expand-only). */
static mv_err hkdf_run(int mode, uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len,
                       const uint8_t *salt_or_info, size_t sl_len)
{
    mv_err rc = MV_ERR_CRYPTO;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[5];
    size_t i = 0;

    params[i++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                   (char *)OSSL_DIGEST_NAME_SHA2_256, 0);
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, param_ptr(key), key_len);
    if (sl_len)
        params[i++] = OSSL_PARAM_construct_octet_string(
            mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY ? OSSL_KDF_PARAM_SALT : OSSL_KDF_PARAM_INFO,
            param_ptr(salt_or_info), sl_len);
    params[i] = OSSL_PARAM_construct_end();

    if (!(kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL)))
        goto out;
    if (!(ctx = EVP_KDF_CTX_new(kdf))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (EVP_KDF_derive(ctx, out, out_len, params) != 1)
        goto out;
    rc = MV_OK;
out:
    if (rc != MV_OK)
        mv_wipe(out, out_len);
    EVP_KDF_CTX_free(ctx); /* cleanses the key, salt and info copies */
    EVP_KDF_free(kdf);
    return rc;
}

mv_err mv_hkdf_sha256_extract(uint8_t prk[static MV_HKDF_SHA256_PRK_BYTES], const uint8_t *salt,
                              size_t salt_len, const uint8_t *ikm, size_t ikm_len)
{
    if ((!salt && salt_len) || (!ikm && ikm_len))
        return MV_ERR_INVAL;
    /* An empty salt is left out: RFC 5869 section 2.2 then uses HashLen zero bytes,
     * which as an HMAC key is the same as the empty key. */
    return hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, prk, MV_HKDF_SHA256_PRK_BYTES, ikm, ikm_len,
                    salt, salt_len);
}

mv_err mv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                             const uint8_t *info, size_t info_len)
{
    if (out_len > MV_HKDF_SHA256_MAX_OUT || prk_len < MV_HKDF_SHA256_PRK_BYTES || !prk ||
        (!info && info_len) || (!out && out_len))
        return MV_ERR_INVAL;
    if (out_len == 0)
        return MV_OK;
    return hkdf_run(EVP_KDF_HKDF_MODE_EXPAND_ONLY, out, out_len, prk, prk_len, info, info_len);
}

mv_err mv_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[MV_HKDF_SHA256_PRK_BYTES];
    mv_err rc = MV_ERR_INVAL;

    if (out_len > MV_HKDF_SHA256_MAX_OUT || (!out && out_len) || (!info && info_len))
        goto out;
    if ((rc = mv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len)) != MV_OK)
        goto out;
    rc = mv_hkdf_sha256_expand(out, out_len, prk, sizeof prk, info, info_len);
out:
    mv_wipe(prk, sizeof prk);
    return rc;
}
