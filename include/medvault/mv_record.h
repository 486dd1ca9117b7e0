/* mv_record.h - a record's reassembly information, its sealed envelope, and the keysets that
 * let one key serve every record of a reader set (DESIGN.md 2, 3; decision 0010).
 *
 * A record is what a reader needs to rebuild a stored record: its kind, the FHIR skeleton
 * (the envelope JSON with identity and per-visit fields) or an attachment's file name, and
 * the list of MLE blocks (tag to fetch, key to decrypt, lengths, slot). It is encoded in a
 * compact, strictly parsed binary form (below), compressed with zstd and encrypted with
 * AES-256-GCM under a record key R, with the record id as associated data. The entries
 * (reader public keys) are public; everything else is confidential and authenticated.
 *
 * Record encoding (all integers unsigned LEB128, minimal, at most 64 bits), written since
 * issue 12 as MVR2:
 *   "MVR2" | version u8 = 2 | kind u8 | created | packed_name_len | packed name | packed_len |
 *   packed skeleton | n_blocks | n_blocks x (tag 32 | key 32 | slot' | plain_len | cipher_len)
 * where slot' = (slot + 1) mod 2^32, so the FHIR root slot (UINT32_MAX) takes one byte, and
 * the packed name and packed skeleton are the name and the skeleton with its lowercase UUIDs and ISO 8601 dates and
 * date-times written as binary escapes (docs/records.md "Packed skeletons"): exact for every
 * byte string, one packing per skeleton, and at most twice the skeleton's length.
 * MVR1 (written until issue 12; read forever) is the same with "MVR1" | version 1 and the
 * skeleton as it is (skeleton_len | skeleton).
 *
 * Three framings share one parser (an "envelope" below is any of them; docs/records.md):
 *
 * MVE1 (written until issue 12; read forever): R is random and wrapped for every reader:
 *   "MVE1" | n u8 (1..64) | n x (reader X25519 pk 32 | crypto_box_seal(R) 80) |
 *   nonce 12 | AES-256-GCM(R, nonce, aad = "medvault-envelope-v1" || id, zstd(encode(r))) (ct||tag)
 *
 * MVK1, a keyset: a random 32-byte key K for one scope (owner, episode or none, the set of
 * reader keys), stored as a record of its own (id = kid, the same ACL as the records it
 * serves, no blocks):
 *   "MVK1" | n u8 (1..64) | n x (reader X25519 pk 32 | crypto_box_seal(K) 80)
 * Nothing follows the entries (the length is exact).
 *
 * MVE2 (written since issue 12): the record key is derived from the keyset's K, so a record
 * costs no public-key operation and 49 fixed bytes (MV_ENVELOPE2_FIXED_BYTES):
 *   "MVE2" | kid 16 | m u8 (0..63) | m x (pk 32 | crypto_box_seal(R) 80) |
 *   nonce 12 | AES-256-GCM(R, nonce, aad = "medvault-envelope-v2" || id || kid, zstd(encode(r)))
 * with R = HKDF-SHA-256(salt = "medvault-record-key-v2", ikm = K, info = id). The m extra
 * entries wrap R itself, for readers of this one record only, who so never learn K.
 *
 * In every framing the entries' public keys are distinct. The entries are not covered by
 * GCM, so readers can be added and removed without re-encrypting. Removing an entry does not
 * revoke what its reader already learnt (R, or K for a keyset): to revoke, seal the record
 * again (MVE2: under the keyset of the remaining readers).
 *
 * The body zstd(encode(r)) of MVE1 and MVE2 is one zstd frame compressed with the body
 * dictionary, whose id its frame header names (mv_zstd.h, docs/records.md "The body
 * dictionary"); a frame naming no dictionary (sealed before dictionaries) is read too, one
 * naming an unknown id is PARSE.
 *
 * Thread-safety: functions on distinct objects are independent; an mv_record is not
 * synchronized. mv_record_clear wipes every key (and the skeleton, which holds identity
 * fields). Every function that handles R or K wipes its copies. */
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
#define MV_RECORD_VERSION 2 /* of the encoding mv_record_encode writes (MVR2) */

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
MV_API void mv_record_init(mv_record *r);

/* Wipes and frees everything r owns (keys, skeleton, name) and re-initialises it. Accepts
 * NULL. */
