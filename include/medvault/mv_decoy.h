/* mv_decoy.h - the decoy cloud's shared contracts (issue 5, docs/decoy.md): the public shape of
 * a record, the frames the primary storage server sends to the decoy cloud, and the
 * deterministic decoy generator.
 *
 * A shape is what the primary knows publicly about a record (never content): id,
 * department, creation time, owner/patient/episode, the envelope length and reader keys,
 * and the ciphertext length of each block. The decoy cloud turns a shape and its secret
 * seed into a decoy record of exactly the same sizes, sealed to the same readers.
 *
 * Wire formats (all integers little-endian, like every storage frame):
 *   shape   = u8 version (2) | u8 kind (0 MVE1, 1 MVE2, 2 MVK1) | id(16) | u8 dlen (0..63) |
 *             dept(dlen) | u64 created | owner(32) | patient(32) | episode(16) | u32 env_len |
 *             kid(16) (kind MVE2 only) | u8 n_readers | pk(32) * n_readers |
 *             u32 n_blocks | u32 cipher_len * n_blocks
 *             n_readers: MVE1 1..64 (the envelope's readers), MVE2 0..63 (the envelope's own
 *             reader entries, beyond the keyset's), MVK1 1..64 (the keyset's readers; its kid
 *             is its id and it names no blocks)
 *   MVX2    = "MVX2" | u8 reason (1..6) | principal(32, zero if unknown) | u16 mlen (1..15) |
 *             method | u16 plen (1..65535) | path_and_query | u32 blen | body |
 *             u32 n_shapes | shape * n_shapes                (POST /v1/decoy)
 *   MVH2    = "MVH2" | u32 n | shape * n                     (POST /v1/decoy/shapes)
 * Version 1 (MVX1, MVH1: what the previous release sends) is still decoded: the same frames
 * around shapes without the version and kind bytes and without a kid (MVE1 envelopes only):
 *   shape_v1 = id(16) | u8 dlen | dept | u64 created | owner | patient | episode | u32 env_len |
 *             u8 n_readers (1..64) | pk(32) * n_readers | u32 n_blocks | u32 cipher_len * n_blocks
 * Decoders are strict: every length within the input, no trailing bytes, counts within
 * their caps, method and path without NUL or control bytes.
 *
 * Thread-safety: stateless functions; structs are not synchronized. */
#ifndef MV_DECOY_H
#define MV_DECOY_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_DECOY_SEED_BYTES 32
#define MV_DECOY_DEPT_MAX 63        /* bytes of a department name (MV_CRED_MAX_DEPT_LEN) */
#define MV_DECOY_MAX_READERS 64     /* MV_ENVELOPE_MAX_READERS */
#define MV_DECOY_MAX_BLOCKS 1000000u /* MV_RECORD_BLOCKS_MAX */
#define MV_DECOY_MAX_SHAPES 100000u /* shapes per MVX or MVH frame */
#define MV_DECOY_METHOD_MAX 15
#define MV_DECOY_PATH_MAX 65535
#define MV_DECOY_MAX_BLOCK_LEN ((uint32_t)8 << 20)  /* MV_STORAGE_MAX_BLOCK */
#define MV_DECOY_MAX_ENV_LEN ((uint32_t)1 << 20)    /* MV_STORAGE_MAX_ENVELOPE */

/* Why the primary forwarded a request (MVX reason byte). */
typedef enum mv_decoy_reason {
    MV_DECOY_UNAUTHENTICATED = 1,
    MV_DECOY_FORGED = 2,
    MV_DECOY_REVOKED = 3,
    MV_DECOY_EXPIRED = 4,
    MV_DECOY_HONEYTOKEN = 5,
    MV_DECOY_PROFILE = 6 /* over the access profile and step-up failed */
} mv_decoy_reason;

