/* frames.h - the storage wire frames, one encoder and one strict decoder each, shared by the
 * client (the sender of requests, the reader of answers) and the storage server's two roles
 * (the primary and the decoy cloud). Byte layouts: docs/frames.md. Internal to libmedvault.
 *
 *   MVB1  POST /v1/blocks          FileStore: uploads and proofs of ownership
 *   MVG1  POST /v1/blocks/get      tags asked for, and the answer (found, ciphertext)
 *   MVQ1  POST /v1/records/get     ids asked for, and the answer (status, envelope)
 *   MVP2  POST /v1/records         records to store (ids, ACL, tags, sealed envelope)
 *   MVA1  POST /v1/records/{id}/readers   a new reader list (and envelope)
 *   the JSON body of POST /v1/dupcheck {"department","tokens"}
 *
 * Decoders never trust a length or a count they have not checked against what is left of the
 * input and against the frame's caps; they refuse trailing bytes, unknown kinds and flags;
 * they allocate nothing (except the dupcheck decoder, whose tokens take fewer bytes than their
 * JSON) and hand out views that borrow the input: a 256 MiB FileStore body is never copied.
 * A decoded frame's items are then read with an iterator that cannot fail (the decoder has
 * walked every item). On failure *fault names the item at fault and what is wrong, in text
 * without any input byte (safe for an HTTP error message).
 *
 * Encoders append to a caller's mv_buf through an mv_frame_writer that keeps the first error
 * (later calls do nothing) and, on any error, leaves the buffer as it was before the frame.
 * A writer never produces a frame its decoder refuses: it applies the same caps.
 *
 * Thread-safety: none needed; no state outside the caller's structs. */
#ifndef MV_NET_FRAMES_H
#define MV_NET_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_http.h"
#include "medvault/mv_store.h"

/* Caps (docs/frames.md, "Caps"). Those of the store are its own: a frame never carries what
 * the store would have to refuse for its size. */
#define MV_FRAME_DEPT_MAX MV_CRED_MAX_DEPT_LEN       /* bytes of a department name (63) */
#define MV_FRAME_MAX_BLOCK MV_STORE_MAX_BLOCK        /* ciphertext bytes of one block (8 MiB) */
#define MV_FRAME_MAX_ENVELOPE MV_STORE_MAX_ENVELOPE  /* bytes of one sealed envelope (1 MiB) */
#define MV_FRAME_MAX_GET 4096u                       /* tags per MVG1, ids per MVQ1 */
#define MV_FRAME_MAX_RECORDS 4096u                   /* records per MVP2 */
#define MV_FRAME_MAX_ACL MV_STORE_MAX_READERS        /* readers per MVA1 (64) */
#define MV_FRAME_MAX_TOKENS 100000u                  /* tokens per dupcheck */

#define MV_FRAME_TAG_BYTES 32
#define MV_FRAME_ID_BYTES 16
#define MV_FRAME_PK_BYTES 32
#define MV_FRAME_NONCE_BYTES 16 /* a dupcheck challenge's nonce (docs/api.md) */

/* MVB1 item kinds. */
#define MV_FRAME_UPLOAD 1
#define MV_FRAME_PROOF 2

/* Status byte of an MVG1 answer item. */
#define MV_FRAME_BLOCK_ABSENT 0
#define MV_FRAME_BLOCK_FOUND 1
/* Status byte of an MVQ1 answer item. */
#define MV_FRAME_RECORD_OK 0
#define MV_FRAME_RECORD_NOT_FOUND 1
#define MV_FRAME_RECORD_FORBIDDEN 2

/* MVA1 flags: bit 0 names the record's patient; other bits are refused. */
#define MV_FRAME_ACCESS_SET_PATIENT 1

/* ---------- faults ---------- */

#define MV_FRAME_NO_ITEM SIZE_MAX /* the fault is in the frame's header, not in an item */

/* Why a decoder refused its input. frame ("MVB1", ...) and what are static strings; noun is
 * "item", "record", "tag" or "id"; item is the 0-based index of the item at fault or
 * MV_FRAME_NO_ITEM. None of them holds input bytes. */
typedef struct mv_frame_fault {
    const char *frame;
    const char *noun;
    size_t item;
    const char *what;
} mv_frame_fault;

/* Writes "malformed MVP2 frame: record 3: no tags ..." (or "...frame: <what>" for a header
 * fault) into out[0..cap), NUL-terminated and truncated to fit. f may be NULL. */
void mv_frame_fault_text(const mv_frame_fault *f, char *out, size_t cap);

/* Answers a request whose frame was refused (for both storage roles, so the decoy cloud's
 * refusals read exactly like the primary's): 413 for MV_ERR_TOO_LARGE, 503 for MV_ERR_NOMEM,
 * 400 otherwise, with mv_frame_fault_text as the error message. */
