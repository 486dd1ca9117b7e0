/* group_frames.c - the MVGO / MVGC / MVGR frames of group sharing: what the client sends
 * and the storage server decodes, one strict decoder that trusts no length. */
#include "net/group_frames.h"

#include <string.h>

#include "core/endian.h"

static const uint8_t MAGIC_OP[4] = {'M', 'V', 'G', 'O'};
static const uint8_t MAGIC_CONTENT[4] = {'M', 'V', 'G', 'C'};
static const uint8_t MAGIC_ANSWER[4] = {'M', 'V', 'G', 'R'};

static mv_err put_le(mv_buf *out, uint64_t v, size_t n)
{
    uint8_t b[8];
    mv_le_put(b, v, n);
    return mv_buf_append(out, b, n);
}

mv_err mv_group_op_encode(const mv_group_op_frame *f, mv_buf *out)
{
    if (!f || !out || f->op < MV_GROUP_OP_PUT || f->op > MV_GROUP_OP_LIST || f->sig_len == 0 ||
        f->sig_len > MV_RING_SIG_MAX_BYTES || !f->sig || (f->payload_len && !f->payload))
        return MV_ERR_INVAL;
    size_t total = MV_GROUP_OP_HEADER_BYTES + f->sig_len + 1 + (f->link ? MV_RING_LINK_BYTES : 0) + f->payload_len;
    if (f->payload_len > MV_GROUP_OPS_MAX_BODY || total > MV_GROUP_OPS_MAX_BODY)
        return MV_ERR_TOO_LARGE;
    size_t start = out->len;
    uint8_t link_flag = f->link ? 1 : 0;
    mv_err rc = mv_buf_reserve(out, total);
    if (rc == MV_OK)
        rc = mv_buf_append(out, MAGIC_OP, 4);
    uint8_t hdr[2] = {MV_GROUP_FRAME_VERSION, f->op};
    if (rc == MV_OK)
        rc = mv_buf_append(out, hdr, 2);
    if (rc == MV_OK)
        rc = put_le(out, f->epoch, 8);
    if (rc == MV_OK)
        rc = mv_buf_append(out, f->record_id, 16);
    if (rc == MV_OK)
        rc = put_le(out, f->version, 8);
    if (rc == MV_OK)
        rc = put_le(out, f->timestamp, 8);
    if (rc == MV_OK)
        rc = mv_buf_append(out, f->nonce, MV_GROUP_NONCE_BYTES);
    if (rc == MV_OK)
        rc = put_le(out, f->sig_len, 2);
    if (rc == MV_OK)
        rc = mv_buf_append(out, f->sig, f->sig_len);
    if (rc == MV_OK)
        rc = mv_buf_append(out, &link_flag, 1);
    if (rc == MV_OK && f->link)
        rc = mv_buf_append(out, f->link, MV_RING_LINK_BYTES);
    if (rc == MV_OK && f->payload_len)
        rc = mv_buf_append(out, f->payload, f->payload_len);
    if (rc != MV_OK)
        out->len = start;
    return rc;
}