/* The envelope format of the real record a shape describes (mv_record.h). */
typedef enum mv_decoy_kind {
    MV_DECOY_MVE1 = 0, /* a record sealed to each reader */
    MV_DECOY_MVE2 = 1, /* a record under a keyset's key (kid), plus its own reader entries */
    MV_DECOY_MVK1 = 2  /* a keyset: a key sealed to each reader of a reader set; id = kid */
} mv_decoy_kind;

typedef struct mv_decoy_shape {
    uint8_t kind; /* mv_decoy_kind; 0 (MVE1) after mv_decoy_shape_init */
    uint8_t id[16];
    uint8_t kid[16]; /* MVE2: the keyset the record is under; MVK1: equal to id; MVE1: zero */
    char department[MV_DECOY_DEPT_MAX + 1]; /* NUL-terminated; may be "" */
    uint64_t created;
    uint8_t owner[32], patient[32], episode[16]; /* zero when none */
    uint32_t env_len;
    uint8_t n_readers;                           /* MVE1, MVK1: 1..64; MVE2: 0..63 */
    uint8_t readers[MV_DECOY_MAX_READERS][32];   /* X25519 pks of the real envelope's (or
                                                    keyset's) reader entries, in order */
    uint32_t n_blocks;
    uint32_t *block_len; /* n_blocks cipher lengths in the record's tag order; owned (mv_malloc)
                            after decode, NULL when n_blocks is 0 */
} mv_decoy_shape;

/* Zeroes s (no blocks). Allocates nothing. */
MV_API void mv_decoy_shape_init(mv_decoy_shape *s);
/* Frees s->block_len and re-initialises s. Accepts NULL. */
MV_API void mv_decoy_shape_clear(mv_decoy_shape *s);

/* Appends the shape encoding (version 2) of s to out. On error out is unchanged.
 * Errors: MV_ERR_INVAL (NULL, kind unknown, department longer than 63 bytes, n_readers outside
 * its kind's range, an MVK1 shape whose kid is not its id or that names blocks, n_blocks above
 * MV_DECOY_MAX_BLOCKS or block_len NULL with n_blocks > 0), MV_ERR_TOO_LARGE (out->max),
 * MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_shape_encode(const mv_decoy_shape *s, mv_buf *out) __attribute__((warn_unused_result));

/* Decodes one version-2 shape from the start of in[0..len) (untrusted) into out (initialised;
 * cleared first, left cleared on error); *used receives the bytes consumed (the caller decides
 * what may follow). The department must not contain NUL bytes. Memory is only allocated for
 * lengths actually present in the input.
 * Errors: MV_ERR_PARSE (truncated, another version, kind unknown, n_readers outside its kind's
 * range, an MVK1 shape with blocks, NUL in the department), MV_ERR_TOO_LARGE (n_blocks above
 * MV_DECOY_MAX_BLOCKS), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_shape_decode(const uint8_t *in, size_t len, size_t *used, mv_decoy_shape *out)
    __attribute__((warn_unused_result));
/* As mv_decoy_shape_decode for the version-1 encoding (shape_v1 above: MVX1/MVH1 frames and
 * the .rec files of the previous decoy store); the shape is an MVE1 one. */
MV_API mv_err mv_decoy_shape_decode_v1(const uint8_t *in, size_t len, size_t *used, mv_decoy_shape *out)
    __attribute__((warn_unused_result));

/* 1 if mv_decoy_generate accepts s: a known kind, readers distinct and within the kind's range,
 * env_len and every block length within their caps and above the framing minimum (MVE1:
 * env_len >= 33 + 112 * n_readers; MVE2: env_len >= 49 + 112 * n_readers; MVK1: env_len exactly
 * 5 + 112 * n_readers, no blocks, kid equal to id), a block at least 16 bytes. 0 otherwise (also
 * for NULL). */
MV_API int mv_decoy_shape_valid(const mv_decoy_shape *s);

/* A forward frame (MVX2; MVX1 decoded). For encoding every pointer is borrowed from the caller. After
 * mv_decoy_forward_decode, path and body point into the decoded input (borrowed: the input
 * must outlive the frame; path is NOT NUL-terminated) and shapes is owned by the frame. */
