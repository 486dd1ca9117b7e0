/* group_case.c - the case, partial and opening files of tracing (mv_group_case.h). Every
 * binary field is lowercase hex; every file carries "v": 1. */
#include "medvault/mv_group_case.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define ROSTER_MAX_BYTES (106u + 32u * MV_RING_MAX_OPENERS + 32u * MV_RING_MAX_MEMBERS + 64u)
#define FILE_VERSION 1u

static mv_json *parse(const char *text, size_t len, size_t max)
{
    mv_json_limits lim = {.max_bytes = max, .max_depth = 4, .max_nodes = 64};
    mv_json *j = NULL;
    if (!text || mv_json_parse(text, len, &lim, &j, NULL) != MV_OK)
        return NULL;
    uint64_t v = 0;
    if (mv_json_type_of(j) != MV_JSON_OBJECT || mv_json_get_u64(j, "v", &v) != MV_OK || v != FILE_VERSION) {
        mv_json_free(j);
        return NULL;
    }
    return j;
}

/* obj[key] as hex of at most cap bytes into a new buffer. */
static mv_err get_hex_alloc(const mv_json *obj, const char *key, size_t cap, uint8_t **out, size_t *n)
{
    size_t len = 0;
    const char *s = mv_json_get_str(obj, key, &len);
    *out = NULL;
    *n = 0;
    if (!s || len % 2 || len == 0)
        return MV_ERR_PARSE;
    if (len / 2 > cap)
        return MV_ERR_TOO_LARGE;
    if (!(*out = mv_malloc(len / 2)))
        return MV_ERR_NOMEM;
    if (mv_hex_decode_exact(*out, len / 2, s, len) != MV_OK) {
        mv_free(*out);
        *out = NULL;
        return MV_ERR_PARSE;
    }
    *n = len / 2;
    return MV_OK;
}

mv_err mv_group_case_write(const uint8_t group_id[static MV_RING_GROUP_ID_BYTES],
                           const uint8_t record_id[static 16], uint64_t version, const uint8_t *roster,
                           size_t roster_len, const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
                           mv_buf *out)
{
    mv_jw w;
    if (!group_id || !record_id || !roster || !msg || !sig || !out)
        return MV_ERR_INVAL;
    mv_jw_init(&w, out);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "v", FILE_VERSION);
    mv_jw_khex(&w, "group", group_id, MV_RING_GROUP_ID_BYTES);
    mv_jw_khex(&w, "record", record_id, 16);
    mv_jw_ku64(&w, "version", version);
    mv_jw_khex(&w, "roster", roster, roster_len);
    mv_jw_khex(&w, "msg", msg, msg_len);
    mv_jw_khex(&w, "sig", sig, sig_len);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

void mv_group_case_clear(mv_group_case *c)
{
    if (!c)
        return;
    mv_roster_clear(&c->roster);
    mv_free(c->msg);
    mv_free(c->sig);
    mv_free(c->roster_bytes);
    memset(c, 0, sizeof *c);
}

