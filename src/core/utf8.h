/* utf8.h - strict UTF-8 (RFC 3629), shared by the JSON and config parsers. (internal) */
#ifndef MV_CORE_UTF8_H
#define MV_CORE_UTF8_H

#include <stddef.h>

/* Length (1-4) of the well-formed UTF-8 sequence at s[0..n), n >= 1, or 0 if it is not one:
 * overlong forms, UTF-16 surrogates, code points above U+10FFFF and truncated sequences are
 * all rejected. */
size_t mv_utf8_seq(const unsigned char *s, size_t n);

/* 1 if s[0..n) is well-formed UTF-8 throughout (n may be 0), else 0. */
int mv_utf8_valid(const unsigned char *s, size_t n);

#endif