MV_API void mv_record_clear(mv_record *r);

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
MV_API mv_err mv_record_id_new(uint8_t id[static MV_RECORD_ID_BYTES]) __attribute__((warn_unused_result));

/* Appends a copy of *b. b may not point into r->blocks.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_TOO_LARGE (already MV_RECORD_BLOCKS_MAX blocks),
 * MV_ERR_NOMEM. On error r is unchanged. */
MV_API mv_err mv_record_add_block(mv_record *r, const mv_block_ref *b) __attribute__((warn_unused_result));

/* Replaces the name by a copy of name[0..len) (len 0 clears it; name may then be NULL).
 * name must not point into r->name. On error r is unchanged.
 * Errors: MV_ERR_INVAL (NULL r, NULL name with len > 0), MV_ERR_TOO_LARGE
 * (len > MV_RECORD_NAME_MAX), MV_ERR_NOMEM. */
MV_API mv_err mv_record_set_name(mv_record *r, const uint8_t *name, size_t len) __attribute__((warn_unused_result));

/* Replaces the skeleton by a copy of json[0..len) (len 0 clears it). Same contract as
 * mv_record_set_name with cap MV_RECORD_SKELETON_MAX. The JSON is not parsed here. */
MV_API mv_err mv_record_set_skeleton(mv_record *r, const uint8_t *json, size_t len) __attribute__((warn_unused_result));

/* Appends the MVR2 encoding of r to out. The output holds keys: wipe it (mv_buf_clear does).
 * On error out is unchanged (anything appended is wiped).
 * Errors: MV_ERR_INVAL (NULL, a kind other than the two, a cap exceeded, an attachment with
 * a skeleton or with blocks[i].slot != i, a block with cipher_len < 16), MV_ERR_TOO_LARGE
 * (out->max reached), MV_ERR_NOMEM. */
MV_API mv_err mv_record_encode(const mv_record *r, mv_buf *out) __attribute__((warn_unused_result));

/* Decodes in[0..len) (untrusted, MVR2 or MVR1) into out, which must be initialised
 * (mv_record_init); its previous contents are cleared first. Strict: the magic, version and
 * kind must be known, every varint minimal and within range, every length within the
 * remaining input, the packed skeleton exactly as mv_record_encode packs it (an unknown,
 * truncated or out-of-range escape, or any other packing of the same text, is PARSE), no
 * bytes may follow, and the record must satisfy everything mv_record_encode requires, so
 * decode and encode are inverse on MVR2 (an MVR1 input encodes again as MVR2). Memory is
 * allocated only in proportion to the input (an unpacked skeleton is at most about 3.4 times
 * its packed form, and within MV_RECORD_SKELETON_MAX).
 * On error out is left cleared (empty).
 * Errors: MV_ERR_PARSE (malformed), MV_ERR_TOO_LARGE (a length beyond its cap:
 * name, skeleton (packed or unpacked), block count), MV_ERR_INVAL (NULL out, NULL in with len > 0), MV_ERR_NOMEM. */
MV_API mv_err mv_record_decode(const uint8_t *in, size_t len, mv_record *out) __attribute__((warn_unused_result));

#define MV_ENVELOPE_MAX_READERS 64 /* MVE1 entries */
#define MV_ENVELOPE2_MAX_EXTRA 63  /* MVE2 extra entries */
#define MV_KEYSET_MAX_READERS 64   /* MVK1 entries */
#define MV_KEYSET_KEY_BYTES 32     /* K, and R */
#define MV_ENVELOPE_ENTRY_BYTES (32 + 32 + 48) /* pk | crypto_box_seal of a 32-byte key */
/* MVE2's fixed cost with no extra entry: magic 4, kid 16, m 1, nonce 12, GCM tag 16. */
#define MV_ENVELOPE2_FIXED_BYTES 49
/* Cap on the encoded record inside an envelope (and on its decompressed size on open). */
#define MV_ENVELOPE_MAX_PLAIN ((size_t)64 << 20)

typedef enum mv_envelope_kind {
    MV_ENVELOPE_MVE1 = 1, /* a record, R wrapped per reader */
    MV_ENVELOPE_MVE2 = 2, /* a record under a keyset (kid), plus extra entries */
    MV_ENVELOPE_MVK1 = 3  /* a keyset: K wrapped per reader */
} mv_envelope_kind;

