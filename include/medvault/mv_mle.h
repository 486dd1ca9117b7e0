/* mv_mle.h - message-locked encryption of one block (DESIGN.md 3, "MLE of a block").
 *
 * The caller compresses the block: p = zstd(block) (mv_zstd). Then
 *   x   = SHA-256(p)                                   (mv_mle_fingerprint: the OPRF input)
 *   K   = HKDF-SHA-256(salt "", ikm = OPRF output, info "medvault mle v1", 32 bytes) (mv_mle_key)
 *   C   = AES-256-GCM(K, nonce = 12 zero bytes, aad "medvault-block-v1", p) as ct || 16-byte tag
 *   tag = SHA-256(C)
 * Equal blocks give equal (K, C, tag), which is what lets the storage server deduplicate
 * ciphertexts it cannot read. The fixed nonce is safe because K is a function of p: a key
 * never encrypts two different messages. The storage server recomputes tag = SHA-256(C) on
 * every store (mv_mle_tag_ok), so nobody can poison a tag; proof of ownership is
 * HMAC-SHA-256(challenge, C) (mv_mle_pow_response / mv_mle_pow_ok).
 *
 * Keys and OPRF outputs are secret: callers wipe them (mv_wipe). All functions are stateless
 * and thread-safe. */
#ifndef MV_MLE_H
#define MV_MLE_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_MLE_KEY_BYTES 32
#define MV_MLE_TAG_BYTES 32
#define MV_MLE_FP_BYTES 32
#define MV_MLE_OVERHEAD 16       /* the GCM tag appended to C: c_len = p_len + 16 */
#define MV_MLE_OPRF_BYTES 64     /* RFC 9497 ristretto255-SHA512 output (MV_OPRF_OUTPUT_BYTES) */
#define MV_MLE_CHALLENGE_BYTES 32
#define MV_MLE_POW_BYTES 32

/* fp = SHA-256(p[0..len)), the OPRF input for the block. p may be NULL when len is 0.
 * Errors: MV_ERR_INVAL (NULL fp, or NULL p with len > 0), MV_ERR_CRYPTO (libcrypto failed). */
MV_API mv_err mv_mle_fingerprint(const uint8_t *p, size_t len, uint8_t fp[static MV_MLE_FP_BYTES])
    __attribute__((warn_unused_result));

/* key = HKDF-SHA-256(salt empty, ikm = oprf_output, info "medvault mle v1"), 32 bytes.
 * key must not overlap oprf_output. On error key is wiped.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_mle_key(const uint8_t oprf_output[static MV_MLE_OPRF_BYTES], uint8_t key[static MV_MLE_KEY_BYTES])
    __attribute__((warn_unused_result));

/* Encrypts p[0..len) into c: C = ciphertext || GCM tag, *c_len = len + MV_MLE_OVERHEAD, and
 * tag = SHA-256(C). p may be NULL when len is 0 (C is then the 16-byte GCM tag alone).
 * Aliasing: c may equal p (in place; the buffer then needs c_cap >= len + 16 bytes); any
 * other overlap of c with p is refused. tag must not overlap c, p or key.
 * On error *c_len is 0 and tag is wiped; argument errors write nothing to c, and once
 * encryption has begun c[0..len+16) is wiped (an in-place call then loses its plaintext).
 * Errors: MV_ERR_INVAL (NULL pointer with a non-zero length, c_cap < len + 16, partial
 * overlap), MV_ERR_TOO_LARGE (len > MV_AEAD_MAX_PT), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_mle_encrypt(const uint8_t key[static MV_MLE_KEY_BYTES], const uint8_t *p, size_t len, uint8_t *c,
                             size_t c_cap, size_t *c_len, uint8_t tag[static MV_MLE_TAG_BYTES])
    __attribute__((warn_unused_result));

/* Verifies and decrypts C = c[0..c_len) into p, *p_len = c_len - MV_MLE_OVERHEAD. Nothing
 * unauthenticated is released: on any error *p_len is 0; argument errors write nothing to
 * p, and once decryption has begun a failure wipes p[0..c_len-16) (an in-place call then
 * loses its ciphertext). The caller should also check the tag it fetched C by (mv_mle_tag_ok); GCM under K
 * already binds C to the key derived from the content.
 * Aliasing: p may equal c (in place); any other overlap is refused. p may be NULL when
 * c_len is exactly 16.
 * Errors: MV_ERR_VERIFY (wrong key or any change to C), MV_ERR_PARSE (c_len < 16),
 * MV_ERR_INVAL (NULL pointer with a non-zero length, p_cap < c_len - 16, partial overlap),
 * MV_ERR_TOO_LARGE, MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_mle_decrypt(const uint8_t key[static MV_MLE_KEY_BYTES], const uint8_t *c, size_t c_len, uint8_t *p,
                             size_t p_cap, size_t *p_len) __attribute__((warn_unused_result));

/* 1 if SHA-256(c[0..c_len)) equals tag (compared in constant time), 0 otherwise, including
 * when the hash cannot be computed or c is NULL with c_len > 0. */
MV_API int mv_mle_tag_ok(const uint8_t *c, size_t c_len, const uint8_t tag[static MV_MLE_TAG_BYTES])
    __attribute__((warn_unused_result));

/* Proof of ownership: resp = HMAC-SHA-256(key = challenge, message = C). The server picks a
 * fresh random challenge per request. resp may alias challenge. c may be NULL when c_len is 0.
 * On error resp is wiped.
 * Errors: MV_ERR_INVAL (NULL pointer with a non-zero length), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_mle_pow_response(const uint8_t challenge[static MV_MLE_CHALLENGE_BYTES], const uint8_t *c,
                                  size_t c_len, uint8_t resp[static MV_MLE_POW_BYTES])
    __attribute__((warn_unused_result));

/* 1 if resp equals HMAC-SHA-256(challenge, C) (constant-time compare), 0 otherwise,
 * including on any error. */
MV_API int mv_mle_pow_ok(const uint8_t challenge[static MV_MLE_CHALLENGE_BYTES], const uint8_t *c, size_t c_len,
                         const uint8_t resp[static MV_MLE_POW_BYTES]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
