/* blob.h - internal: where pack bytes live. The engine (store.c) sees packs only through this
 * small vtable, so object stores (S3, Ceph RADOS) can replace local files later.
 *
 * A pack is an append-only sequence of entries, each `u32 length (LE) | 32-byte tag | data`
 * (MV_BLOB_ENTRY_OVERHEAD bytes of framing); data is a block's ciphertext or an envelope
 * segment (the engine tells them apart through its index). Packs are numbered 1..UINT32_MAX by the engine.
 * The engine decides where each append starts (the pack's committed end), so bytes a crashed
 * or failed append left behind are simply overwritten or truncated away.
 *
 * Concurrency: append, sync, truncate and remove are serialised by the caller (the engine's
 * writer lock); read, iterate and list may run at any time, concurrently with everything. */
#ifndef MV_STORE_BLOB_H
#define MV_STORE_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#define MV_BLOB_ENTRY_OVERHEAD 36u /* u32 length + 32-byte tag */

/* One entry to append; pointers borrowed for the call. */
typedef struct mv_blob_entry {
    const uint8_t *tag;  /* 32 bytes */
    const uint8_t *data; /* len bytes (NULL only if len is 0) */
    size_t len;          /* < 4 GiB */
} mv_blob_entry;

/* Called for each pack (id, current size in bytes); non-MV_OK stops and is returned. */
typedef mv_err (*mv_blob_pack_fn)(void *ctx, uint32_t pack, uint64_t size);
/* Called for each entry (offset of its framing, tag, data valid only during the call). */
typedef mv_err (*mv_blob_entry_fn)(void *ctx, uint64_t off, const uint8_t *tag,
                                   const uint8_t *data, size_t len);

typedef struct mv_blob mv_blob;

typedef struct mv_blob_ops {
    /* Writes entries e[0..n) back to back from byte off of pack, creating the pack if it does
     * not exist. Not durable until sync. MV_ERR_IO. */
    mv_err (*append)(mv_blob *b, uint32_t pack, uint64_t off, const mv_blob_entry *e, size_t n);
    /* Makes everything appended to pack (and the pack's existence) durable. MV_ERR_IO. */
    mv_err (*sync)(mv_blob *b, uint32_t pack);
    /* Reads the entry at off whose data should be len bytes: its framing tag goes to tag and
     * its data is appended to out. MV_ERR_NOT_FOUND (no such pack), MV_ERR_VERIFY (short pack
     * or framing length != len), MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_TOO_LARGE (out's cap). */
    mv_err (*read)(mv_blob *b, uint32_t pack, uint64_t off, size_t len, uint8_t tag[32],
                   mv_buf *out);
    /* Appends len bytes of the data of the entry at off, from byte at of its data, to out,
     * without checking the framing (the caller knows the entry from the index and verifies
     * what it reads some other way). MV_ERR_NOT_FOUND (no such pack), MV_ERR_VERIFY (the
     * pack is too short), MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_TOO_LARGE (out's cap). */
    mv_err (*read_range)(mv_blob *b, uint32_t pack, uint64_t off, uint64_t at, size_t len,
                         mv_buf *out);
    /* Calls fn for every entry that lies wholly within [0, end) of pack, in order. If the
     * framing breaks (an entry crossing end, a length above max_len, a short file) it stops,
     * sets *bad_off to the offset where parsing failed and returns MV_ERR_PARSE. On MV_OK
     * *bad_off is end. MV_ERR_NOT_FOUND (no such pack), MV_ERR_IO, MV_ERR_NOMEM, or fn's error. */
    mv_err (*iterate)(mv_blob *b, uint32_t pack, uint64_t end, size_t max_len,
                      mv_blob_entry_fn fn, void *ctx, uint64_t *bad_off);
    /* Calls fn for every pack, in no particular order. MV_ERR_IO, or fn's error. */
    mv_err (*list)(mv_blob *b, mv_blob_pack_fn fn, void *ctx);
    /* Shrinks pack to size bytes (no-op if already not larger). MV_ERR_NOT_FOUND, MV_ERR_IO. */
    mv_err (*truncate)(mv_blob *b, uint32_t pack, uint64_t size);
    /* Deletes pack; a missing pack is MV_OK. MV_ERR_IO. */
    mv_err (*remove)(mv_blob *b, uint32_t pack);
    /* Frees the handle (accepts NULL). */
    void (*close)(mv_blob *b);
} mv_blob_ops;

/* Every implementation starts its handle with this header. */
struct mv_blob {
    const mv_blob_ops *ops;
};

/* Local pack files dir/NNNNNNNN.pack (dir must exist); dir is copied.
 * MV_ERR_TOO_LARGE (path too long), MV_ERR_IO, MV_ERR_NOMEM. */
mv_err mv_blob_file_open(const char *dir, mv_blob **out);

#endif