typedef struct mv_decoy_forward {
    uint8_t reason;                        /* mv_decoy_reason */
    uint8_t principal[32];                 /* reasons 3-6: the caller's proven Ed25519 key;
                                              reasons 1-2: the key it claims, unverified, which
                                              only selects invented decoys; zero if none */
    char method[MV_DECOY_METHOD_MAX + 1];  /* NUL-terminated, e.g. "GET" */
    const char *path;                      /* path and query, path_len bytes */
    size_t path_len;
    const uint8_t *body;                   /* may be NULL when body_len is 0 */
    size_t body_len;
    mv_decoy_shape *shapes;                /* shapes of the records the request names */
    size_t n_shapes;
} mv_decoy_forward;

/* Zeroes f. */
MV_API void mv_decoy_forward_init(mv_decoy_forward *f);
/* Frees the shapes of a DECODED frame (never call it on a frame whose shapes the caller
 * owns) and re-initialises f. Accepts NULL. */
MV_API void mv_decoy_forward_clear(mv_decoy_forward *f);

/* Appends the MVX2 encoding of f to out. On error out is unchanged.
 * Errors: MV_ERR_INVAL (NULL, reason outside 1..6, method empty or longer than 15 bytes,
 * path empty or longer than 65535 bytes, body_len above UINT32_MAX, n_shapes above
 * MV_DECOY_MAX_SHAPES, NULL shapes with n_shapes > 0, a shape mv_decoy_shape_encode
 * refuses), MV_ERR_TOO_LARGE (out->max), MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_forward_encode(const mv_decoy_forward *f, mv_buf *out) __attribute__((warn_unused_result));

/* Decodes an MVX2 or MVX1 frame in[0..len) (untrusted) into out (initialised; cleared first and
 * left cleared on error). Strict: magic, reason 1..6, method 1..15 bytes of printable ASCII, path 1..65535
 * bytes without control bytes, lengths within the input, no trailing bytes.
 * Errors: MV_ERR_PARSE (malformed), MV_ERR_TOO_LARGE (n_shapes above MV_DECOY_MAX_SHAPES, or a
 * shape's block count), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_forward_decode(const uint8_t *in, size_t len, mv_decoy_forward *out)
    __attribute__((warn_unused_result));

/* Appends the MVH2 encoding of shapes[0..n) to out. On error out is unchanged.
 * Errors: MV_ERR_INVAL (NULL shapes with n > 0, n above MV_DECOY_MAX_SHAPES, a shape
 * mv_decoy_shape_encode refuses), MV_ERR_TOO_LARGE (out->max), MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_shapes_encode(const mv_decoy_shape *shapes, size_t n, mv_buf *out)
    __attribute__((warn_unused_result));

/* Decodes an MVH2 or MVH1 frame in[0..len) (untrusted): *out receives an array of *n shapes
 * (owned by the caller; free with mv_decoy_shapes_free), NULL when *n is 0. Strict like
 * mv_decoy_forward_decode. On error *out is NULL and *n 0.
 * Errors: MV_ERR_PARSE, MV_ERR_TOO_LARGE (n above MV_DECOY_MAX_SHAPES or a block count),
 * MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_shapes_decode(const uint8_t *in, size_t len, mv_decoy_shape **out, size_t *n)
    __attribute__((warn_unused_result));
/* Clears each of shapes[0..n) and frees the array. Accepts NULL. */
MV_API void mv_decoy_shapes_free(mv_decoy_shape *shapes, size_t n);

/* ---------- generator ---------- */

typedef struct mv_decoy_block {
    uint8_t tag[32]; /* SHA-256(c) */
    uint8_t *c;      /* owned ciphertext, len bytes */
    size_t len;
} mv_decoy_block;

