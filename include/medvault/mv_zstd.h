/* mv_zstd.h - one-frame zstd compression of blocks and envelopes (DESIGN.md 3: p = zstd(block)).
 *
 * Compression is deterministic for a given input, level, dictionary and libzstd version
 * (single thread, no checksum, content size always in the frame header), so that equal blocks
 * give equal p and therefore equal MLE ciphertexts. Blocks use no dictionary. Record bodies
 * (mv_envelope_seal) use a dictionary built into the library and named by its id in the
 * frame header (docs/records.md, "The body dictionary"). Decompression accepts exactly one
 * zstd frame that declares its content size, and never allocates more than that declared size
 * (checked against the caller's cap first), so a small hostile frame cannot expand into a
 * memory bomb.
 *
 * Contexts: each thread keeps one compression and one decompression context (and the
 * digested dictionaries) and reuses them, reset before every call, so a small buffer does not
 * pay for creating a context. Everything libzstd allocates goes through mv_malloc and is wiped
 * when freed; between calls a thread's contexts still hold fragments of its last plaintext
 * until the thread exits or calls mv_zstd_thread_release. All functions are thread-safe. */
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

/* The level of record bodies (mv_envelope_seal). Bodies are encrypted under a random key, so
 * this level is not part of any dedup format and may change; the decoy generator uses it too
 * (a decoy body must compress like a real one). Level 9 is measured in docs/records.md. */
#define MV_ZSTD_BODY_LEVEL 9

/* Dictionary ids (RFC 8878 section 3.1.1.1.3, Dictionary_ID). Bodies are private to
 * medvault, so the ids are ours to assign; small ones take one byte of the frame header.
 * 1: data/fhir-r4.zdict, the FHIR R4 vocabulary dictionary, fitted to MVR1 record encodings
 *    (bodies sealed before skeletons were packed).
 * 2: data/fhir-r4-2.zdict, the same vocabulary packed as MVR2 packs skeletons, fitted to MVR2.
 * An id, once shipped, always means the same bytes and stays built in, so old bodies stay
 * readable. */
#define MV_ZSTD_DICT_FHIR_R4_1 1u
#define MV_ZSTD_DICT_FHIR_R4_2 2u
/* The dictionary new record bodies use. */
#define MV_ZSTD_DICT_BODY MV_ZSTD_DICT_FHIR_R4_2

/* Compresses in[0..len) at `level` and appends one zstd frame (with the content size in its
 * header, no checksum) to out. in may be NULL when len is 0 (an empty input gives a valid
 * frame of content size 0). level must be within libzstd's range (ZSTD_minCLevel() ..
 * ZSTD_maxCLevel(); 0 means libzstd's default, 3). in must not overlap out's storage.
 * On error out is unchanged (any partially written bytes past out->len are wiped).
 * Errors: MV_ERR_INVAL (NULL out, NULL in with len > 0, level out of range, or libzstd
 * refused a parameter), MV_ERR_TOO_LARGE (len beyond what zstd accepts, or the frame does
 * not fit out->max), MV_ERR_NOMEM. */
MV_API mv_err mv_zstd_compress(const uint8_t *in, size_t len, int level, mv_buf *out)
    __attribute__((warn_unused_result));

/* As mv_zstd_compress, with the built-in dictionary dict_id (one of MV_ZSTD_DICT_*): the
 * frame header carries the dictionary's id, and only mv_zstd_decompress_dict reads it back.
 * Errors: as mv_zstd_compress, and MV_ERR_INVAL for a dict_id that is not built in. */
MV_API mv_err mv_zstd_compress_dict(const uint8_t *in, size_t len, int level, unsigned dict_id, mv_buf *out)
    __attribute__((warn_unused_result));

/* Decompresses in[0..len), which must be exactly one zstd frame declaring its content size,
 * and appends the content to out. Nothing is allocated before the declared size has been
 * checked against max_out and against out->max - out->len. A frame whose data disagrees with
 * its declared size is corrupt. in must not overlap out's storage.
 * On error out is unchanged (partially decoded bytes past out->len are wiped).
 * Errors: MV_ERR_PARSE (empty input, not a zstd frame (including skippable and legacy
 * frames), truncated, corrupt, trailing bytes after the frame, unknown content size, a frame
 * that names a dictionary),
 * MV_ERR_TOO_LARGE (declared size > max_out or does not fit out->max), MV_ERR_INVAL (NULL
 * out, NULL in with len > 0), MV_ERR_NOMEM. */
MV_API mv_err mv_zstd_decompress(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
    __attribute__((warn_unused_result));

/* As mv_zstd_decompress, but the frame may name a built-in dictionary, which is then used; a
 * frame naming none is decompressed without one (bodies sealed before dictionaries existed).
 * A frame naming any other id is refused before anything is allocated.
 * Errors: as mv_zstd_decompress, with MV_ERR_PARSE also for an unknown dictionary id. */
MV_API mv_err mv_zstd_decompress_dict(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
    __attribute__((warn_unused_result));

/* The dictionary id a zstd frame's header names (0: none, or not a readable frame header).
 * Nothing is verified beyond the header. in may be NULL (gives 0). */
MV_API unsigned mv_zstd_frame_dict_id(const uint8_t *in, size_t len);

/* Frees this thread's cached contexts and dictionaries (wiping them). They are also freed
 * when the thread exits; a later call on this thread creates them again. */
MV_API void mv_zstd_thread_release(void);

#ifdef __cplusplus
}
#endif
#endif
