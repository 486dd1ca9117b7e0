/* decoy_store.h - the decoy cloud's shape store (docs/decoy.md, "What it holds"): the shape of
 * every record the primary pushed, compactly, in LMDB, and the tags of decoy blocks that were
 * served, so a later block read finds the record and block index it regenerates. Decoy bytes
 * are never stored. Internal to libmedvault (decoy_server.c is its only user).
 *
 * Layout (DIR/decoys/shapes/, an LMDB environment; every integer little-endian unless said):
 *   meta    "version"             -> u32 DECOY_STORE_VERSION (1)
 *   sets    u32 set id (big-endian) -> access set: u8 kind | u8 dlen | dept | owner(32) |
 *                                   patient(32) | episode(16) | kid(16) | u8 n | pk(32) * n
 *   set_ids SHA-256(access set)[0..16) -> u32 set id
 *   shapes  id(16)                -> varint set id | varint created | varint env_len |
 *                                   varint n_blocks | varint cipher_len * n_blocks
 *   tags    tag(32)               -> id(16) | varint block index
 * Varints are LEB128 (7 bits a byte, low first), minimal, at most 10 bytes. The parts of a shape
 * that repeat from record to record (department, owner, patient, episode, the reader keys, the
 * envelope kind and keyset id) are one access set, stored once and named by a small id.
 * Every write is one synced LMDB transaction: a shape is durable when the call returns. A put
 * takes its batch in id order and appends (MDB_APPEND) every id above the table's largest, so
 * time-ordered ids fill leaves instead of splitting them (docs/decoy.md, "What one shape or
 * one caller can cost").
 *
 * Thread-safety: a store may be used from any number of threads (LMDB serialises writers). */
#ifndef MV_DECOY_STORE_H
#define MV_DECOY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_decoy.h"
#include "medvault/mv_err.h"

#define DECOY_STORE_VERSION 1u

typedef struct decoy_store decoy_store;

/* Opens (creating it) the store under dir (DIR/decoys; the environment is dir/shapes/) with
 * room for max_readers concurrent read transactions. *out is owned by the caller
 * (decoy_store_close). Errors: MV_ERR_INVAL (NULL), MV_ERR_PARSE (a store of another format
 * version, or not an LMDB environment), MV_ERR_IO, MV_ERR_NOMEM. */
mv_err decoy_store_open(const char *dir, unsigned max_readers, decoy_store **out)
    __attribute__((warn_unused_result));
/* Closes st. Accepts NULL. */
void decoy_store_close(decoy_store *st);

/* Stores shapes[0..n) (each accepted by mv_decoy_shape_valid; the caller filters) in one durable
 * transaction; a shape equal to the stored one is not rewritten. *changed (may be NULL) receives
 * how many were new or different. On error nothing is stored.
 * Errors: MV_ERR_INVAL (NULL, an invalid shape), MV_ERR_TOO_LARGE (the map is full), MV_ERR_IO,
 * MV_ERR_NOMEM. */
mv_err decoy_store_put(decoy_store *st, const mv_decoy_shape *shapes, size_t n, size_t *changed)
    __attribute__((warn_unused_result));

/* Loads the stored shape of id into out (initialised; cleared first, left cleared on error).
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_PARSE (a damaged entry), MV_ERR_INVAL, MV_ERR_IO, MV_ERR_NOMEM. */
mv_err decoy_store_get(decoy_store *st, const uint8_t id[16], mv_decoy_shape *out) __attribute__((warn_unused_result));

/* Records that block i of record id's decoy has tag tags[i] (32 bytes each), for i < n, in one
 * durable transaction; existing entries are overwritten. Errors: MV_ERR_INVAL, MV_ERR_TOO_LARGE,
 * MV_ERR_IO. */
mv_err decoy_store_tags_put(decoy_store *st, const uint8_t id[16], const uint8_t *tags, size_t n)
    __attribute__((warn_unused_result));

/* A decoy served: its shape and the tags of its blocks (n_tags of 32 bytes, in block order). */
typedef struct decoy_store_served {
    const mv_decoy_shape *shape;
    const uint8_t *tags;
    size_t n_tags;
} decoy_store_served;

/* Stores v[i].shape (as decoy_store_put) and v[i].tags (as decoy_store_tags_put) for i < n, in
 * one durable transaction: a request that served several decoys syncs once. On error nothing
 * is stored. Errors: MV_ERR_INVAL (NULL, an invalid shape), MV_ERR_TOO_LARGE, MV_ERR_IO,
 * MV_ERR_NOMEM. */
mv_err decoy_store_put_served(decoy_store *st, const decoy_store_served *v, size_t n) __attribute__((warn_unused_result));

/* The record and block index tag was recorded for. Errors: MV_ERR_NOT_FOUND, MV_ERR_PARSE,
 * MV_ERR_INVAL, MV_ERR_IO. */
mv_err decoy_store_tag_get(decoy_store *st, const uint8_t tag[32], uint8_t id[16], uint32_t *index)
    __attribute__((warn_unused_result));

/* Upgrades a decoy directory written before the shape store (DIR/decoys/<id>.rec files with
 * decoys/blocks/ and decoys/ptr/): every .rec's shape and block tags go into the store
 * (batches of durable transactions), then the .rec files and the blocks/ and ptr/ directories
 * are removed (the decoys regenerate to the same bytes). A crash in between repeats the
 * import of what is left on the next start. *imported (may be NULL) receives the shapes
 * imported. A .rec that does not parse is left in place and logged.
 * Errors: MV_ERR_INVAL, MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_TOO_LARGE. */
mv_err decoy_store_import_v0(decoy_store *st, const char *dir, size_t *imported) __attribute__((warn_unused_result));

#endif
