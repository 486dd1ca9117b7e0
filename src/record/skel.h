/* skel.h - the packed skeleton of an MVR2 record encoding (mv_record.h, docs/records.md
 * "Packed skeletons"): a reversible transform of any byte string that writes the identity
 * values a FHIR skeleton is mostly made of (lowercase UUIDs, ISO 8601 dates and date-times of
 * the common shapes) as short binary escapes before zstd sees them. (internal)
 *
 * Packed bytes: a byte 0x20..0xff is itself. Escapes (big-endian integers):
 *   0x01 u128                  a UUID, written back as lowercase 8-4-4-4-12 hex
 *   0x02 u24 days              YYYY-MM-DD, days since 0001-01-01 (proleptic Gregorian)
 *   0x03 u40 secs              YYYY-MM-DDThh:mm:ssZ, seconds since 0001-01-01T00:00:00
 *   0x04 u40 secs frac         ... with a fraction: YYYY-MM-DDThh:mm:ss.fffZ
 *   0x05 u40 secs zone         ... with an offset: YYYY-MM-DDThh:mm:ss+hh:mm
 *   0x06 u40 secs frac zone    ... with a fraction and an offset
 *   0x1f b (b < 0x20)          the byte b itself (canonical JSON never holds one raw)
 * frac = n u8 (1..9 digits) | value < 10^n in 1 (n <= 2), 2 (n <= 4), 3 (n <= 7) or 4 bytes;
 * zone = u8: bit 7 the sign ('-' is 1), bits 0..6 hh * 4 + mm / 15 (at most 95).
 * Years run 0001..9999, and only real calendar dates and times (seconds 00..59) are escaped.
 *
 * The packing is a function (mv_skel_pack is deterministic, scanning left to right and taking
 * the longest escape at each position), and mv_skel_unpack accepts exactly its outputs: it
 * unpacks, packs the result again and refuses anything that does not give back its input, so
 * unpack(pack(x)) == x for every x and pack(unpack(p)) == p for every accepted p. */
#ifndef MV_RECORD_SKEL_H
#define MV_RECORD_SKEL_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

/* Appends the packed form of in[0..len) (any bytes; in may be NULL when len is 0) to out. The
 * output is at most 2 * len bytes (only bytes below 0x20 grow). On error out is unchanged
 * (anything appended is wiped). in must not overlap out's storage.
 * Errors: MV_ERR_INVAL (NULL out, NULL in with len > 0), MV_ERR_TOO_LARGE (out->max),
 * MV_ERR_NOMEM. */
mv_err mv_skel_pack(const uint8_t *in, size_t len, mv_buf *out) __attribute__((warn_unused_result));

/* Appends the bytes packed in in[0..len) (untrusted) to out. On error out is unchanged
 * (anything appended is wiped). in must not overlap out's storage.
 * Errors: MV_ERR_PARSE (an unknown or truncated escape, a value out of range, or a packing
 * mv_skel_pack would not have written), MV_ERR_TOO_LARGE (more than max_out bytes, or
 * out->max), MV_ERR_INVAL (NULL out, NULL in with len > 0), MV_ERR_NOMEM. */
mv_err mv_skel_unpack(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
    __attribute__((warn_unused_result));

#endif