mv_err mv_group_case_parse(const char *text, size_t len, const uint8_t hospital_pk[static 32], mv_group_case *out,
                           const char **why)
{
    const char *reason = "not a case file (JSON with \"v\": 1)";
    mv_err rc = MV_ERR_PARSE;
    uint64_t epoch = 0;
    if (!out || !hospital_pk)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (len > MV_GROUP_CASE_MAX_BYTES) {
        if (why)
            *why = "the case file is too large";
        return MV_ERR_TOO_LARGE;
    }
    mv_json *j = parse(text, len, MV_GROUP_CASE_MAX_BYTES);
    if (!j)
        goto out;
    reason = "the case file's group, record or version is missing or malformed";
    if (mv_json_get_hex(j, "group", out->group_id, sizeof out->group_id) != MV_OK ||
        mv_json_get_hex(j, "record", out->record_id, sizeof out->record_id) != MV_OK ||
        mv_json_get_u64(j, "version", &out->version) != MV_OK)
        goto out;
    reason = "the case file's roster, msg or sig is missing, malformed or too large";
    if ((rc = get_hex_alloc(j, "roster", ROSTER_MAX_BYTES, &out->roster_bytes, &out->roster_len)) != MV_OK ||
        (rc = get_hex_alloc(j, "msg", MV_GROUP_CASE_MAX_MSG, &out->msg, &out->msg_len)) != MV_OK ||
        (rc = get_hex_alloc(j, "sig", MV_RING_SIG_MAX_BYTES, &out->sig, &out->sig_len)) != MV_OK)
        goto out;
    reason = "the roster does not verify under this hospital's key";
    if ((rc = mv_roster_verify(out->roster_bytes, out->roster_len, hospital_pk, &out->roster)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    reason = "the roster is of another group than the case";
    if (memcmp(out->roster.group_id, out->group_id, sizeof out->group_id) != 0)
        goto out;
    reason = "the signature is malformed or of another epoch than the roster";
    if (mv_ring_sig_epoch(out->sig, out->sig_len, &epoch) != MV_OK || epoch != out->roster.epoch)
        goto out;
    reason = "the signed message is not a group operation of this case's group, epoch, record and version";
    if (mv_group_op_parse(out->msg, out->msg_len, &out->op) != MV_OK ||
        memcmp(out->op.group_id, out->group_id, sizeof out->group_id) != 0 || out->op.epoch != epoch ||
        memcmp(out->op.record_id, out->record_id, sizeof out->record_id) != 0 || out->op.version != out->version)
        goto out;
    if ((rc = mv_roster_ring(&out->roster, &out->ring)) != MV_OK)
        goto out;
    /* Nobody is asked to open a signature that does not verify: its ciphertext could be
     * another operation's, spliced in to have it opened under this case's name. */
    reason = "the ring signature does not verify over the case's message under its roster";
    if ((rc = mv_ring_verify(&out->ring, out->msg, out->msg_len, out->sig, out->sig_len)) != MV_OK)
        goto out;
    crypto_hash_sha256(out->sig_sha256, out->sig, out->sig_len);
    reason = NULL;
    rc = MV_OK;
out:
    mv_json_free(j);
    if (rc != MV_OK) {
        mv_group_case_clear(out);
    }
    if (why)
        *why = reason;
    return rc;
}

mv_err mv_group_case_partial(const mv_group_case *c, uint8_t share_index, const uint8_t dk_i[static 32], mv_buf *out)
{
    uint8_t part[MV_RING_PARTIAL_BYTES];
    mv_jw w;
    if (!c || !dk_i || !out)
        return MV_ERR_INVAL;
    mv_err rc = mv_ring_open_partial(&c->ring, c->sig, c->sig_len, share_index, dk_i, NULL, part);
    if (rc != MV_OK)
        return rc;
    mv_jw_init(&w, out);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "v", FILE_VERSION);
    mv_jw_khex(&w, "sig_sha256", c->sig_sha256, 32);
    mv_jw_ku64(&w, "share", share_index);
    mv_jw_khex(&w, "partial", part, sizeof part);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* The partial of one partial file, checked to belong to this case. */
static mv_err partial_of(const mv_group_case *c, const char *text, size_t len, uint8_t part[MV_RING_PARTIAL_BYTES])
{
    uint8_t h[32];
    mv_json *j = parse(text, len, 4096);
    mv_err rc = MV_ERR_PARSE;
    if (j && mv_json_get_hex(j, "sig_sha256", h, sizeof h) == MV_OK && sodium_memcmp(h, c->sig_sha256, 32) == 0 &&
        mv_json_get_hex(j, "partial", part, MV_RING_PARTIAL_BYTES) == MV_OK)
        rc = MV_OK;
    mv_json_free(j);
    return rc;
}

mv_err mv_group_case_open(const mv_group_case *c, const char *const *partials, const size_t *lens, size_t count,
                          uint32_t *member_index, uint8_t *bad_share, mv_buf *out)
{
    uint8_t parts[MV_RING_MAX_OPENERS * MV_RING_PARTIAL_BYTES];
    mv_buf op;
    mv_jw w;
    mv_err rc;
    if (!c || (!partials && count) || (!lens && count) || !member_index || !out)
        return MV_ERR_INVAL;
    if (count > MV_RING_MAX_OPENERS)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < count; i++)
        if ((rc = partial_of(c, partials[i], lens[i], parts + MV_RING_PARTIAL_BYTES * i)) != MV_OK)
            return rc;
    mv_buf_init(&op, 4096);
    rc = mv_ring_open_combine(&c->ring, c->sig, c->sig_len, parts, count, member_index, bad_share, &op);
    if (rc == MV_OK) {
        mv_jw_init(&w, out);
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "v", FILE_VERSION);
        mv_jw_khex(&w, "sig_sha256", c->sig_sha256, 32);
        mv_jw_ku64(&w, "member_index", *member_index);
        mv_jw_khex(&w, "member_key", op.ptr + 8, 32);
        mv_jw_khex(&w, "opening", op.ptr, op.len);
        mv_jw_obj_end(&w);
        rc = mv_jw_finish(&w);
    }
    mv_buf_clear(&op);
    return rc;
}

mv_err mv_group_case_judge(const mv_group_case *c, const char *opening, size_t len, uint32_t *member_index,
                           uint8_t member_key[static 32])
{
    uint8_t h[32], *op = NULL;
    size_t op_len = 0;
    mv_err rc = MV_ERR_PARSE;
    if (!c || !member_index || !member_key)
        return MV_ERR_INVAL;
    mv_json *j = parse(opening, len, 16384);
    if (!j || mv_json_get_hex(j, "sig_sha256", h, sizeof h) != MV_OK || sodium_memcmp(h, c->sig_sha256, 32) != 0 ||
        get_hex_alloc(j, "opening", MV_RING_OPENING_BYTES(MV_RING_MAX_OPENERS), &op, &op_len) != MV_OK)
        goto out;
    /* The summary fields are for people; the judge decides on the opening bytes alone. */
    rc = mv_ring_judge(&c->ring, c->msg, c->msg_len, c->sig, c->sig_len, op, op_len, member_index);
    if (rc == MV_OK)
        memcpy(member_key, op + 8, 32);
out:
    mv_free(op);
    mv_json_free(j);
    return rc;
}
