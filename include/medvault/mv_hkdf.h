/* mv_hkdf.h - HKDF with SHA-256 (RFC 5869) over OpenSSL EVP_KDF.
 *
 * All functions are stateless and thread-safe. Outputs are key material: callers wipe
 * them (mv_wipe) when done. */
#ifndef MV_HKDF_H
#define MV_HKDF_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_HKDF_SHA256_PRK_BYTES 32
/* RFC 5869 section 2.3: L <= 255*HashLen. */
#define MV_HKDF_SHA256_MAX_OUT (255u * 32u)

/* HKDF-Extract (RFC 5869 section 2.2): prk = HMAC-SHA-256(salt, ikm).
 * salt may be NULL when salt_len is 0; an absent salt is the same as 32 zero bytes.
 * ikm may be NULL when ikm_len is 0. prk must not overlap salt or ikm.
 * Errors: MV_ERR_INVAL (NULL pointer with a non-zero length), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO (libcrypto failed). On error prk is wiped. */
MV_API mv_err mv_hkdf_sha256_extract(uint8_t prk[static MV_HKDF_SHA256_PRK_BYTES], const uint8_t *salt,
                                     size_t salt_len, const uint8_t *ikm, size_t ikm_len)
    __attribute__((warn_unused_result));

/* HKDF-Expand (RFC 5869 section 2.3): out[0..out_len) = T(1) | T(2) | ... under prk.
 * prk must hold at least 32 bytes (the RFC's "at least HashLen octets"); info may be NULL
 * when info_len is 0. out may be NULL when out_len is 0 (then nothing is done).
 * out must not overlap prk or info.
 * Errors: MV_ERR_INVAL (out_len > MV_HKDF_SHA256_MAX_OUT, prk_len < 32, NULL pointer with
 * a non-zero length), MV_ERR_NOMEM, MV_ERR_CRYPTO. On error out is wiped. */
MV_API mv_err mv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
                                    const uint8_t *info, size_t info_len) __attribute__((warn_unused_result));

/* Extract then Expand; the intermediate PRK is wiped. Arguments and errors as for the two
 * steps (out_len is checked before any work is done). out must not overlap any input. */
MV_API mv_err mv_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                             const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
