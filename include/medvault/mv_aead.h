/* mv_aead.h - AES-256-GCM (NIST SP 800-38D) with 96-bit nonces and 128-bit tags, over
 * OpenSSL EVP.
 *
 * Wire format of a sealed message: ciphertext (same length as the plaintext) followed by
 * the 16-byte tag. A (key, nonce) pair must never encrypt two different messages; MLE
 * block keys use nonce 0 because each such key encrypts exactly one message
 * (DESIGN.md 3). All functions are stateless and thread-safe. */
#ifndef MV_AEAD_H
#define MV_AEAD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_AEAD_KEY_BYTES 32
#define MV_AEAD_NONCE_BYTES 12
#define MV_AEAD_TAG_BYTES 16
/* Largest plaintext (and largest aad) accepted: libcrypto counts lengths in int, and the
 * sealed message pt_len + 16 must fit too. */
#define MV_AEAD_MAX_PT ((size_t)INT_MAX - MV_AEAD_TAG_BYTES)

/* Encrypts pt[0..pt_len) with aad[0..aad_len) as associated data and writes
 * pt_len + MV_AEAD_TAG_BYTES bytes to ct (ciphertext, then tag).
 * pt may be NULL when pt_len is 0, aad may be NULL when aad_len is 0.
 * Aliasing: ct may equal pt (in-place encryption); any other overlap of ct with pt is
 * refused. ct must not overlap aad, nonce or key.
 * Errors: MV_ERR_INVAL (NULL pointer with a non-zero length, partial overlap),
 * MV_ERR_TOO_LARGE (pt_len or aad_len > MV_AEAD_MAX_PT), MV_ERR_NOMEM, MV_ERR_CRYPTO
 * (libcrypto failed). On MV_ERR_NOMEM/MV_ERR_CRYPTO ct[0..pt_len+16) is wiped (an
 * in-place call then loses its plaintext). */
MV_API mv_err mv_aead_encrypt(uint8_t *ct, const uint8_t *pt, size_t pt_len, const uint8_t *aad,
                              size_t aad_len, const uint8_t nonce[static MV_AEAD_NONCE_BYTES],
                              const uint8_t key[static MV_AEAD_KEY_BYTES]) __attribute__((warn_unused_result));

/* Verifies and decrypts ct[0..ct_len) (ciphertext then tag; ct_len includes the tag) and
 * writes ct_len - MV_AEAD_TAG_BYTES bytes of plaintext to pt.
 * pt may be NULL when ct_len is exactly MV_AEAD_TAG_BYTES; aad may be NULL when aad_len is 0.
 * Aliasing: pt may equal ct (in-place decryption); any other overlap is refused. pt must
 * not overlap aad, nonce or key.
 * No unauthenticated plaintext is released: pt is only valid when MV_OK is returned. On
 * any error pt[0..ct_len-16) is wiped before returning (an in-place call then loses
 * its ciphertext). Do not read pt from another thread during the call.
 * Errors: MV_ERR_VERIFY (wrong key, nonce, aad, ciphertext or tag), MV_ERR_PARSE
 * (ct_len < MV_AEAD_TAG_BYTES), MV_ERR_TOO_LARGE (ct_len - 16 or aad_len > MV_AEAD_MAX_PT),
 * MV_ERR_INVAL (NULL pointer with a non-zero length, partial overlap), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO (libcrypto failed). */
MV_API mv_err mv_aead_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len, const uint8_t *aad,
                              size_t aad_len, const uint8_t nonce[static MV_AEAD_NONCE_BYTES],
                              const uint8_t key[static MV_AEAD_KEY_BYTES]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
