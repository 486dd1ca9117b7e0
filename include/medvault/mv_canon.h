/* mv_canon.h - canonical JSON: one byte string per JSON value, whoever exported it.
 *
 * The canonical form follows RFC 8785 (JSON Canonicalization Scheme) with one deliberate
 * deviation: numbers are written as their original lexeme, unchanged, because the precision
 * of a FHIR decimal is significant ("1.50" and "1.5" are different values in FHIR, and
 * RFC 8785's ECMAScript number form would also round integers above 2^53). So:
 *   - no insignificant whitespace;
 *   - object members sorted by their keys compared as sequences of UTF-16 code units
 *     (RFC 8785 section 3.2.3; a character above U+FFFF counts as its surrogate pair, so
 *     U+1F600 sorts before U+E000);
 *   - strings escaped as RFC 8785 section 3.2.2.2 (mv_json_write_str);
 *   - numbers as their lexeme ("1.50", "1e2", "-0" stay as they are);
 *   - arrays keep their order; true/false/null as such.
 * Two inputs that differ only in whitespace, member order or string escapes give identical
 * bytes, and canonicalising a canonical text gives it back unchanged. */
#ifndef MV_CANON_H
#define MV_CANON_H

#include <stddef.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends the canonical form of the tree v (from mv_json_parse; read, never modified) to out.
 * All or nothing: on error out is left as it was. Does not recurse on the tree's depth.
 * Errors: MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM, MV_ERR_PARSE (a key or string that is
 * not valid UTF-8; impossible for a tree from mv_json_parse), MV_ERR_INVAL (NULL out or v). */
MV_API mv_err mv_canon_write(mv_buf *out, const mv_json *v) __attribute__((warn_unused_result));

/* Parses text[0..len) with mv_json_parse (lim may be NULL for its defaults) and appends the
 * canonical form to out (all or nothing). If err_offset is not NULL it receives the byte
 * offset where parsing failed when the error came from the parser, and 0 otherwise.
 * Errors: MV_ERR_PARSE (malformed JSON, invalid UTF-8, lone surrogate escape, duplicate key,
 * nesting deeper than the depth limit), MV_ERR_TOO_LARGE (the byte or node limit, or out's
 * cap), MV_ERR_NOMEM, MV_ERR_INVAL (NULL text with len > 0, NULL out). */
MV_API mv_err mv_canon(const char *text, size_t len, const mv_json_limits *lim, mv_buf *out, size_t *err_offset)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