typedef struct mv_decoy_record {
    uint8_t id[16];
    uint8_t *env;          /* owned MVE1 envelope, env_len bytes */
    size_t env_len;
    size_t n_blocks;
    mv_decoy_block *blocks; /* owned, in the shape's block order */
    unsigned n_inexact;     /* parts (envelope or blocks) whose exact size libzstd-compressed
                               content could not reach: they hold a stored (raw-block) zstd
                               frame, which still decrypts, or, below even that, keystream
                               filler that does not. Sizes are exact either way; the server
                               counts these in a metric (docs/decoy.md). */
} mv_decoy_record;

/* Zeroes r. */
MV_API void mv_decoy_record_init(mv_decoy_record *r);
/* Frees everything r owns and re-initialises it. Accepts NULL. */
MV_API void mv_decoy_record_clear(mv_decoy_record *r);

/* Generates the decoy for shape s under seed (32 secret bytes): an MVE1 envelope of exactly
 * s->env_len bytes sealed to s's readers, blocks of exactly block_len[i] bytes with tags
 * SHA-256(C). Deterministic in (seed, shape): every random choice, the record key and the
 * sealed boxes' ephemeral keys derive from HKDF(seed, id, shape digest). Opened with any
 * reader's key it yields a record whose blocks MLE-decrypt and join (mv_fhir_join) into a
 * plausible FHIR resource, or an imaging attachment for large multi-block shapes.
 * out must be initialised; it is cleared first and left cleared on error.
 * Errors: MV_ERR_INVAL (NULL; a shape mv_decoy_shape_encode refuses; env_len or a block
 * length above its cap (MV_DECOY_MAX_ENV_LEN, MV_DECOY_MAX_BLOCK_LEN) or below the framing
 * minimum: env_len < 33 + 112 * n_readers, a block below 16 bytes), MV_ERR_CRYPTO (a reader
 * key libsodium refuses), MV_ERR_NOMEM. */
MV_API mv_err mv_decoy_generate(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                                mv_decoy_record *out) __attribute__((warn_unused_result));

/* Called by mv_decoy_generate_stream with block `index` of the decoy, in order: b->tag and
 * b->len are final, b->c (b->len bytes) is borrowed for the call. A non-MV_OK return stops the
 * generation and is returned. */
typedef mv_err (*mv_decoy_block_fn)(void *ctx, size_t index, const mv_decoy_block *b);

/* As mv_decoy_generate, the same bytes, but each block's ciphertext is handed to fn as soon as
 * it exists and then freed: out->blocks[i] keeps tag and len with c NULL, so a shape of any
 * size costs the memory of one block (fn NULL: blocks are kept, as mv_decoy_generate does).
 * Errors: those of mv_decoy_generate, and fn's. */
MV_API mv_err mv_decoy_generate_stream(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                                       mv_decoy_block_fn fn, void *ctx, mv_decoy_record *out)
    __attribute__((warn_unused_result));

/* Regenerates block `index` of the decoy of an attachment shape alone (the same bytes as
 * mv_decoy_generate gives), so a server need not keep the ciphertext of large decoys: out->c
 * is allocated (mv_free it), out->len and out->tag set. Errors: MV_ERR_INVAL (NULL, index out of
 * range, a shape mv_decoy_generate refuses, or not an attachment shape), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO. */
MV_API mv_err mv_decoy_generate_block(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                                      size_t index, mv_decoy_block *out) __attribute__((warn_unused_result));

/* 1 if s has a block of 64 KiB or more: its decoy is an imaging attachment whose blocks
 * mv_decoy_generate_block can regenerate one at a time. 0 otherwise (also for NULL). */
MV_API int mv_decoy_shape_is_attachment(const mv_decoy_shape *s);
/* The bytes of s's record: envelope plus every block (0 for NULL). */
MV_API uint64_t mv_decoy_shape_bytes(const mv_decoy_shape *s);

/* ---------- decoys for unverified callers ----------
 * A caller whose request signature did not verify (no, malformed or forged authentication)
 * never sees a real record's metadata: the decoy cloud answers it from shapes it invents from
 * its seed and the record id alone (issue 11, DESIGN section 6). */

