/* aead.c - AES-256-GCM over EVP: the tag is checked before decrypt returns, and on any
 * failure the output buffer is wiped, so no unauthenticated plaintext is ever released. */
#include "medvault/mv_aead.h"

#include <string.h>

#include <openssl/evp.h>

#include "medvault/mv_mem.h"

/* 1 if [a, a+an) and [b, b+bn) share a byte without starting at the same address
 * (exact aliasing is the supported in-place mode). Compared as integers: relational
 * operators on pointers into different objects are undefined. */
static int partial_overlap(const void *a, size_t an, const void *b, size_t bn)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    if (x == y || an == 0 || bn == 0)
        return 0;
    return x < y + bn && y < x + an;
}

mv_err mv_aead_encrypt(uint8_t *ct, const uint8_t *pt, size_t pt_len, const uint8_t *aad,
                       size_t aad_len, const uint8_t nonce[static MV_AEAD_NONCE_BYTES],
                       const uint8_t key[static MV_AEAD_KEY_BYTES])
{
    mv_err rc = MV_ERR_CRYPTO;
    EVP_CIPHER_CTX *ctx = NULL;
    int outl = 0;

    if (!ct || !nonce || !key || (!pt && pt_len) || (!aad && aad_len))
        return MV_ERR_INVAL;
    if (pt_len > MV_AEAD_MAX_PT || aad_len > MV_AEAD_MAX_PT)
        return MV_ERR_TOO_LARGE;
    if (partial_overlap(ct, pt_len + MV_AEAD_TAG_BYTES, pt, pt_len))
        return MV_ERR_INVAL;

    if (!(ctx = EVP_CIPHER_CTX_new())) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* The default GCM IV length is 12 bytes (SP 800-38D's 96-bit fast path). */
    if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
        goto out;
    if (aad_len && EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
        goto out;
    if (pt_len && (EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)pt_len) != 1 || (size_t)outl != pt_len))
        goto out;
    if (EVP_EncryptFinal_ex(ctx, ct + pt_len, &outl) != 1 || outl != 0)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, MV_AEAD_TAG_BYTES, ct + pt_len) != 1)
        goto out;
    rc = MV_OK;
out:
    if (rc != MV_OK)
        mv_wipe(ct, pt_len + MV_AEAD_TAG_BYTES);
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    return rc;
}

mv_err mv_aead_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len, const uint8_t *aad,
                       size_t aad_len, const uint8_t nonce[static MV_AEAD_NONCE_BYTES],
                       const uint8_t key[static MV_AEAD_KEY_BYTES])
{
    mv_err rc = MV_ERR_CRYPTO;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t tag[MV_AEAD_TAG_BYTES];
    uint8_t final_out[32]; /* GCM's Final writes nothing; pt may be NULL here */
    size_t pt_len;
    int outl = 0;

    if (!ct || !nonce || !key || (!aad && aad_len))
        return MV_ERR_INVAL;
    if (ct_len < MV_AEAD_TAG_BYTES)
        return MV_ERR_PARSE;
    pt_len = ct_len - MV_AEAD_TAG_BYTES;
    if (!pt && pt_len)
        return MV_ERR_INVAL;
    if (pt_len > MV_AEAD_MAX_PT || aad_len > MV_AEAD_MAX_PT)
        return MV_ERR_TOO_LARGE;
    if (partial_overlap(pt, pt_len, ct, ct_len))
        return MV_ERR_INVAL;

    /* Copied first so that in-place decryption cannot disturb it. */
    memcpy(tag, ct + pt_len, sizeof tag);
    if (!(ctx = EVP_CIPHER_CTX_new())) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, MV_AEAD_TAG_BYTES, tag) != 1)
        goto out;
    if (aad_len && EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
        goto out;
    /* GCM cannot check the tag before the CTR pass, so plaintext lands in pt here; it
     * is wiped below unless Final accepts the tag. */
    if (pt_len && (EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)pt_len) != 1 || (size_t)outl != pt_len))
        goto out;
    if (EVP_DecryptFinal_ex(ctx, final_out, &outl) != 1) {
        rc = MV_ERR_VERIFY;
        goto out;
    }
    rc = outl == 0 ? MV_OK : MV_ERR_CRYPTO;
out:
    if (rc != MV_OK)
        mv_wipe(pt, pt_len);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