/* The kind of env[0..len) (untrusted) after checking its whole public framing as the parsers
 * below do (magic, entry count in range, distinct keys, lengths). kid (may be NULL) receives
 * an MVE2 envelope's keyset id and is untouched for the other kinds.
 * Errors: MV_ERR_PARSE (malformed framing), MV_ERR_INVAL (NULL kind, NULL env with len > 0). */
MV_API mv_err mv_envelope_kind_of(const uint8_t *env, size_t len, mv_envelope_kind *kind,
                                  uint8_t kid[MV_RECORD_ID_BYTES]) __attribute__((warn_unused_result));

/* Seals r as MVE1 for the readers: reader_pks holds n_readers X25519 public keys (32 bytes
 * each); duplicates are collapsed (first occurrence kept, in order). Appends the envelope to
 * out. id is the record id, bound as associated data. R and every intermediate buffer are
 * wiped. On error out is unchanged. New records use mv_envelope2_seal; this stays for tests,
 * tools and records whose readers have no keyset.
 * Errors: MV_ERR_INVAL (NULL, n_readers 0, r not encodable as for mv_record_encode),
 * MV_ERR_TOO_LARGE (more than MV_ENVELOPE_MAX_READERS distinct readers, encoded record over
 * MV_ENVELOPE_MAX_PLAIN, or out->max reached), MV_ERR_CRYPTO (a reader key libsodium refuses,
 * e.g. of low order; or the random source failed), MV_ERR_NOMEM. */
MV_API mv_err mv_envelope_seal(const uint8_t id[static MV_RECORD_ID_BYTES], const mv_record *r,
                               const uint8_t *reader_pks, size_t n_readers, mv_buf *out)
    __attribute__((warn_unused_result));

/* Opens env[0..len) (untrusted, MVE1 or MVE2) as the reader (box_pk, box_sk) of one of its
 * entries and decodes the record into out (initialised; cleared first, and left cleared on
 * error). An MVE2 keyset reader has no entry: use mv_envelope2_open with K. Nothing is
 * released unless the GCM tag under the unwrapped R verified with this id (and kid).
 * Errors: MV_ERR_PARSE (malformed framing, an MVK1 keyset; or an authenticated body that
 * does not decompress or decode), MV_ERR_FORBIDDEN (no entry for box_pk), MV_ERR_VERIFY (the
 * wrap does not open with this key pair, or GCM fails: wrong id, any tampering),
 * MV_ERR_TOO_LARGE (body decompresses beyond MV_ENVELOPE_MAX_PLAIN, or a record cap),
 * MV_ERR_INVAL (NULL), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_envelope_open(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                               const uint8_t box_pk[static 32], const uint8_t box_sk[static 32], mv_record *out)
    __attribute__((warn_unused_result));

/* The record key R in box_pk's entry of an MVE1 or MVE2 envelope (not verified against the
 * body: mv_envelope_open_with_key does that; used to delegate one record through the clouds,
 * docs/pre.md). R is wiped on error. Errors: MV_ERR_PARSE (malformed, or MVK1),
 * MV_ERR_FORBIDDEN (no entry for box_pk), MV_ERR_VERIFY (the wrap does not open),
 * MV_ERR_INVAL (NULL), MV_ERR_CRYPTO. */
MV_API mv_err mv_envelope_unwrap(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                                 const uint8_t box_sk[static 32], uint8_t R[static MV_KEYSET_KEY_BYTES])
    __attribute__((warn_unused_result));
/* Opens an MVE1 or MVE2 envelope of record id with its record key R (a key recovered through
 * the clouds) and decodes the record into out (cleared first, and left cleared on error). Errors
 * as mv_envelope2_open_with_key (MV_ERR_PARSE for an MVK1 keyset). */
MV_API mv_err mv_envelope_open_with_key(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                                        const uint8_t R[static MV_KEYSET_KEY_BYTES], mv_record *out)
    __attribute__((warn_unused_result));

