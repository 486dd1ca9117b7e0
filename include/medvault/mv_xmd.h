/* mv_xmd.h - expand_message_xmd with SHA-512 (RFC 9380 section 5.3.1).
 *
 * The building block of hash-to-group and hash-to-scalar for ristretto255 (RFC 9380 /
 * RFC 9497): it stretches a message under a domain separation tag (DST) into uniformly
 * random bytes. Stateless and thread-safe. */
#ifndef MV_XMD_H
#define MV_XMD_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest out_len: ell = ceil(out_len / 64) must be <= 255 (RFC 9380 5.3.1 step 2). */
#define MV_XMD_MAX_OUT (255u * 64u)
/* Largest DST accepted (RFC 9380 5.3.1; the oversize-DST hashing of 5.3.3 is not offered). */
#define MV_XMD_MAX_DST 255u

/* One piece of a message given in parts (ptr may be NULL when len is 0). */
typedef struct mv_xmd_part {
    const uint8_t *ptr;
    size_t len;
} mv_xmd_part;

/* Writes expand_message_xmd(SHA-512, msg, dst, out_len) to out[0..out_len).
 * msg may be NULL when msg_len is 0; dst may be NULL when dst_len is 0 (RFC 9380 forbids
 * an empty DST for hash-to-curve suites, but the expander itself is defined for it).
 * out must not overlap msg or dst.
 * Errors: MV_ERR_INVAL (out NULL, out_len 0 or > MV_XMD_MAX_OUT, dst_len > MV_XMD_MAX_DST,
 * NULL with a non-zero length), MV_ERR_NOMEM / MV_ERR_CRYPTO if libcrypto fails.
 * On error out is zeroed. */
MV_API mv_err mv_xmd_sha512(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
                            const uint8_t *dst, size_t dst_len) __attribute__((warn_unused_result));

/* The same, with msg given as the concatenation of parts[0..nparts) (saves copying a
 * transcript into one buffer). nparts may be 0 (empty message). Same errors. */
MV_API mv_err mv_xmd_sha512_parts(uint8_t *out, size_t out_len, const mv_xmd_part *parts, size_t nparts,
                                  const uint8_t *dst, size_t dst_len) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
