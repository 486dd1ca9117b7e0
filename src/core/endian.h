/* endian.h - the fixed-width integers of the binary formats: big-endian for the signed ones
 * (credentials, delegations, revocation lists), little-endian for the storage frames
 * (net/frames.c) and the decoy cloud's frames and shape store (storage/decoy_*.c), and the one
 * bounds-checked cursor every decoder of untrusted bytes reads them with. (internal) */
#ifndef MV_CORE_ENDIAN_H
#define MV_CORE_ENDIAN_H

#include <stddef.h>
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

/* Little-endian stores of n = 2, 4 or 8 bytes at p. */
static inline void mv_le_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t mv_le_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* A cursor over untrusted bytes: p is the next byte, left how many remain. Every getter
 * returns 0, or -1 (consuming nothing) when fewer bytes remain than it needs, so a decoder
 * chains them with || and never reads past the end of its input. */
typedef struct mv_rd {
    const uint8_t *p;
    size_t left;
} mv_rd;

static inline void mv_rd_init(mv_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->left = len;
}

static inline int mv_rd_bytes(mv_rd *r, size_t n, const uint8_t **out)
{
    if (n > r->left)
        return -1;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static inline int mv_rd_u8(mv_rd *r, uint8_t *v)
{
    const uint8_t *p;
    if (mv_rd_bytes(r, 1, &p))
        return -1;
    *v = p[0];
    return 0;
}

static inline int mv_rd_u16(mv_rd *r, uint16_t *v)
{
    const uint8_t *p;
    if (mv_rd_bytes(r, 2, &p))
        return -1;
    *v = (uint16_t)mv_le_get(p, 2);
    return 0;
}

static inline int mv_rd_u32(mv_rd *r, uint32_t *v)
{
    const uint8_t *p;
    if (mv_rd_bytes(r, 4, &p))
        return -1;
    *v = (uint32_t)mv_le_get(p, 4);
    return 0;
}

static inline int mv_rd_u64(mv_rd *r, uint64_t *v)
{
    const uint8_t *p;
    if (mv_rd_bytes(r, 8, &p))
        return -1;
    *v = mv_le_get(p, 8);
    return 0;
}

#endif
