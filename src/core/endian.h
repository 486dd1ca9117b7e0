/* endian.h - big-endian integers of the signed binary formats (credentials, delegations,
 * revocation lists). (internal) */
#ifndef MV_CORE_ENDIAN_H
#define MV_CORE_ENDIAN_H

#include <stdint.h>

static inline void mv_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint64_t mv_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif
