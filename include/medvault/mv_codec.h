/* mv_codec.h - hex and base64 codecs, and the varints of the binary formats. Hex and base64
 * are constant-time in the data (libsodium's sodium_bin2hex/hex2bin and
 * bin2base64/base642bin), so they are safe for secrets; varints are not (they code lengths,
 * counts and offsets, never secrets). */
#ifndef MV_CODEC_H
#define MV_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Length of the hex text (without NUL) for n bytes. */
#define MV_HEX_LEN(n) ((n) * 2)
/* Length of standard padded base64 text (without NUL) for n bytes. */
#define MV_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes lowercase hex of in[0..n) and a NUL to out (out_cap >= 2n+1), else MV_ERR_INVAL. */
MV_API mv_err mv_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t n);
/* Decodes exactly `n` bytes from hex text of length hex_len (must equal 2n; either case).
 * MV_ERR_PARSE on bad characters or wrong length. out is wiped on failure. */
MV_API mv_err mv_hex_decode_exact(uint8_t *out, size_t n, const char *hex, size_t hex_len);
/* Decodes hex of any even length up to out_cap bytes; *out_len receives the byte count. */
MV_API mv_err mv_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex, size_t hex_len);
/* 1 if s is exactly n lowercase hex digits (0-9, a-f) and then its NUL, as ids, keys and
 * tokens are written in paths, forms and files; 0 otherwise (also for NULL, n == 0 or
 * uppercase). The one check of that form: callers that then decode use mv_hex_decode_exact.
 * Not constant-time (it stops at the first bad character): for public values, not secrets. */
MV_API int mv_is_lower_hex(const char *s, size_t n);

/* Standard base64 with padding (RFC 4648 section 4). out_cap >= MV_B64_LEN(n)+1. */
MV_API mv_err mv_b64_encode(char *out, size_t out_cap, const uint8_t *in, size_t n);
/* Decodes standard padded base64; MV_ERR_PARSE on bad input, MV_ERR_TOO_LARGE if it does
 * not fit in out_cap. */
MV_API mv_err mv_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *b64, size_t b64_len);

/* Unsigned LEB128: seven bits a byte, least significant group first, the high bit set on
 * every byte but the last. The index, the envelope segments and the decoy shape store use it. */
#define MV_VARINT_MAX 10 /* bytes of the longest, a 64-bit value */

/* Writes v to p, which has room for MV_VARINT_MAX bytes; returns the bytes written (1..10). */
MV_API size_t mv_varint_put(uint8_t *p, uint64_t v);

/* Reads one varint from p[*pos..n) and advances *pos past it. Returns 1, or 0 (v unchanged,
 * *pos anywhere up to n) if it is truncated, holds more than 64 bits, or is not minimal (a
 * last byte of 0 after the first): every value has exactly one encoding. */
MV_API int mv_varint_get(const uint8_t *p, size_t n, size_t *pos, uint64_t *v);

#ifdef __cplusplus
}
#endif
#endif