mv_err mv_group_op_decode(const uint8_t *in, size_t len, mv_group_op_frame *f, const char **what)
{
    const char *dummy;
    const uint8_t *p;
    uint8_t ver, link_flag;
    uint16_t sig_len;
    mv_rd r;
    if (!what)
        what = &dummy;
    *what = "";
    if (!in || !f)
        return MV_ERR_INVAL;
    memset(f, 0, sizeof *f);
    if (len > MV_GROUP_OPS_MAX_BODY) {
        *what = "body over the group operation cap";
        return MV_ERR_TOO_LARGE;
    }
    mv_rd_init(&r, in, len);
    if (mv_rd_bytes(&r, 4, &p) || memcmp(p, MAGIC_OP, 4) != 0) {
        *what = "not an MVGO frame";
        return MV_ERR_PARSE;
    }
    if (mv_rd_u8(&r, &ver) || ver != MV_GROUP_FRAME_VERSION) {
        *what = "unknown MVGO version";
        return MV_ERR_PARSE;
    }
    if (mv_rd_u8(&r, &f->op) || f->op < MV_GROUP_OP_PUT || f->op > MV_GROUP_OP_LIST) {
        *what = "unknown operation";
        return MV_ERR_PARSE;
    }
    if (mv_rd_u64(&r, &f->epoch) || mv_rd_bytes(&r, 16, &p)) {
        *what = "truncated header";
        return MV_ERR_PARSE;
    }
    memcpy(f->record_id, p, 16);
    if (mv_rd_u64(&r, &f->version) || mv_rd_u64(&r, &f->timestamp) || mv_rd_bytes(&r, MV_GROUP_NONCE_BYTES, &p)) {
        *what = "truncated header";
        return MV_ERR_PARSE;
    }
    memcpy(f->nonce, p, MV_GROUP_NONCE_BYTES);
    if (mv_rd_u16(&r, &sig_len) || sig_len == 0 || sig_len > MV_RING_SIG_MAX_BYTES ||
        mv_rd_bytes(&r, sig_len, &f->sig)) {
        *what = "bad signature length";
        return MV_ERR_PARSE;
    }
    f->sig_len = sig_len;
    if (mv_rd_u8(&r, &link_flag) || link_flag > 1) {
        *what = "bad link proof flag";
        return MV_ERR_PARSE;
    }
    if (link_flag && mv_rd_bytes(&r, MV_RING_LINK_BYTES, &f->link)) {
        *what = "truncated link proof";
        return MV_ERR_PARSE;
    }
    f->payload = r.p;
    f->payload_len = r.left;
    return MV_OK;
}

static mv_err content_begin(mv_buf *out, const uint8_t magic[4], const mv_group_content *a, const uint8_t *envelope,
                            size_t envelope_len, uint32_t n_blocks)
{
    /* Only a read's header-only answer has no envelope (and then no blocks). */
    int head_only = a && envelope_len == 0 && n_blocks == 0;
    if (!out || (!head_only && (!envelope || envelope_len == 0)) || envelope_len > MV_STORE_MAX_ENVELOPE ||
        n_blocks > MV_GROUP_MAX_BLOCKS ||
        (a && (a->owner_msg_len != MV_GROUP_OP_MSG_BYTES || !a->owner_msg || !a->owner_sig ||
               a->owner_sig_len == 0 || a->owner_sig_len > MV_RING_SIG_MAX_BYTES)))
        return MV_ERR_INVAL;
    size_t start = out->len;
    uint8_t ver = MV_GROUP_FRAME_VERSION;
    mv_err rc = mv_buf_append(out, magic, 4);
    if (rc == MV_OK)
        rc = mv_buf_append(out, &ver, 1);
    if (a) {
        const uint64_t h[4] = {a->version, a->epoch, a->modified, a->owner_epoch};
        for (int i = 0; i < 4 && rc == MV_OK; i++)
            rc = put_le(out, h[i], 8);
        if (rc == MV_OK)
            rc = mv_buf_append(out, a->owner_msg, a->owner_msg_len);
        if (rc == MV_OK)
            rc = put_le(out, a->owner_sig_len, 2);
        if (rc == MV_OK)
            rc = mv_buf_append(out, a->owner_sig, a->owner_sig_len);
    }
    if (rc == MV_OK)
        rc = put_le(out, envelope_len, 4);
    if (rc == MV_OK && envelope_len)
        rc = mv_buf_append(out, envelope, envelope_len);
    if (rc == MV_OK)
        rc = put_le(out, n_blocks, 4);
    if (rc != MV_OK)
        out->len = start;
    return rc;
}

mv_err mv_group_content_begin(mv_buf *out, const uint8_t *envelope, size_t envelope_len, uint32_t n_blocks)
{
    return content_begin(out, MAGIC_CONTENT, NULL, envelope, envelope_len, n_blocks);
}

mv_err mv_group_answer_begin(mv_buf *out, const mv_group_content *a, const uint8_t *envelope, size_t envelope_len,
                             uint32_t n_blocks)
{
    if (!a)
        return MV_ERR_INVAL;
    return content_begin(out, MAGIC_ANSWER, a, envelope, envelope_len, n_blocks);
}

mv_err mv_group_content_block(mv_buf *out, const uint8_t *token, const uint8_t tag[static 32], const uint8_t *data,
                              size_t len)
{
    int reference = token && !data && len == 0;
    if (!out || (!reference && (!data || len == 0)) || len > MV_STORE_MAX_BLOCK)
        return MV_ERR_INVAL;
    size_t start = out->len;
    mv_err rc = token ? mv_buf_append(out, token, 32) : MV_OK;
    if (rc == MV_OK)
        rc = mv_buf_append(out, tag, 32);
    if (rc == MV_OK)
        rc = put_le(out, len, 4);
    if (rc == MV_OK && len)
        rc = mv_buf_append(out, data, len);
    if (rc != MV_OK)
        out->len = start;
    return rc;
}

