/* byte_reader.c - the bounds-checked little-endian reader and writer of the decoy cloud's
 * binary formats (decoy_codec.c: the MVX and MVH frames and shapes; decoy_store.c: the shape
 * store's values). */
#include "byte_reader.h"

void storage_rd_init(storage_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
}

size_t storage_rd_left(const storage_rd *r)
{
    return r->len - r->off;
}

int storage_rd_bytes(storage_rd *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->off)
        return -1;
    *out = r->p + r->off;
    r->off += n;
    return 0;
}

int storage_rd_u8(storage_rd *r, uint8_t *out)
{
    const uint8_t *p;
    if (storage_rd_bytes(r, 1, &p))
        return -1;
    *out = p[0];
    return 0;
}

int storage_rd_u32(storage_rd *r, uint32_t *out)
{
    const uint8_t *p;
    if (storage_rd_bytes(r, 4, &p))
        return -1;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

int storage_rd_u64(storage_rd *r, uint64_t *out)
{
    const uint8_t *p;
    if (storage_rd_bytes(r, 8, &p))
        return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    *out = v;
    return 0;
}

mv_err storage_put_u32(mv_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return mv_buf_append(b, le, 4);
}
