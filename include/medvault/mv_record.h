/* mv_record.h - a record's reassembly information and its sealed envelope (DESIGN.md 2, 3).
 *
 * A record is what a reader needs to rebuild a stored record: its kind, the FHIR skeleton
 * (the envelope JSON with identity and per-visit fields) or an attachment's file name, and
 * the list of MLE blocks (tag to fetch, key to decrypt, lengths, slot). It is encoded in a
 * compact, strictly parsed binary form (below), compressed with zstd and encrypted with
 * AES-256-GCM under a random record key R, with the record id as associated data. R is wrapped
 * with crypto_box_seal for each authorized reader. The reader list is public; everything
 * else is confidential and authenticated.
 *
 * Record encoding (all integers unsigned LEB128, minimal, at most 64 bits):
 *   "MVR1" | version u8 = 1 | kind u8 | created | name_len | name | skeleton_len | skeleton |
 *   n_blocks | n_blocks x (tag 32 | key 32 | slot' | plain_len | cipher_len)
 * where slot' = (slot + 1) mod 2^32, so the FHIR root slot (UINT32_MAX) takes one byte.
 *
 * Envelope:
 *   "MVE1" | n_readers u8 (1..64) | n_readers x (reader X25519 pk 32 | crypto_box_seal(R) 80) |
 *   nonce 12 | AES-256-GCM(R, nonce, aad = "medvault-envelope-v1" || id, zstd(encode(r))) (ct||tag)
 * The reader list is not covered by GCM, so readers can be added and removed without
 * re-encrypting. Removing a reader does not revoke what it already learnt (R): to revoke,
 * seal the record again (a new R).
 *
 * Thread-safety: functions on distinct objects are independent; an mv_record is not
 * synchronized. mv_record_clear wipes every key (and the skeleton, which holds identity
 * fields). */
#ifndef MV_RECORD_H
#define MV_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_RECORD_ID_BYTES 16
#define MV_RECORD_ID_TIME_BYTES 6    /* milliseconds since the epoch, big-endian */
#define MV_RECORD_ID_RANDOM_BYTES 10 /* from the system CSPRNG */
#define MV_RECORD_NAME_MAX 4096u
#define MV_RECORD_SKELETON_MAX ((size_t)16 << 20)
#define MV_RECORD_BLOCKS_MAX 1000000u
#define MV_RECORD_SLOT_ROOT UINT32_MAX /* the FHIR root block's slot */
#define MV_RECORD_VERSION 1

typedef enum mv_record_kind { MV_RECORD_FHIR = 1, MV_RECORD_ATTACHMENT = 2 } mv_record_kind;

typedef struct mv_block_ref {
    uint8_t tag[32];     /* SHA-256(C): where the block is stored */
    uint8_t key[32];     /* its MLE key (secret) */
    uint32_t slot;       /* FHIR: the mv_fhir slot (MV_RECORD_SLOT_ROOT = root); attachment: chunk index */
    uint64_t plain_len;  /* length of the block before zstd */
    uint64_t cipher_len; /* length of C (zstd(block) + 16), at least 16 */
} mv_block_ref;

/* A record. All arrays are owned by the record and managed by the functions below (do not
 * replace the pointers yourself: mv_record_add_block relies on how blocks was allocated). */
typedef struct mv_record {
    mv_record_kind kind;
    uint64_t created;     /* creation time, unix seconds (not interpreted here) */
    uint8_t *name;        /* attachments: original file name, optional (<= MV_RECORD_NAME_MAX bytes, not NUL-terminated); NULL when empty */
    size_t name_len;
    uint8_t *skeleton;    /* FHIR: canonical envelope JSON (<= MV_RECORD_SKELETON_MAX); must be empty for attachments; NULL when empty */
    size_t skeleton_len;
    size_t n_blocks;      /* <= MV_RECORD_BLOCKS_MAX; attachments: blocks[i].slot == i */
    mv_block_ref *blocks;
} mv_record;

/* Makes r an empty FHIR record (kind MV_RECORD_FHIR, created 0, no name, skeleton or blocks).
 * Allocates nothing. */
void mv_record_init(mv_record *r);

/* Wipes and frees everything r owns (keys, skeleton, name) and re-initialises it. Accepts
 * NULL. */