/* The public keys of an envelope's entries (public information; nothing is verified but the
 * framing): MVE1 its readers, MVK1 the keyset's readers, MVE2 only its extra readers (0 or
 * more: the keyset readers are in the keyset record kid). *n receives the number of entries;
 * if cap_pks (a number of keys, not bytes) is at least that, their public keys are written to
 * pks_out (32 bytes each, in envelope order). pks_out may be NULL when cap_pks is 0.
 * Errors: MV_ERR_PARSE (malformed framing), MV_ERR_TOO_LARGE (cap_pks < *n; nothing written),
 * MV_ERR_INVAL (NULL env with len > 0, NULL n, NULL pks_out with cap_pks > 0). */
MV_API mv_err mv_envelope_readers(const uint8_t *env, size_t len, uint8_t *pks_out, size_t cap_pks, size_t *n)
    __attribute__((warn_unused_result));

/* Appends to out a copy of env (MVE1 or MVE2) with one more entry, for new_pk, wrapping the R
 * the caller unwraps from its own entry with (box_pk, box_sk). The body is copied unchanged
 * and not verified (its associated data needs the record id, which this function does not
 * take): new_pk receives exactly the key the caller holds. If new_pk already has an entry,
 * the output is an unchanged copy. R is wiped. On error out is unchanged. (An MVE2 keyset
 * reader has no entry: mv_envelope2_add_reader.)
 * Errors: MV_ERR_PARSE (malformed framing, or MVK1: mv_keyset_add_reader),
 * MV_ERR_FORBIDDEN (box_pk has no entry), MV_ERR_VERIFY (its wrap does not open),
 * MV_ERR_TOO_LARGE (no room for another entry: 64 for MVE1, 63 for MVE2; or out->max),
 * MV_ERR_CRYPTO (new_pk refused by libsodium), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_envelope_add_reader(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                                     const uint8_t box_sk[static 32], const uint8_t new_pk[static 32], mv_buf *out)
    __attribute__((warn_unused_result));

/* Appends to out a copy of env (any kind) without pk's entry (no key is needed: the entries
 * are public, and access control is the storage server's). An MVE2 envelope may lose its last
 * extra entry (its keyset readers remain); MVE1 and MVK1 keep at least one. On error out is
 * unchanged.
 * Errors: MV_ERR_PARSE (malformed framing), MV_ERR_NOT_FOUND (pk has no entry),
 * MV_ERR_BAD_STATE (pk is the only reader of an MVE1 envelope or MVK1 keyset),
 * MV_ERR_TOO_LARGE (out->max), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_envelope_remove_reader(const uint8_t *env, size_t len, const uint8_t pk[static 32], mv_buf *out)
    __attribute__((warn_unused_result));

/* ---- MVE2: records under a keyset ---- */

/* R = HKDF-SHA-256(salt "medvault-record-key-v2", ikm K, info id), record id's key under K.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_NOMEM, MV_ERR_CRYPTO. On error R is wiped. */
MV_API mv_err mv_envelope_record_key(const uint8_t id[static MV_RECORD_ID_BYTES],
                                     const uint8_t K[static MV_KEYSET_KEY_BYTES], uint8_t R[static MV_KEYSET_KEY_BYTES])
    __attribute__((warn_unused_result));

/* Seals r as MVE2 under the keyset (kid, K), with no extra entry, and appends it to out. No
 * public-key operation. R and every intermediate buffer are wiped; on error out is unchanged.
 * Errors: MV_ERR_INVAL (NULL, r not encodable), MV_ERR_TOO_LARGE (encoded record over
 * MV_ENVELOPE_MAX_PLAIN, or out->max), MV_ERR_CRYPTO, MV_ERR_NOMEM. */
MV_API mv_err mv_envelope2_seal(const uint8_t id[static MV_RECORD_ID_BYTES], const mv_record *r,
                                const uint8_t kid[static MV_RECORD_ID_BYTES],
                                const uint8_t K[static MV_KEYSET_KEY_BYTES],
                                mv_buf *out) __attribute__((warn_unused_result));

/* Opens the MVE2 envelope env[0..len) (untrusted) of record id with its keyset's K (the
 * caller picks K by the envelope's kid; a K or kid that does not match fails GCM) and decodes
 * the record into out (cleared first, and left cleared on error).
 * Errors: MV_ERR_PARSE (malformed, or not MVE2; or an authenticated body that does not
 * decode), MV_ERR_VERIFY (GCM fails: wrong K, id or kid, any tampering), MV_ERR_TOO_LARGE,
 * MV_ERR_INVAL (NULL), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_envelope2_open(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                                const uint8_t K[static MV_KEYSET_KEY_BYTES], mv_record *out)
    __attribute__((warn_unused_result));

/* As mv_envelope2_open, with the record key R itself (mv_envelope2_unwrap, or
 * mv_envelope_record_key). Same errors. */
