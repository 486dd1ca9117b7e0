/* mv_zstd.h - one-frame zstd compression of blocks and envelopes (DESIGN.md 3: p = zstd(block)).
 *
 * Compression is deterministic for a given input, level and libzstd version (single thread,
 * no dictionary, no checksum, content size always in the frame header), so that equal blocks
 * give equal p and therefore equal MLE ciphertexts. Decompression accepts exactly one zstd
 * frame that declares its content size, and never allocates more than that declared size
 * (checked against the caller's cap first), so a small hostile frame cannot expand into a
 * memory bomb. Temporary state inside libzstd is wiped when freed (it holds fragments of the
 * plaintext). All functions are stateless and thread-safe. */
#ifndef MV_ZSTD_H
#define MV_ZSTD_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The level medvault uses for blocks and envelopes. Changing it changes p for every block
 * and so breaks deduplication against blocks stored before: it is part of the format. */
#define MV_ZSTD_LEVEL 3

/* Compresses in[0..len) at `level` and appends one zstd frame (with the content size in its
 * header, no checksum) to out. in may be NULL when len is 0 (an empty input gives a valid
 * frame of content size 0). level must be within libzstd's range (ZSTD_minCLevel() ..
 * ZSTD_maxCLevel(); 0 means libzstd's default, 3). in must not overlap out's storage.
 * On error out is unchanged (any partially written bytes past out->len are wiped).
 * Errors: MV_ERR_INVAL (NULL out, NULL in with len > 0, level out of range, or libzstd
 * refused a parameter), MV_ERR_TOO_LARGE (len beyond what zstd accepts, or the frame does
 * not fit out->max), MV_ERR_NOMEM. */
mv_err mv_zstd_compress(const uint8_t *in, size_t len, int level, mv_buf *out)
    __attribute__((warn_unused_result));

/* Decompresses in[0..len), which must be exactly one zstd frame declaring its content size,
 * and appends the content to out. Nothing is allocated before the declared size has been
 * checked against max_out and against out->max - out->len. A frame whose data disagrees with
 * its declared size is corrupt. in must not overlap out's storage.
 * On error out is unchanged (partially decoded bytes past out->len are wiped).
 * Errors: MV_ERR_PARSE (empty input, not a zstd frame (including skippable and legacy
 * frames), truncated, corrupt, trailing bytes after the frame, unknown content size),
 * MV_ERR_TOO_LARGE (declared size > max_out or does not fit out->max), MV_ERR_INVAL (NULL
 * out, NULL in with len > 0), MV_ERR_NOMEM. */
mv_err mv_zstd_decompress(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