void mv_frame_respond_fault(mv_http_response *resp, mv_err rc, const mv_frame_fault *f);

/* ---------- the writer ---------- */

/* An encoder's state: begin with one of the *_begin functions, add items, then mv_frame_end.
 * Fields are private. */
typedef struct mv_frame_writer {
    mv_buf *out;
    size_t start;   /* where this frame begins in out */
    size_t item_at; /* where the open answer item begins (answers), else 0 */
    uint32_t count; /* items added so far */
    uint8_t kind;   /* which frame (private enum in frames.c) */
    uint8_t open;   /* an answer item is open */
    mv_err rc;      /* the first error; every later call does nothing */
} mv_frame_writer;

/* Patches the item count into the frame and returns the first error of the writer: MV_OK,
 * MV_ERR_TOO_LARGE (out->max, or a cap of the frame: a block over 8 MiB, an envelope over
 * 1 MiB, more items than the frame may hold), MV_ERR_NOMEM, MV_ERR_INVAL (a caller bug: an
 * item of another frame, a count below the frame's minimum, an answer item left open, a
 * department of the wrong length). On error out is back to its length before *_begin (the
 * bytes written are wiped). */
mv_err mv_frame_end(mv_frame_writer *w) __attribute__((warn_unused_result));

/* ---------- MVB1: POST /v1/blocks ---------- */

/* One FileStore item. Every pointer borrows the frame (decoded) or the caller (encoded).
 * kind MV_FRAME_UPLOAD: data[0..len) is the ciphertext, 1 <= len <= MV_FRAME_MAX_BLOCK.
 * kind MV_FRAME_PROOF: issued, nonce (16) and response (32) answer a dupcheck challenge. */
typedef struct mv_frame_block {
    uint8_t kind;
    const uint8_t *token; /* 32 */
    const uint8_t *tag;   /* 32 */
    const uint8_t *data;  /* upload */
    size_t len;
    uint64_t issued;      /* proof */
    const uint8_t *nonce;
    const uint8_t *response;
} mv_frame_block;

/* A decoded MVB1 frame: dept[0..dept_len) (1..63 bytes, no NUL, not NUL-terminated) and
 * count >= 1 items, all checked. Borrows the input. */
typedef struct mv_frame_blocks {
    const char *dept;
    size_t dept_len;
    uint32_t count;
    const uint8_t *items; /* the items' bytes */
    size_t items_len;
} mv_frame_blocks;

/* An iterator over a decoded frame's items (MVB1, MVP2, answers). Fields are private. */
typedef struct mv_frame_iter {
    const uint8_t *p;
    size_t left;
    uint32_t remaining;
    uint8_t kind;
} mv_frame_iter;

/* Decodes p[0..len) (untrusted). Errors: MV_ERR_PARSE (bad magic, truncated, a department
 * of 0 or more than 63 bytes or with a NUL byte, a count of 0 or more items than the body can
 * hold, an unknown kind, an empty upload, trailing bytes), MV_ERR_TOO_LARGE (an upload longer
 * than MV_FRAME_MAX_BLOCK, refused as soon as its length is read), MV_ERR_INVAL (NULL). out
 * is zeroed on error. fault may be NULL. */
mv_err mv_frame_blocks_decode(const uint8_t *p, size_t len, mv_frame_blocks *out, mv_frame_fault *fault)
    __attribute__((warn_unused_result));
void mv_frame_blocks_iter(const mv_frame_blocks *f, mv_frame_iter *it);
/* 1 and *out filled with the next item, 0 after the last. */
int mv_frame_blocks_next(mv_frame_iter *it, mv_frame_block *out);

/* Starts an MVB1 frame for department dept (NUL-terminated, 1..63 bytes) in out. */
void mv_frame_blocks_begin(mv_frame_writer *w, mv_buf *out, const char *dept);
/* Adds one item (b->kind says which; data/len for an upload, issued/nonce/response for a
 * proof). */
void mv_frame_blocks_add(mv_frame_writer *w, const mv_frame_block *b);

/* ---------- MVG1 / MVQ1 requests: POST /v1/blocks/get, POST /v1/records/get ---------- */

/* count (1..MV_FRAME_MAX_GET) tags of 32 bytes or ids of 16 bytes, contiguous at v. */
typedef struct mv_frame_ids {
    const uint8_t *v;
    uint32_t count;
} mv_frame_ids;

/* Decode an MVG1 (tags) or MVQ1 (ids) request. Errors: MV_ERR_PARSE (bad magic, truncated,
 * a count of 0 or over MV_FRAME_MAX_GET, a count that does not match the body),
 * MV_ERR_INVAL (NULL). */