void mv_record_clear(mv_record *r);

/* Draws a new record id: MV_RECORD_ID_TIME_BYTES of the current time in milliseconds since
 * the epoch (big-endian), then MV_RECORD_ID_RANDOM_BYTES random bytes (mv_random_bytes).
 * Why time first: the storage index keys records by id, and ids that grow with time are
 * appended to its B-tree (full pages) instead of splitting a page in the middle at each
 * insert, which left random ids' index at about twice the size. Why still unguessable: an
 * id is a capability-like name that the servers' ACLs protect, but one must not be able to
 * enumerate or predict another user's ids; with 80 random bits an attacker who knows the
 * exact millisecond of a record still has 2^80 candidates (2^-80 per guess). What the time
 * part discloses (when the record was made, to the millisecond) the storage server already
 * knows and every listing shows (`created`). Ids are unique with overwhelming probability:
 * a collision needs two ids of the same millisecond with the same 80 random bits (about
 * 2^-80 per pair; the storage server refuses a duplicate id anyway).
 * Errors: MV_ERR_INVAL (id NULL), MV_ERR_CRYPTO (the CSPRNG or the clock failed). */
mv_err mv_record_id_new(uint8_t id[static MV_RECORD_ID_BYTES]) __attribute__((warn_unused_result));

/* Appends a copy of *b. b may not point into r->blocks.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_TOO_LARGE (already MV_RECORD_BLOCKS_MAX blocks),
 * MV_ERR_NOMEM. On error r is unchanged. */
mv_err mv_record_add_block(mv_record *r, const mv_block_ref *b) __attribute__((warn_unused_result));

/* Replaces the name by a copy of name[0..len) (len 0 clears it; name may then be NULL).
 * name must not point into r->name. On error r is unchanged.
 * Errors: MV_ERR_INVAL (NULL r, NULL name with len > 0), MV_ERR_TOO_LARGE
 * (len > MV_RECORD_NAME_MAX), MV_ERR_NOMEM. */
mv_err mv_record_set_name(mv_record *r, const uint8_t *name, size_t len) __attribute__((warn_unused_result));

/* Replaces the skeleton by a copy of json[0..len) (len 0 clears it). Same contract as
 * mv_record_set_name with cap MV_RECORD_SKELETON_MAX. The JSON is not parsed here. */
mv_err mv_record_set_skeleton(mv_record *r, const uint8_t *json, size_t len) __attribute__((warn_unused_result));

/* Appends the encoding of r to out. The output holds keys: wipe it (mv_buf_clear does).
 * On error out is unchanged (anything appended is wiped).
 * Errors: MV_ERR_INVAL (NULL, a kind other than the two, a cap exceeded, an attachment with
 * a skeleton or with blocks[i].slot != i, a block with cipher_len < 16), MV_ERR_TOO_LARGE
 * (out->max reached), MV_ERR_NOMEM. */
mv_err mv_record_encode(const mv_record *r, mv_buf *out) __attribute__((warn_unused_result));

/* Decodes in[0..len) (untrusted) into out, which must be initialised (mv_record_init); its
 * previous contents are cleared first. Strict: the magic, version and kind must be known,
 * every varint minimal and within range, every length within the remaining input, no bytes
 * may follow, and the record must satisfy everything mv_record_encode requires, so decode
 * and encode are inverse. Memory is allocated only for data actually present in the input.
 * On error out is left cleared (empty).
 * Errors: MV_ERR_PARSE (malformed), MV_ERR_TOO_LARGE (a length beyond its cap:
 * name, skeleton, block count), MV_ERR_INVAL (NULL out, NULL in with len > 0), MV_ERR_NOMEM. */
mv_err mv_record_decode(const uint8_t *in, size_t len, mv_record *out) __attribute__((warn_unused_result));

#define MV_ENVELOPE_MAX_READERS 64
#define MV_ENVELOPE_ENTRY_BYTES (32 + 32 + 48) /* pk | crypto_box_seal of the 32-byte R */
/* Cap on the encoded record inside an envelope (and on its decompressed size on open). */
#define MV_ENVELOPE_MAX_PLAIN ((size_t)64 << 20)

