/* hash.c - SHA-256/512 over OpenSSL EVP: the one home of these digests in medvault. */
#include "medvault/mv_hash.h"

#include <openssl/evp.h>

static mv_err digest(const EVP_MD *md, uint8_t *out, const void *in, size_t n)
{
    unsigned int len = 0;
    if (!in && n)
        return MV_ERR_INVAL;
    if (EVP_Digest(in ? in : "", n, out, &len, md, NULL) != 1)
        return MV_ERR_CRYPTO;
    return MV_OK;
}

mv_err mv_sha256(uint8_t out[static MV_SHA256_BYTES], const void *in, size_t n)
{
    return digest(EVP_sha256(), out, in, n);
}

mv_err mv_sha512(uint8_t out[static MV_SHA512_BYTES], const void *in, size_t n)
{
    return digest(EVP_sha512(), out, in, n);
}

static mv_err stream_new(const EVP_MD *md, EVP_MD_CTX **out)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return MV_ERR_NOMEM;
    if (EVP_DigestInit_ex(c, md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return MV_ERR_CRYPTO;
    }
    *out = c;
    return MV_OK;
}

static mv_err stream_update(EVP_MD_CTX *c, const void *in, size_t n)
{
    if (!c || (!in && n))
        return MV_ERR_INVAL;
    return n == 0 || EVP_DigestUpdate(c, in, n) == 1 ? MV_OK : MV_ERR_CRYPTO;
}

static mv_err stream_final(EVP_MD_CTX *c, uint8_t *out)
{
    unsigned int len = 0;
    if (!c)
        return MV_ERR_INVAL;
    int ok = EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
    return ok == 1 ? MV_OK : MV_ERR_CRYPTO;
}

mv_err mv_sha512_new(mv_sha512_ctx **out) { return stream_new(EVP_sha512(), (EVP_MD_CTX **)out); }
mv_err mv_sha512_update(mv_sha512_ctx *c, const void *in, size_t n) { return stream_update((EVP_MD_CTX *)c, in, n); }
mv_err mv_sha512_final(mv_sha512_ctx *c, uint8_t out[static MV_SHA512_BYTES]) { return stream_final((EVP_MD_CTX *)c, out); }
void mv_sha512_free(mv_sha512_ctx *c) { EVP_MD_CTX_free((EVP_MD_CTX *)c); }

mv_err mv_sha256_new(mv_sha256_ctx **out) { return stream_new(EVP_sha256(), (EVP_MD_CTX **)out); }
mv_err mv_sha256_update(mv_sha256_ctx *c, const void *in, size_t n) { return stream_update((EVP_MD_CTX *)c, in, n); }
mv_err mv_sha256_final(mv_sha256_ctx *c, uint8_t out[static MV_SHA256_BYTES]) { return stream_final((EVP_MD_CTX *)c, out); }
void mv_sha256_free(mv_sha256_ctx *c) { EVP_MD_CTX_free((EVP_MD_CTX *)c); }