mv_err mv_frame_blocks_get_decode(const uint8_t *p, size_t len, mv_frame_ids *out, mv_frame_fault *fault)
    __attribute__((warn_unused_result));
mv_err mv_frame_records_get_decode(const uint8_t *p, size_t len, mv_frame_ids *out, mv_frame_fault *fault)
    __attribute__((warn_unused_result));

void mv_frame_blocks_get_begin(mv_frame_writer *w, mv_buf *out);
void mv_frame_blocks_get_add(mv_frame_writer *w, const uint8_t tag[32]);
void mv_frame_records_get_begin(mv_frame_writer *w, mv_buf *out);
void mv_frame_records_get_add(mv_frame_writer *w, const uint8_t id[16]);

/* ---------- MVG1 / MVQ1 answers ---------- */

/* A decoded answer: count items, all checked. Borrows the input. */
typedef struct mv_frame_answer {
    uint32_t count;
    const uint8_t *items;
    size_t items_len;
    uint8_t kind;
} mv_frame_answer;

/* Decode the answer to a request of expect items. An MVG1 item is found (1) with 0 to
 * MV_FRAME_MAX_BLOCK bytes of ciphertext or absent (0) with none; an MVQ1 item is ok (0) with
 * 0 to MV_FRAME_MAX_ENVELOPE bytes of envelope, or not found (1) / forbidden (2) with none.
 * Errors: MV_ERR_PARSE (bad magic, a count other than expect, truncated, an unknown status,
 * bytes on an item without data, trailing bytes), MV_ERR_TOO_LARGE (an item over its cap),
 * MV_ERR_INVAL (NULL). */
mv_err mv_frame_blocks_answer_decode(const uint8_t *p, size_t len, uint32_t expect, mv_frame_answer *out,
                                     mv_frame_fault *fault) __attribute__((warn_unused_result));
mv_err mv_frame_records_answer_decode(const uint8_t *p, size_t len, uint32_t expect, mv_frame_answer *out,
                                      mv_frame_fault *fault) __attribute__((warn_unused_result));
void mv_frame_answer_iter(const mv_frame_answer *a, mv_frame_iter *it);
/* 1 with the next item's status and data[0..len) (borrowed; NULL and 0 when it has none), 0
 * after the last. */
int mv_frame_answer_next(mv_frame_iter *it, uint8_t *status, const uint8_t **data, size_t *len);

void mv_frame_blocks_answer_begin(mv_frame_writer *w, mv_buf *out);
void mv_frame_records_answer_begin(mv_frame_writer *w, mv_buf *out);
/* Opens an answer item. Its data are then appended to out directly by the caller (a block
 * read from the store lands in the answer without a copy), and mv_frame_answer_close ends
 * the item with its status: found / ok keep the bytes appended since the open as the item's
 * data (MV_ERR_TOO_LARGE beyond the item cap), any other status drops (wipes) them. A caller
 * that failed to append calls mv_frame_answer_fail with its error (the writer keeps it). */
void mv_frame_answer_open(mv_frame_writer *w);
void mv_frame_answer_close(mv_frame_writer *w, uint8_t status);
void mv_frame_answer_fail(mv_frame_writer *w, mv_err rc);

/* ---------- MVP2: POST /v1/records ---------- */

/* One record of an MVP2 frame. Pointers borrow the frame (decoded) or the caller (encoded).
 *   id 16 | dept 1..63 bytes (no NUL) | patient 32 (all zero: none) | episode 16 |
 *   delegation[delegation_len] (0..65535 bytes, binary MVD1) | readers: n_readers (0..255)
 *   Ed25519 keys | tags: n_tags tags | envelope[envelope_len] (1..MV_FRAME_MAX_ENVELOPE
 *   bytes) whose public framing parses (mv_envelope_kind_of): a record names at least one
 *   tag and carries an MVE1 or MVE2 envelope; a keyset names no tag and carries an MVK1
 *   envelope (decision 0010).
 * The frame carries what the store judges per record (reader caps, duplicate tags, the
 * delegation rule); it refuses only what no record can be. */
typedef struct mv_frame_record {
    const uint8_t *id;
    const char *dept;
    size_t dept_len;
    const uint8_t *patient;
    const uint8_t *episode;
    const uint8_t *delegation;
    size_t delegation_len;
    const uint8_t *readers;
    size_t n_readers;
    const uint8_t *tags;
    size_t n_tags;
    const uint8_t *envelope;
    size_t envelope_len;
} mv_frame_record;

