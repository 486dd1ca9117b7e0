/* mv_hash.h - SHA-256 and SHA-512 (OpenSSL libcrypto), one-shot and streaming. */
#ifndef MV_HASH_H
#define MV_HASH_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_SHA256_BYTES 32
#define MV_SHA512_BYTES 64

/* One-shot digests. in may be NULL when n is 0. Return MV_ERR_CRYPTO only if libcrypto fails. */
MV_API mv_err mv_sha256(uint8_t out[static MV_SHA256_BYTES], const void *in, size_t n);
MV_API mv_err mv_sha512(uint8_t out[static MV_SHA512_BYTES], const void *in, size_t n);

/* Streaming SHA-512 (used for transcripts). The context is opaque; _final frees it
 * (and so does _free, for abandoned streams; both accept NULL). */
typedef struct mv_sha512_ctx mv_sha512_ctx;
MV_API mv_err mv_sha512_new(mv_sha512_ctx **out);
MV_API mv_err mv_sha512_update(mv_sha512_ctx *c, const void *in, size_t n);
MV_API mv_err mv_sha512_final(mv_sha512_ctx *c, uint8_t out[static MV_SHA512_BYTES]);
MV_API void mv_sha512_free(mv_sha512_ctx *c);

/* Streaming SHA-256, same contract. */
typedef struct mv_sha256_ctx mv_sha256_ctx;
MV_API mv_err mv_sha256_new(mv_sha256_ctx **out);
MV_API mv_err mv_sha256_update(mv_sha256_ctx *c, const void *in, size_t n);
MV_API mv_err mv_sha256_final(mv_sha256_ctx *c, uint8_t out[static MV_SHA256_BYTES]);
MV_API void mv_sha256_free(mv_sha256_ctx *c);

#ifdef __cplusplus
}
#endif
#endif
