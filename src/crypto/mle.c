/* mle.c - message-locked block encryption: the key is derived from the OPRF output, C is
 * authenticated (GCM) and named by SHA-256(C); no unauthenticated plaintext is released and
 * every temporary secret is wiped. */
#include "medvault/mv_mle.h"

#include "medvault/mv_aead.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_mem.h"

_Static_assert(MV_MLE_KEY_BYTES == MV_AEAD_KEY_BYTES, "MLE keys are AES-256 keys");
_Static_assert(MV_MLE_OVERHEAD == MV_AEAD_TAG_BYTES, "C carries the GCM tag");
_Static_assert(MV_MLE_TAG_BYTES == MV_SHA256_BYTES, "tag = SHA-256(C)");
_Static_assert(MV_MLE_POW_BYTES == MV_HMAC_SHA256_BYTES, "PoW = HMAC-SHA-256");

/* DESIGN.md 3: the HKDF info and the GCM associated data; both are part of the format. */
static const char mle_info[] = "medvault mle v1";
static const char block_aad[] = "medvault-block-v1";
/* Nonce 0: each K = f(p) encrypts exactly one message. */
static const uint8_t zero_nonce[MV_AEAD_NONCE_BYTES] = {0};

mv_err mv_mle_fingerprint(const uint8_t *p, size_t len, uint8_t fp[static MV_MLE_FP_BYTES])
{
    if (!fp || (!p && len))
        return MV_ERR_INVAL;
    return mv_sha256(fp, p, len);
}

mv_err mv_mle_key(const uint8_t oprf_output[static MV_MLE_OPRF_BYTES], uint8_t key[static MV_MLE_KEY_BYTES])
{
    if (!oprf_output || !key)
        return MV_ERR_INVAL;
    /* Empty salt: RFC 5869 section 2.2 treats it as HashLen zero bytes; the OPRF output is
     * already uniformly random, so Extract only has to compress it to 32 bytes. */
    return mv_hkdf_sha256(key, MV_MLE_KEY_BYTES, NULL, 0, oprf_output, MV_MLE_OPRF_BYTES,
                          (const uint8_t *)mle_info, sizeof mle_info - 1);
}

mv_err mv_mle_encrypt(const uint8_t key[static MV_MLE_KEY_BYTES], const uint8_t *p, size_t len, uint8_t *c,
                      size_t c_cap, size_t *c_len, uint8_t tag[static MV_MLE_TAG_BYTES])
{
    mv_err rc = MV_ERR_INVAL;
    int written = 0;

    if (c_len)
        *c_len = 0;
    if (!key || !c || !c_len || !tag || (!p && len))
        goto out;
    if (len > MV_AEAD_MAX_PT) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    if (c_cap < len + MV_MLE_OVERHEAD)
        goto out;
    /* mv_aead_encrypt refuses a partial overlap before writing, and wipes c itself on a
     * later failure. */
    if ((rc = mv_aead_encrypt(c, p, len, (const uint8_t *)block_aad, sizeof block_aad - 1, zero_nonce,
                              key)) != MV_OK)
        goto out;
    written = 1;
    if ((rc = mv_sha256(tag, c, len + MV_MLE_OVERHEAD)) != MV_OK)
        goto out;
    *c_len = len + MV_MLE_OVERHEAD;
out:
    if (rc != MV_OK) {
        if (written)
            mv_wipe(c, len + MV_MLE_OVERHEAD);
        if (tag)
            mv_wipe(tag, MV_MLE_TAG_BYTES);
    }
    return rc;
}

mv_err mv_mle_decrypt(const uint8_t key[static MV_MLE_KEY_BYTES], const uint8_t *c, size_t c_len, uint8_t *p,
                      size_t p_cap, size_t *p_len)
{
    mv_err rc = MV_ERR_INVAL;

    if (p_len)
        *p_len = 0;
    if (!key || !p_len || (!c && c_len))
        return MV_ERR_INVAL;
    if (c_len < MV_MLE_OVERHEAD)
        return MV_ERR_PARSE;
    if (c_len - MV_MLE_OVERHEAD > MV_AEAD_MAX_PT)
        return MV_ERR_TOO_LARGE;
    if (p_cap < c_len - MV_MLE_OVERHEAD || (!p && c_len > MV_MLE_OVERHEAD))
        return MV_ERR_INVAL;
    /* mv_aead_decrypt checks the GCM tag before releasing anything and wipes p on failure. */
    rc = mv_aead_decrypt(p, c, c_len, (const uint8_t *)block_aad, sizeof block_aad - 1, zero_nonce, key);
    if (rc == MV_OK)
        *p_len = c_len - MV_MLE_OVERHEAD;
    return rc;
}

int mv_mle_tag_ok(const uint8_t *c, size_t c_len, const uint8_t tag[static MV_MLE_TAG_BYTES])
{
    uint8_t h[MV_SHA256_BYTES];
    int ok = 0;
    if (!tag || (!c && c_len))
        return 0;
    if (mv_sha256(h, c, c_len) == MV_OK)
        ok = mv_ct_eq(h, tag, sizeof h);
    mv_wipe(h, sizeof h);
    return ok;
}

mv_err mv_mle_pow_response(const uint8_t challenge[static MV_MLE_CHALLENGE_BYTES], const uint8_t *c,
                           size_t c_len, uint8_t resp[static MV_MLE_POW_BYTES])
{
    if (!challenge || !resp || (!c && c_len))
        return MV_ERR_INVAL;
    return mv_hmac_sha256(resp, challenge, MV_MLE_CHALLENGE_BYTES, c, c_len);
}

int mv_mle_pow_ok(const uint8_t challenge[static MV_MLE_CHALLENGE_BYTES], const uint8_t *c, size_t c_len,
                  const uint8_t resp[static MV_MLE_POW_BYTES])
{
    if (!challenge || !resp || (!c && c_len))
        return 0;
    return mv_hmac_sha256_verify(resp, challenge, MV_MLE_CHALLENGE_BYTES, c, c_len) == MV_OK;
}