/* A decoded MVP2 frame: count (1..MV_FRAME_MAX_RECORDS) records, all checked. */
typedef struct mv_frame_records {
    uint32_t count;
    const uint8_t *items;
    size_t items_len;
} mv_frame_records;

/* Errors: MV_ERR_PARSE (bad magic, truncated, a count of 0 or over MV_FRAME_MAX_RECORDS or
 * over what the body can hold, a malformed department, an envelope whose framing does not
 * parse, a record without tags whose envelope is not MVK1 or an MVK1 keyset with tags,
 * trailing bytes), MV_ERR_TOO_LARGE (an envelope over
 * MV_FRAME_MAX_ENVELOPE, refused as soon as its length is read), MV_ERR_INVAL (NULL). */
mv_err mv_frame_records_decode(const uint8_t *p, size_t len, mv_frame_records *out, mv_frame_fault *fault)
    __attribute__((warn_unused_result));
void mv_frame_records_iter(const mv_frame_records *f, mv_frame_iter *it);
int mv_frame_records_next(mv_frame_iter *it, mv_frame_record *out);

void mv_frame_records_begin(mv_frame_writer *w, mv_buf *out);
/* Adds r (every pointer may be NULL when its length is 0; patient and episode NULL mean all
 * zero). The writer refuses (MV_ERR_INVAL) what the decoder would: tags and envelope kind
 * that disagree, an envelope that does not parse, a bad department. */
void mv_frame_records_add(mv_frame_writer *w, const mv_frame_record *r);

/* ---------- MVA1: POST /v1/records/{id}/readers ---------- */

/* flags (bit 0: set the patient) | patient 32 (non-zero exactly when bit 0 is set) |
 * readers (0..MV_FRAME_MAX_ACL keys) | envelope (0: keep the stored one; else an MVE1, MVE2
 * or MVK1 envelope of at most MV_FRAME_MAX_ENVELOPE bytes whose framing parses; the storage
 * server also requires the kind to fit the record: MVK1 for a keyset, which names no block,
 * MVE1 or MVE2 for any other record). */
typedef struct mv_frame_access {
    uint8_t flags;
    const uint8_t *patient; /* encode: NULL = all zero */
    const uint8_t *readers;
    size_t n_readers;
    const uint8_t *envelope;
    size_t envelope_len;
} mv_frame_access;

/* Errors: MV_ERR_PARSE (bad magic, truncated, unknown flag bits, a patient field that
 * disagrees with bit 0, more than MV_FRAME_MAX_ACL readers, an envelope whose framing
 * does not parse, trailing bytes), MV_ERR_TOO_LARGE (an envelope over the cap),
 * MV_ERR_INVAL (NULL). */
mv_err mv_frame_access_decode(const uint8_t *p, size_t len, mv_frame_access *out, mv_frame_fault *fault)
    __attribute__((warn_unused_result));
/* Appends the MVA1 frame of a (out unchanged on error). Errors: MV_ERR_INVAL (what the
 * decoder would refuse), MV_ERR_TOO_LARGE, MV_ERR_NOMEM. */
mv_err mv_frame_access_encode(const mv_frame_access *a, mv_buf *out) __attribute__((warn_unused_result));

/* ---------- POST /v1/dupcheck (JSON) ---------- */

/* {"department": D, "tokens": ["<64 hex>", ...]}: D a department name (1..63 bytes, no NUL)
 * and 0..MV_FRAME_MAX_TOKENS tokens. Other members are ignored (JSON objects are open). */
typedef struct mv_frame_dupcheck {
    char dept[MV_FRAME_DEPT_MAX + 1]; /* NUL-terminated */
    uint8_t *tokens;                  /* n_tokens x 32, owned (mv_frame_dupcheck_clear) */
    size_t n_tokens;
} mv_frame_dupcheck;

/* Decodes a dupcheck body into out (tokens allocated: 32 bytes per token of at least 66 bytes
 * of JSON). Errors: MV_ERR_PARSE (not a JSON object, a missing or malformed department, no
 * tokens array, more than MV_FRAME_MAX_TOKENS tokens, a token that is not 64 hex digits:
 * fault names it), MV_ERR_NOMEM, MV_ERR_INVAL (NULL). On error out holds nothing to free. */
mv_err mv_frame_dupcheck_decode(const uint8_t *p, size_t len, mv_frame_dupcheck *out, mv_frame_fault *fault)
    __attribute__((warn_unused_result));
/* Frees out's tokens (wiped) and empties it. Accepts NULL. */
void mv_frame_dupcheck_clear(mv_frame_dupcheck *d);

void mv_frame_dupcheck_begin(mv_frame_writer *w, mv_buf *out, const char *dept);
void mv_frame_dupcheck_add(mv_frame_writer *w, const uint8_t token[32]);

#endif
