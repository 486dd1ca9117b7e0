/* mv_hmac.h - HMAC (RFC 2104) with SHA-256 and SHA-1 over OpenSSL EVP_MAC.
 *
 * HMAC-SHA-256 is the default for dedup tokens and proof of ownership; HMAC-SHA-1
 * exists only for compatibility with the original dedup-token scheme (DESIGN.md 3).
 * All functions are stateless and thread-safe. */
#ifndef MV_HMAC_H
#define MV_HMAC_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_HMAC_SHA256_BYTES 32
#define MV_HMAC_SHA1_BYTES 20

/* out = HMAC-SHA-256(key[0..key_len), msg[0..msg_len)).
 * key may be NULL when key_len is 0 and msg may be NULL when msg_len is 0 (an empty key
 * or message is valid HMAC input). Keys of any length are accepted: keys longer than the
 * 64-byte block are hashed first (RFC 2104 section 2). out may alias key or msg: inputs
 * are fully consumed before out is written.
 * Errors: MV_ERR_INVAL (NULL pointer with a non-zero length), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO (libcrypto failed). On error out is wiped. */
MV_API mv_err mv_hmac_sha256(uint8_t out[static MV_HMAC_SHA256_BYTES], const uint8_t *key, size_t key_len,
                             const void *msg, size_t msg_len) __attribute__((warn_unused_result));

/* out = HMAC-SHA-1(key, msg); same contract as mv_hmac_sha256. */
MV_API mv_err mv_hmac_sha1(uint8_t out[static MV_HMAC_SHA1_BYTES], const uint8_t *key, size_t key_len,
                           const void *msg, size_t msg_len) __attribute__((warn_unused_result));

/* Checks, in constant time, that mac equals HMAC-SHA-256(key, msg) (all 32 bytes; no
 * truncated tags). Arguments as for mv_hmac_sha256.
 * Returns MV_OK on a match, MV_ERR_VERIFY on a mismatch, or MV_ERR_INVAL / MV_ERR_NOMEM /
 * MV_ERR_CRYPTO as mv_hmac_sha256 (never MV_OK on any error). */
MV_API mv_err mv_hmac_sha256_verify(const uint8_t mac[static MV_HMAC_SHA256_BYTES], const uint8_t *key,
                                    size_t key_len, const void *msg, size_t msg_len)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