#define MV_DECOY_SYNTH_RECORDS_MAX 48 /* records in a synthetic listing, at most */
#define MV_DECOY_SYNTH_LIST_MAX 96    /* entries (records and their keysets), at most */

/* Fills out (initialised; cleared first, left cleared on error) with an invented shape for id,
 * as the primary keeps records since issue 12 (docs/decoy.md): an id the seed's invented world
 * made for a keyset gives that keyset (MVK1, its doctor and, most often, a patient as readers,
 * 5 + 112 n bytes, created when its id says); any other id an MVE2 record under the keyset of
 * an invented reader set (kid, itself such an id), a generic department, owner and patient
 * from pools of invented people (real Ed25519 keys, with X25519 reader keys), an episode, and
 * the sizes measured on real records (one block most often, three for a Bundle). Its creation
 * time: the time in the id's first 6 bytes when it reads as one (every id mv_record_id_new
 * makes, every invented one), else one within two years before anchor (unix seconds; a server
 * passes a fixed instant so the answer is the same on every fetch), never before its keyset.
 * Deterministic in (seed, id, anchor); it depends on no real record. Errors: MV_ERR_INVAL
 * (NULL), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_decoy_shape_synth(const uint8_t seed[static MV_DECOY_SEED_BYTES], const uint8_t id[static 16],
                                   uint64_t anchor, mv_decoy_shape *out) __attribute__((warn_unused_result));

/* Writes the ids of the listing an unverified caller claiming key selector (32 bytes, or NULL)
 * is shown into ids[0..cap), in no particular order (the listing writer orders them): between
 * 12 and MV_DECOY_SYNTH_RECORDS_MAX distinct records of one pool, the 4,096 record ids invented
 * from the seed (time-ordered, dated within the two years before anchor) plus extra[0..n_extra)
 * (honeytokens), drawn uniformly and deterministically in (seed, selector, anchor, extra): an
 * extra id shows as often as any invented one; then the keyset of each one's reader set (as
 * mv_decoy_shape_synth names it), once, while cap allows (MV_DECOY_SYNTH_LIST_MAX always
 * does). Returns how many (0 on a NULL argument, cap 0 or an error). */
MV_API size_t mv_decoy_synth_list(const uint8_t seed[static MV_DECOY_SEED_BYTES], const uint8_t *selector,
                                  uint64_t anchor, const uint8_t (*extra)[16], size_t n_extra, uint8_t (*ids)[16],
                                  size_t cap);

/* ---------- the decoy cloud ---------- */

/* Runs the decoy cloud (`medvault storage run --role decoy`; mv_storage_run hands over here
 * when cfg->role is MV_STORAGE_DECOY) until SIGTERM/SIGINT. Serves /healthz, /metrics,
 * POST /v1/decoy (MVX2/MVX1: answers the forwarded request as the primary would, from decoys
 * generated on the request) and POST /v1/decoy/shapes (MVH2/MVH1: stores every new or changed
 * shape, durably, generating nothing; 200 {"stored":n}); everything else is 404. Both POSTs need a signed request whose
 * credential the hospital key verifies and whose subject is cfg->primary_pk, else 401.
 * State: cfg->dir/decoy.seed (32 bytes, 0600, created on first start, kept in secure
 * memory) and cfg->dir/decoys/ (docs/decoy.md). Uses listen, port_file, threads,
 * skew_seconds, max_body, hospital_url and revocation_poll_s like the primary.
 * Errors (before serving): MV_ERR_INVAL (NULL cfg, dir or listen, threads, skew or max_body 0,
 * role not MV_STORAGE_DECOY, primary_pk all zero), MV_ERR_AUTH (decoy.seed readable by group
 * or others), MV_ERR_PARSE (decoy.seed not 32 bytes), MV_ERR_NET (cannot listen), MV_ERR_IO,
 * MV_ERR_NOMEM; the shape store's errors (decoy_store_open, the upgrade of a .rec directory). */
MV_API mv_err mv_decoy_run(const mv_storage_config *cfg) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
