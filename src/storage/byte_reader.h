/* byte_reader.h - the bounds-checked little-endian reader and writer of the decoy cloud's
 * binary formats (decoy_codec.c, decoy_store.c). Internal to libmedvault. */
#ifndef MV_STORAGE_BYTE_READER_H
#define MV_STORAGE_BYTE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"

/* A bounds-checked little-endian reader over an untrusted frame. Every getter returns 0 on
 * success and -1 (consuming nothing) when the frame is too short. */
typedef struct storage_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
} storage_rd;

void storage_rd_init(storage_rd *r, const uint8_t *p, size_t len);
size_t storage_rd_left(const storage_rd *r);
int storage_rd_bytes(storage_rd *r, size_t n, const uint8_t **out);
int storage_rd_u8(storage_rd *r, uint8_t *out);
int storage_rd_u32(storage_rd *r, uint32_t *out);
int storage_rd_u64(storage_rd *r, uint64_t *out);

/* Little-endian appends. */
mv_err storage_put_u32(mv_buf *b, uint32_t v) __attribute__((warn_unused_result));

#endif
