/* mv_cdc.h - FastCDC content-defined chunking of attachments (DESIGN.md 2).
 *
 * FastCDC (Xia et al., "FastCDC: a Fast and Efficient Content-Defined Chunking Approach for
 * Data Deduplication", USENIX ATC 2016) with normalized chunking level 2: a gear rolling hash,
 * cut-point skipping below the minimum size, a stricter mask (log2(avg)+2 one bits) before the
 * average size and a looser one (log2(avg)-2 one bits) after it, and a hard cut at the maximum.
 * Cut points depend only on content, so an insertion or deletion changes the chunks around it
 * and not the rest: equal chunks deduplicate across files and versions.
 *
 * The gear table, the mask construction and the hashing window are part of the storage format
 * (changing any of them changes every chunk boundary, and so breaks dedup against stored data):
 * docs/chunking.md describes them. All functions are stateless and thread-safe. */
#ifndef MV_CDC_H
#define MV_CDC_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults (DESIGN.md 2, as restic): every unique chunk costs one threshold OPRF evaluation,
 * so chunks stay large. */
#define MV_CDC_MIN 262144u   /* 256 KiB */
#define MV_CDC_AVG 1048576u  /* 1 MiB */
#define MV_CDC_MAX 4194304u  /* 4 MiB */
/* Bounds accepted by mv_cdc_params_check. */
#define MV_CDC_AVG_MIN 64u
#define MV_CDC_AVG_MAX ((size_t)1 << 28)
#define MV_CDC_MAX_MAX ((size_t)64 << 20)
#define MV_CDC_GEAR_ENTRIES 256

typedef struct mv_cdc_params {
    size_t min_size; /* no chunk (but the last) is shorter */
    size_t avg_size; /* a power of two: the normalization point and the masks' scale */
    size_t max_size; /* no chunk is longer */
} mv_cdc_params;

/* Returns MV_OK if p is usable: avg_size a power of two in [MV_CDC_AVG_MIN, MV_CDC_AVG_MAX],
 * 1 <= min_size <= avg_size <= max_size <= MV_CDC_MAX_MAX. Otherwise MV_ERR_INVAL (also for
 * p == NULL). */
MV_API mv_err mv_cdc_params_check(const mv_cdc_params *p) __attribute__((warn_unused_result));

/* Length of the chunk that starts at data[0], given the len bytes available.
 * - Returns 0 when more input is needed: !at_eof, len < max_size and no cut point was found
 *   in data[0..len) (so a later byte may still decide it). The caller supplies more bytes
 *   (at least up to max_size, or to the end of the input) and calls again from data[0].
 * - Otherwise returns the chunk length n, 1 <= n <= min(len, max_size): the first cut point
 *   at or after min_size, or max_size, or (with at_eof) len if the input ends first.
 *   Every chunk but the last of an input has min_size <= n <= max_size.
 * - Returns 0 when len is 0.
 * The result depends only on data[0..min(len, max_size)), never on how it was split into
 * reads. data may be NULL only when len is 0. p must be valid (mv_cdc_params_check): an
 * invalid p (a caller bug) returns 0 and asserts in debug builds. */
MV_API size_t mv_cdc_cut(const mv_cdc_params *p, const uint8_t *data, size_t len, int at_eof);

/* Called once per chunk, in order: chunk[0..len) starts at byte `offset` of the input. chunk
 * points into the chunker's buffer and is valid only during the call (copy what you keep);
 * it is wiped after the last chunk. A non-MV_OK return stops chunking and is passed on. */
typedef mv_err (*mv_cdc_chunk_fn)(void *ctx, const uint8_t *chunk, size_t len, uint64_t offset);

/* Reads fd to its end and calls fn for each chunk (the chunks of mv_cdc_cut, exactly as if the
 * whole input had been in one buffer). Uses one buffer of 2 * max_size bytes, wiped and freed
 * before returning. An empty input produces no call. fd is read from its current position and
 * not closed. ctx is passed through to fn.
 * Errors: MV_ERR_INVAL (invalid p, fd < 0, fn NULL), MV_ERR_NOMEM, MV_ERR_IO (read failed;
 * chunks before the failure have already been delivered), or the first error fn returned. */
MV_API mv_err mv_cdc_fd(const mv_cdc_params *p, int fd, mv_cdc_chunk_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* The fixed gear table (MV_CDC_GEAR_ENTRIES entries): entry i is the first 8 bytes, read
 * big-endian, of SHA-256("medvault-fastcdc-gear-v1" || uint32 big-endian i). Static storage;
 * exposed so tests and tools can check the derivation. */
MV_API const uint64_t *mv_cdc_gear(void);

/* The two masks used for p (valid per mv_cdc_params_check, else both are 0 and MV_ERR_INVAL):
 * *mask_s with log2(avg)+2 one bits (before avg_size), *mask_l with log2(avg)-2 (after).
 * Exposed for tests and documentation. */
MV_API mv_err mv_cdc_masks(const mv_cdc_params *p, uint64_t *mask_s, uint64_t *mask_l)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