MV_API mv_err mv_envelope2_open_with_key(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                                         const uint8_t R[static MV_KEYSET_KEY_BYTES], mv_record *out)
    __attribute__((warn_unused_result));

/* An extra reader's R: unwraps the MVE2 entry of box_pk into R (not verified against the
 * body: mv_envelope2_open_with_key does that). R is wiped on error.
 * Errors: MV_ERR_PARSE (malformed, or not MVE2), MV_ERR_FORBIDDEN (no entry for box_pk),
 * MV_ERR_VERIFY (the wrap does not open), MV_ERR_INVAL (NULL), MV_ERR_CRYPTO. */
MV_API mv_err mv_envelope2_unwrap(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                                  const uint8_t box_sk[static 32], uint8_t R[static MV_KEYSET_KEY_BYTES])
    __attribute__((warn_unused_result));

/* Appends to out a copy of the MVE2 envelope env with an extra entry wrapping R for new_pk
 * (sharing this one record: new_pk learns R, never K). R must open the body for record id
 * (checked: GCM verifies before anything is wrapped). An unchanged copy if new_pk already has
 * an entry. On error out is unchanged.
 * Errors: MV_ERR_PARSE (malformed, or not MVE2), MV_ERR_VERIFY (R does not open the record),
 * MV_ERR_TOO_LARGE (already MV_ENVELOPE2_MAX_EXTRA entries, or out->max), MV_ERR_CRYPTO
 * (new_pk refused), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_envelope2_add_reader(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                                      const uint8_t R[static MV_KEYSET_KEY_BYTES], const uint8_t new_pk[static 32],
                                      mv_buf *out) __attribute__((warn_unused_result));

/* ---- MVK1: keysets ---- */

/* Appends the MVK1 keyset wrapping K for each of reader_pks[0..n_readers) (32 bytes each;
 * duplicates collapsed, first occurrence kept). The caller draws K (mv_random_bytes) and
 * wipes it. On error out is unchanged.
 * Errors: MV_ERR_INVAL (NULL, n_readers 0), MV_ERR_TOO_LARGE (more than MV_KEYSET_MAX_READERS
 * distinct readers, or out->max), MV_ERR_CRYPTO (a key libsodium refuses), MV_ERR_NOMEM. */
MV_API mv_err mv_keyset_seal(const uint8_t K[static MV_KEYSET_KEY_BYTES], const uint8_t *reader_pks, size_t n_readers,
                             mv_buf *out) __attribute__((warn_unused_result));

/* Unwraps K from the keyset ks[0..len) (untrusted) as the reader (box_pk, box_sk). K is wiped
 * on error. Readers are listed by mv_envelope_readers and removed by
 * mv_envelope_remove_reader.
 * Errors: MV_ERR_PARSE (malformed, or not MVK1), MV_ERR_FORBIDDEN (no entry for box_pk),
 * MV_ERR_VERIFY (the wrap does not open), MV_ERR_INVAL (NULL), MV_ERR_CRYPTO. */
MV_API mv_err mv_keyset_open(const uint8_t *ks, size_t len, const uint8_t box_pk[static 32],
                             const uint8_t box_sk[static 32],
                             uint8_t K[static MV_KEYSET_KEY_BYTES]) __attribute__((warn_unused_result));

/* Appends to out a copy of the keyset ks with an entry wrapping K for new_pk (an unchanged
 * copy if new_pk already has one). Nothing in MVK1 can check K without a reader's secret key:
 * pass the K that mv_keyset_open returned for this keyset. On error out is unchanged.
 * Errors: MV_ERR_PARSE (malformed, or not MVK1), MV_ERR_TOO_LARGE (already
 * MV_KEYSET_MAX_READERS entries, or out->max), MV_ERR_CRYPTO (new_pk refused), MV_ERR_INVAL
 * (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_keyset_add_reader(const uint8_t *ks, size_t len, const uint8_t K[static MV_KEYSET_KEY_BYTES],
                                   const uint8_t new_pk[static 32], mv_buf *out) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
