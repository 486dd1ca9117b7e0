/* group_frames.h - the wire frames of group sharing's storage side (docs/groups.md, "Group
 * operations on the storage server"), one encoder and one strict decoder each, shared by the
 * client (sender of operations, reader of answers) and the storage server:
 *
 *   MVGO  POST /v1/groups/{g}/ops     a ring-signed operation: header, signature, optional
 *                                     link proof, payload
 *   MVGC  the payload of put/modify   the sealed envelope and the MLE-encrypted blocks
 *   MVGR  the answer to a read        the latest version's envelope and blocks
 *
 * Integers are little-endian like the other storage frames (docs/frames.md); the signed
 * message itself (mv_group_op_msg) is big-endian, as docs/groups.md defines it. Decoders check
 * every length against what is left and against the caps below, refuse trailing bytes and
 * allocate nothing: the views they hand out borrow the input. Internal to libmedvault. */
#ifndef MV_NET_GROUP_FRAMES_H
#define MV_NET_GROUP_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_group.h"
#include "medvault/mv_ringsig.h"
#include "medvault/mv_store.h"

#define MV_GROUP_FRAME_VERSION 1
/* Cap on an operation's body: what an anonymous peer can make the server buffer (the server's
 * max_body applies too). 32 MiB holds a working file of about 30 MB in one operation. */
#define MV_GROUP_OPS_MAX_BODY ((size_t)32 << 20)
#define MV_GROUP_MAX_BLOCKS 4096u /* blocks of one version */
#define MV_GROUP_NONCE_BYTES 16
#define MV_GROUP_OP_HEADER_BYTES 64u /* MVGO up to and including sig_len */
/* The version field of a read: the latest version with its content, or its header only (the
 * version number and version 1's signature, for a modify or an owner's delete). */
#define MV_GROUP_READ_CONTENT 0u
#define MV_GROUP_READ_HEAD 1u
/* ... or version v's content (every version's content is kept): the top bit set, v below it. */
#define MV_GROUP_READ_VERSION ((uint64_t)1 << 63)

/* A decoded MVGO frame. sig, link and payload borrow the input; link is NULL when absent. */
typedef struct mv_group_op_frame {
    uint8_t op;                  /* enum mv_group_op, checked to be 1..5 */
    uint64_t epoch;
    uint8_t record_id[16];
    uint64_t version;
    uint64_t timestamp;
    uint8_t nonce[MV_GROUP_NONCE_BYTES];
    const uint8_t *sig;
    size_t sig_len;              /* 1..MV_RING_SIG_MAX_BYTES */
    const uint8_t *link;         /* MV_RING_LINK_BYTES or NULL */
    const uint8_t *payload;
    size_t payload_len;
} mv_group_op_frame;

/* Appends an MVGO frame to out. link may be NULL. Errors: MV_ERR_INVAL (an op outside 1..5,
 * sig_len 0 or over the cap), MV_ERR_TOO_LARGE (out's cap or the body cap), MV_ERR_NOMEM; on
 * error out is unchanged. */
mv_err mv_group_op_encode(const mv_group_op_frame *f, mv_buf *out) __attribute__((warn_unused_result));
/* Decodes in[0..len) (untrusted). Errors: MV_ERR_TOO_LARGE (over MV_GROUP_OPS_MAX_BODY),
 * MV_ERR_PARSE (*what, if not NULL, names the fault without input bytes). */
mv_err mv_group_op_decode(const uint8_t *in, size_t len, mv_group_op_frame *f, const char **what)
    __attribute__((warn_unused_result));

/* One block of a version: token (per-group dedup token), tag = SHA-256(data), data. In an
 * MVGR answer token is NULL. In an MVGC payload data NULL with len 0 is a reference: a block
 * the group already holds (its token maps to tag in the group's partition), not sent again. */
typedef struct mv_group_block {
    const uint8_t *token;
    const uint8_t *tag;
    const uint8_t *data;
    size_t len;
} mv_group_block;

/* A decoded MVGC payload or MVGR answer: items holds n_blocks blocks, walked with
 * mv_group_blocks_next. */
typedef struct mv_group_content {
    uint64_t version, epoch, modified; /* MVGR only */
    /* MVGR only: version 1's epoch, signed message and ring signature, from which its signer
     * (and only she) can prove she made it (mv_ring_link_prove: the owner's delete). */
    uint64_t owner_epoch;
    const uint8_t *owner_msg;
    size_t owner_msg_len; /* MV_GROUP_OP_MSG_BYTES */
    const uint8_t *owner_sig;
    size_t owner_sig_len;
    const uint8_t *envelope;
    size_t envelope_len;
    uint32_t n_blocks;
    const uint8_t *items;
    size_t items_len;
    int with_tokens; /* MVGC: 1, MVGR: 0 */
} mv_group_content;

/* MVGC: begins the payload with its envelope, then add n_blocks blocks with
 * mv_group_content_block. Errors: MV_ERR_INVAL, MV_ERR_TOO_LARGE, MV_ERR_NOMEM. */
mv_err mv_group_content_begin(mv_buf *out, const uint8_t *envelope, size_t envelope_len, uint32_t n_blocks)
    __attribute__((warn_unused_result));
/* MVGR: the same with the answer's header; a is the header (version, epoch, modified and the
 * owner_* fields; its envelope and block fields are ignored). */
mv_err mv_group_answer_begin(mv_buf *out, const mv_group_content *a, const uint8_t *envelope, size_t envelope_len,
                             uint32_t n_blocks) __attribute__((warn_unused_result));
/* Appends one block (token NULL for MVGR; data NULL and len 0 with a token: a reference).
 * The caller adds exactly the announced count. */
mv_err mv_group_content_block(mv_buf *out, const uint8_t *token, const uint8_t tag[static 32], const uint8_t *data,
                              size_t len) __attribute__((warn_unused_result));
/* Decodes an MVGC payload (with_tokens 1) or an MVGR answer (0): every block checked for
 * length (1..MV_STORE_MAX_BLOCK, or 0 for an MVGC reference); SHA-256(data) == tag is the
 * reader's to check. Errors:
 * MV_ERR_PARSE (*what names the fault). */
mv_err mv_group_content_decode(const uint8_t *in, size_t len, int with_tokens, mv_group_content *c, const char **what)
    __attribute__((warn_unused_result));
/* The next block of a decoded content (the decoder walked them all). Returns 0 at the end. */
int mv_group_blocks_next(mv_group_content *c, mv_group_block *b);

#endif