/* Seals r for the readers: reader_pks holds n_readers X25519 public keys (32 bytes each);
 * duplicates are collapsed (first occurrence kept, in order). Appends the envelope to out.
 * id is the record id, bound as associated data. R and every intermediate buffer are wiped.
 * On error out is unchanged.
 * Errors: MV_ERR_INVAL (NULL, n_readers 0, r not encodable as for mv_record_encode),
 * MV_ERR_TOO_LARGE (more than MV_ENVELOPE_MAX_READERS distinct readers, encoded record over
 * MV_ENVELOPE_MAX_PLAIN, or out->max reached), MV_ERR_CRYPTO (a reader key libsodium refuses,
 * e.g. of low order; or the random source failed), MV_ERR_NOMEM. */
mv_err mv_envelope_seal(const uint8_t id[static MV_RECORD_ID_BYTES], const mv_record *r,
                        const uint8_t *reader_pks, size_t n_readers, mv_buf *out)
    __attribute__((warn_unused_result));

/* Opens env[0..len) (untrusted) as the reader (box_pk, box_sk) and decodes the record into
 * out (initialised; cleared first, and left cleared on error). Nothing is released unless
 * the GCM tag under the unwrapped R verified with this id.
 * Errors: MV_ERR_PARSE (malformed framing: magic, reader count 0 or above the cap, duplicate
 * readers, lengths; or an authenticated body that does not decompress or decode),
 * MV_ERR_FORBIDDEN (no entry for box_pk), MV_ERR_VERIFY (the wrap does not open with this key
 * pair, or GCM fails: wrong id, any tampering), MV_ERR_TOO_LARGE (body decompresses beyond
 * MV_ENVELOPE_MAX_PLAIN, or a record cap), MV_ERR_INVAL (NULL), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
mv_err mv_envelope_open(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                        const uint8_t box_pk[static 32], const uint8_t box_sk[static 32], mv_record *out)
    __attribute__((warn_unused_result));

/* The readers of an envelope (public information; nothing is verified but the framing).
 * *n receives the number of readers; if cap_pks (a number of keys, not bytes) is at least
 * that, their public keys are written to pks_out (32 bytes each, in envelope order).
 * pks_out may be NULL when cap_pks is 0 (to ask for the count).
 * Errors: MV_ERR_PARSE (malformed framing), MV_ERR_TOO_LARGE (cap_pks < *n; nothing written),
 * MV_ERR_INVAL (NULL env with len > 0, NULL n, NULL pks_out with cap_pks > 0). */
mv_err mv_envelope_readers(const uint8_t *env, size_t len, uint8_t *pks_out, size_t cap_pks, size_t *n)
    __attribute__((warn_unused_result));

/* Appends to out a copy of env with one more reader, new_pk, given R wrapped for it. The
 * caller proves it is a reader by unwrapping R with (box_pk, box_sk). The body is copied
 * unchanged and not verified (its associated data needs the record id, which this function
 * does not take): new_pk receives exactly the key the caller holds. If new_pk already is a
 * reader, the output is an unchanged copy. R is wiped. On error out is unchanged.
 * Errors: MV_ERR_PARSE (malformed framing), MV_ERR_FORBIDDEN (box_pk is not a reader),
 * MV_ERR_VERIFY (its wrap does not open), MV_ERR_TOO_LARGE (already
 * MV_ENVELOPE_MAX_READERS readers, or out->max), MV_ERR_CRYPTO (new_pk refused by libsodium),
 * MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
mv_err mv_envelope_add_reader(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                              const uint8_t box_sk[static 32], const uint8_t new_pk[static 32], mv_buf *out)
    __attribute__((warn_unused_result));

/* Appends to out a copy of env without pk's entry (no key is needed: the reader list is
 * public, and access control is the storage server's). On error out is unchanged.
 * Errors: MV_ERR_PARSE (malformed framing), MV_ERR_NOT_FOUND (pk is not a reader),
 * MV_ERR_BAD_STATE (pk is the only reader: the record would become unreadable),
 * MV_ERR_TOO_LARGE (out->max), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
mv_err mv_envelope_remove_reader(const uint8_t *env, size_t len, const uint8_t pk[static 32], mv_buf *out)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