/* Reads one block at r; 0 or -1 (with *what set). */
static int read_block(mv_rd *r, int with_tokens, mv_group_block *b, const char **what)
{
    uint32_t len;
    b->token = NULL;
    if ((with_tokens && mv_rd_bytes(r, 32, &b->token)) || mv_rd_bytes(r, 32, &b->tag) || mv_rd_u32(r, &len)) {
        *what = "truncated block";
        return -1;
    }
    /* Length 0 is a reference (MVGC only): a block the group already holds, named by its token. */
    b->data = NULL;
    if ((len == 0 && !with_tokens) || len > MV_STORE_MAX_BLOCK || (len && mv_rd_bytes(r, len, &b->data))) {
        *what = "bad block length";
        return -1;
    }
    b->len = len;
    return 0;
}

mv_err mv_group_content_decode(const uint8_t *in, size_t len, int with_tokens, mv_group_content *c, const char **what)
{
    const char *dummy;
    const uint8_t *p;
    uint8_t ver;
    uint32_t env_len;
    mv_rd r;
    mv_group_block b;
    if (!what)
        what = &dummy;
    *what = "";
    if (!in || !c)
        return MV_ERR_INVAL;
    memset(c, 0, sizeof *c);
    c->with_tokens = with_tokens ? 1 : 0;
    mv_rd_init(&r, in, len);
    if (mv_rd_bytes(&r, 4, &p) || memcmp(p, with_tokens ? MAGIC_CONTENT : MAGIC_ANSWER, 4) != 0 ||
        mv_rd_u8(&r, &ver) || ver != MV_GROUP_FRAME_VERSION) {
        *what = with_tokens ? "the payload is not an MVGC frame" : "not an MVGR frame";
        return MV_ERR_PARSE;
    }
    uint16_t sig_len;
    if (!with_tokens && (mv_rd_u64(&r, &c->version) || mv_rd_u64(&r, &c->epoch) || mv_rd_u64(&r, &c->modified) ||
                         mv_rd_u64(&r, &c->owner_epoch) || mv_rd_bytes(&r, MV_GROUP_OP_MSG_BYTES, &c->owner_msg) ||
                         mv_rd_u16(&r, &sig_len) || sig_len == 0 || sig_len > MV_RING_SIG_MAX_BYTES ||
                         mv_rd_bytes(&r, sig_len, &c->owner_sig))) {
        *what = "truncated header";
        return MV_ERR_PARSE;
    }
    if (!with_tokens) {
        c->owner_msg_len = MV_GROUP_OP_MSG_BYTES;
        c->owner_sig_len = sig_len;
    }
    if (mv_rd_u32(&r, &env_len) || (env_len == 0 && with_tokens) || env_len > MV_STORE_MAX_ENVELOPE ||
        mv_rd_bytes(&r, env_len, &c->envelope)) {
        *what = "bad envelope length";
        return MV_ERR_PARSE;
    }
    c->envelope_len = env_len;
    if (mv_rd_u32(&r, &c->n_blocks) || c->n_blocks > MV_GROUP_MAX_BLOCKS || (env_len == 0 && c->n_blocks)) {
        *what = "bad block count";
        return MV_ERR_PARSE;
    }
    c->items = r.p;
    for (uint32_t i = 0; i < c->n_blocks; i++)
        if (read_block(&r, c->with_tokens, &b, what))
            return MV_ERR_PARSE;
    if (r.left) {
        *what = "trailing bytes";
        return MV_ERR_PARSE;
    }
    c->items_len = (size_t)(r.p - c->items);
    return MV_OK;
}

int mv_group_blocks_next(mv_group_content *c, mv_group_block *b)
{
    const char *what;
    mv_rd r;
    if (!c || !b || c->items_len == 0)
        return 0;
    mv_rd_init(&r, c->items, c->items_len);
    if (read_block(&r, c->with_tokens, b, &what))
        return 0; /* cannot happen after a successful decode */
    c->items = r.p;
    c->items_len = r.left;
    return 1;
}
