/* storage_group_records.c - group records: every version keeps the ring signature that
 * authorised it and the message it signed, durably, so the manager can trace any write; the
 * content goes through the store like any record, its blocks under the group's own dedup
 * partition, so identical blocks of one group are stored once.
 *
 * On disk: groups/<g hex>/<record id hex> is the record's history (MVGH, below), replaced
 * atomically (mv_file_write_atomic: written, fsynced, renamed, directory fsynced) before an
 * operation is acknowledged. Version v's content is the store record
 * SHA-256("medvault group version v1" || g || id || u64be(v))[0..16], owned by the group's
 * pseudonymous store principal SHA-256("medvault group store owner v1" || g) in department
 * "g-<g hex>". The history is the truth: a content record stored before a crash whose history
 * was never written is replaced by the retried operation.
 *
 * MVGH (integers little-endian): "MVGH", u8 format (1), u32 entry count, then per entry:
 * u8 kind, u64 version, u64 epoch, u64 time, u64 size, u16 msg_len, msg, u16 sig_len, sig,
 * u8 link flag (0/1), link proof (96 bytes if 1). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/endian.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "storage_groups.h"

#define HIST_FORMAT 1
static const uint8_t HIST_MAGIC[4] = {'M', 'V', 'G', 'H'};

/* ---------- names ---------- */

static mv_err group_dir(storage_srv *s, const uint8_t g[16], char *out, size_t cap)
{
    char groups[4096], ghex[33];
    mv_err rc = mv_path_join(groups, sizeof groups, s->cfg->dir, "groups");
    if (rc == MV_OK)
        rc = mv_hex_encode(ghex, sizeof ghex, g, 16);
    if (rc == MV_OK)
        rc = mv_path_join(out, cap, groups, ghex);
    return rc;
}

static mv_err history_path(storage_srv *s, const uint8_t g[16], const uint8_t id[16], char *out, size_t cap)
{
    char dir[4096], idhex[33];
    mv_err rc = group_dir(s, g, dir, sizeof dir);
    if (rc == MV_OK)
        rc = mv_hex_encode(idhex, sizeof idhex, id, 16);
    if (rc == MV_OK)
        rc = mv_path_join(out, cap, dir, idhex);
    return rc;
}

static void group_dept(const uint8_t g[16], char out[MV_STORE_DEPT_MAX + 1])
{
    char ghex[33];
    if (mv_hex_encode(ghex, sizeof ghex, g, 16) != MV_OK)
        ghex[0] = 0;
    snprintf(out, MV_STORE_DEPT_MAX + 1, "g-%s", ghex);
}

static mv_err group_owner(const uint8_t g[16], uint8_t out[32])
{
    static const char tag[] = "medvault group store owner v1";
    uint8_t in[sizeof tag - 1 + 16];
    memcpy(in, tag, sizeof tag - 1);
    memcpy(in + sizeof tag - 1, g, 16);
    return mv_sha256(out, in, sizeof in);
}

static mv_err version_store_id(const uint8_t g[16], const uint8_t id[16], uint64_t v, uint8_t out[16])
{
    static const char tag[] = "medvault group version v1";
    uint8_t in[sizeof tag - 1 + 16 + 16 + 8], h[32];
    memcpy(in, tag, sizeof tag - 1);
    memcpy(in + sizeof tag - 1, g, 16);
    memcpy(in + sizeof tag - 1 + 16, id, 16);
    mv_be64_put(in + sizeof tag - 1 + 32, v);
    mv_err rc = mv_sha256(h, in, sizeof in);
    memcpy(out, h, 16);
    return rc;
}

/* ---------- the history file ---------- */

void group_history_free(group_history *h)
{
    if (!h)
        return;
    mv_buf_clear(&h->raw);
    mv_free(h);
}

int group_history_deleted(const group_history *h)
{
    uint8_t k = h->n ? h->e[h->n - 1].kind : 0;
    return k == MV_GROUP_OP_DELETE || k == GROUP_ENTRY_ADMIN_DELETE;
}

static mv_err history_parse(group_history *h)
{
    const uint8_t *p;
    uint8_t fmt, flag;
    uint32_t n;
    uint16_t l;
    mv_rd r;
    mv_rd_init(&r, h->raw.ptr, h->raw.len);
    if (mv_rd_bytes(&r, 4, &p) || memcmp(p, HIST_MAGIC, 4) != 0 || mv_rd_u8(&r, &fmt) || fmt != HIST_FORMAT ||
        mv_rd_u32(&r, &n) || n == 0 || n > GROUP_MAX_VERSIONS)
        return MV_ERR_PARSE;
    for (uint32_t i = 0; i < n; i++) {
        group_entry *e = &h->e[i];
        memset(e, 0, sizeof *e);
        if (mv_rd_u8(&r, &e->kind) || mv_rd_u64(&r, &e->version) || mv_rd_u64(&r, &e->epoch) ||
            mv_rd_u64(&r, &e->time) || mv_rd_u64(&r, &e->size) || mv_rd_u16(&r, &l) || mv_rd_bytes(&r, l, &e->msg))
            return MV_ERR_PARSE;
        e->msg_len = l;
        if (mv_rd_u16(&r, &l) || mv_rd_bytes(&r, l, &e->sig) || mv_rd_u8(&r, &flag) || flag > 1 ||
            (flag && mv_rd_bytes(&r, MV_RING_LINK_BYTES, &e->link)))
            return MV_ERR_PARSE;
        e->sig_len = l;
        if (e->msg_len == 0)
            e->msg = NULL;
        if (e->version != (uint64_t)i + 1)
            return MV_ERR_PARSE;
    }
    h->n = n;
    return r.left ? MV_ERR_PARSE : MV_OK;
}

mv_err group_history_load(storage_srv *s, const uint8_t g[16], const uint8_t id[16], group_history **out)
{
    char path[4096];
    group_history *h = mv_calloc(1, sizeof *h);
    mv_err rc;
    *out = NULL;
    if (!h)
        return MV_ERR_NOMEM;
    mv_buf_init(&h->raw, GROUP_HISTORY_MAX);
    if ((rc = history_path(s, g, id, path, sizeof path)) == MV_OK && (rc = mv_file_read(path, GROUP_HISTORY_MAX, &h->raw)) == MV_OK)
        rc = history_parse(h);
    if (rc == MV_ERR_PARSE)
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "a group record's history file is damaged");
    if (rc != MV_OK) {
        group_history_free(h);
        return rc;
    }
    *out = h;
    return MV_OK;
}

static mv_err put_entry(mv_buf *b, const group_entry *e)
{
    uint8_t hdr[1 + 8 * 4 + 2], flag = e->link ? 1 : 0, l2[2];
    hdr[0] = e->kind;
    mv_le_put(hdr + 1, e->version, 8);
    mv_le_put(hdr + 9, e->epoch, 8);
    mv_le_put(hdr + 17, e->time, 8);
    mv_le_put(hdr + 25, e->size, 8);
    mv_le_put(hdr + 33, e->msg_len, 2);
    mv_le_put(l2, e->sig_len, 2);
    mv_err rc = mv_buf_append(b, hdr, sizeof hdr);
    if (rc == MV_OK && e->msg_len)
        rc = mv_buf_append(b, e->msg, e->msg_len);
    if (rc == MV_OK)
        rc = mv_buf_append(b, l2, 2);
    if (rc == MV_OK)
        rc = mv_buf_append(b, e->sig, e->sig_len);
    if (rc == MV_OK)
        rc = mv_buf_append(b, &flag, 1);
    if (rc == MV_OK && e->link)
        rc = mv_buf_append(b, e->link, MV_RING_LINK_BYTES);
    return rc;
}

/* Writes the history h (may be NULL: none yet) with e appended, durably. */
static mv_err history_append(storage_srv *s, const uint8_t g[16], const uint8_t id[16], const group_history *h,
                             const group_entry *e)
{
    char dir[4096], path[4096];
    uint8_t hdr[9];
    size_t n = h ? h->n : 0;
    mv_buf b;
    mv_err rc;
    if (n + 1 > GROUP_MAX_VERSIONS)
        return MV_ERR_TOO_LARGE;
    mv_buf_init(&b, GROUP_HISTORY_MAX);
    memcpy(hdr, HIST_MAGIC, 4);
    hdr[4] = HIST_FORMAT;
    mv_le_put(hdr + 5, n + 1, 4);
    rc = mv_buf_append(&b, hdr, sizeof hdr);
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = put_entry(&b, &h->e[i]);
    if (rc == MV_OK)
        rc = put_entry(&b, e);
    if (rc == MV_OK && (rc = group_dir(s, g, dir, sizeof dir)) == MV_OK && (rc = mv_file_mkdir(dir, 0700)) == MV_OK &&
        (rc = history_path(s, g, id, path, sizeof path)) == MV_OK)
        rc = mv_file_write_atomic(path, b.ptr, b.len, 0600);
    mv_buf_clear(&b);
    return rc;
}

/* ---------- put and modify ---------- */

static int tag_seen(const uint8_t *tags, size_t n, const uint8_t *tag)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(tags + 32 * i, tag, 32) == 0)
            return 1;
    return 0;
}

/* Stores content as version v's store record (blocks first, then the record), replacing a
 * content record left by an operation that crashed before its history was written. A
 * referenced block (sent without data) must be one the group holds: its token maps to its tag
 * in the group's partition, so only a block some member uploaded to this group can be named
 * (a tag alone, of a block of another department, names nothing). Otherwise MV_ERR_NOT_FOUND
 * with the positions of such blocks in missing[0..*n_missing) (n_blocks entries). */
static mv_err store_version(storage_srv *s, const uint8_t g[16], const uint8_t id[16], uint64_t v,
                            const mv_group_content *content, uint64_t *size, uint32_t *missing, size_t *n_missing,
                            uint64_t *n_refs)
{
    char dept[MV_STORE_DEPT_MAX + 1];
    uint8_t owner[32];
    mv_store_block_in *in = NULL;
    uint8_t *tags = NULL;
    size_t n = 0, n_tags = 0;
    mv_group_content c = *content;
    mv_group_block b;
    mv_err rc, result = MV_OK;
    group_dept(g, dept);
    *size = content->envelope_len;
    if ((rc = group_owner(g, owner)) != MV_OK)
        goto out;
    if (c.n_blocks && (!(in = mv_calloc(c.n_blocks, sizeof *in)) || !(tags = mv_calloc(c.n_blocks, 32)))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    *n_missing = 0;
    *n_refs = 0;
    for (uint32_t k = 0; mv_group_blocks_next(&c, &b); k++) {
        uint64_t len = b.len;
        if (!b.data) {
            uint8_t held[32];
            mv_err lr = mv_store_token_lookup(s->store, dept, b.token, held);
            if (lr == MV_OK && memcmp(held, b.tag, 32) == 0)
                lr = mv_store_block_info(s->store, b.tag, &len, NULL);
            else if (lr == MV_OK)
                lr = MV_ERR_NOT_FOUND;
            if (lr == MV_ERR_NOT_FOUND) {
                missing[(*n_missing)++] = k;
                continue;
            }
            if ((rc = lr) != MV_OK)
                goto out;
            (*n_refs)++;
        }
        in[n].dept = dept;
        memcpy(in[n].token, b.token, 32);
        memcpy(in[n].tag, b.tag, 32);
        in[n].data = b.data; /* NULL: a claim on the block the group holds */
        in[n].len = b.len;
        memcpy(in[n].claimant, owner, 32);
        *size += len;
        if (!tag_seen(tags, n_tags, b.tag))
            memcpy(tags + 32 * n_tags++, b.tag, 32);
        n++;
    }
    if (*n_missing) {
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if (n && (rc = mv_store_put_blocks(s->store, in, n, NULL)) != MV_OK)
        goto out;
    mv_store_record_in rec = {.dept = dept, .tags = tags, .n_tags = n_tags, .envelope = content->envelope,
                              .envelope_len = content->envelope_len};
    memcpy(rec.owner, owner, 32);
    if ((rc = version_store_id(g, id, v, rec.id)) != MV_OK)
        goto out;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = mv_store_put_records(s->store, &rec, 1, &result, (uint64_t)time(NULL))) != MV_OK)
            goto out;
        if (result != MV_ERR_EXISTS || attempt)
            break;
        if ((rc = mv_store_record_delete(s->store, rec.id)) != MV_OK)
            goto out;
    }
    rc = result;
out:
    mv_free(in);
    mv_free(tags);
    return rc;
}

static void answer_version(mv_http_response *resp, int status, const uint8_t id[16], uint64_t v)
{
    char idhex[33];
    if (mv_hex_encode(idhex, sizeof idhex, id, 16) != MV_OK)
        idhex[0] = 0;
    mv_http_respond_fmt(resp, status, "{\"id\":\"%s\",\"version\":%llu}", idhex, (unsigned long long)v);
}

/* Drops the content of every version of a deleted record (the signatures stay in the
 * history). Idempotent: a delete of a record already deleted calls it again, so content left
 * by a crash between the history write and this is dropped then; a failure is logged. */
static void drop_versions(storage_srv *s, const uint8_t g[16], const uint8_t id[16], const group_history *h)
{
    for (size_t i = 0; i < h->n; i++) {
        uint8_t sid[16];
        if (h->e[i].kind != MV_GROUP_OP_PUT && h->e[i].kind != MV_GROUP_OP_MODIFY)
            continue;
        mv_err rc = version_store_id(g, id, h->e[i].version, sid);
        if (rc == MV_OK)
            rc = mv_store_record_delete(s->store, sid);
        if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot drop a deleted group record's content: %s",
                   mv_strerror(rc));
    }
}

/* 409 {"error":...,"missing":[k...]}: the positions of referenced blocks the group does not
 * hold, whose data the member sends again. */
static void answer_missing(mv_http_response *resp, const uint32_t *missing, size_t n)
{
    mv_buf b;
    mv_jw w;
    mv_buf_init(&b, n * 12 + 128);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "error", "missing blocks: the group does not hold these; send their data");
    mv_jw_key(&w, "missing");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        mv_jw_u64(&w, missing[i]);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 409, &b);
    mv_buf_clear(&b);
}

void group_records_write(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, const uint8_t *msg,
                         const mv_group_content *content, mv_http_response *resp)
{
    group_history *h = NULL;
    uint64_t size = 0, n_refs = 0;
    uint32_t *missing = NULL;
    size_t n_missing = 0;
    const char *outcome = "error";
    storage_groups_lock(s);
    mv_err rc = group_history_load(s, g, f->record_id, &h);
    if (f->op == MV_GROUP_OP_PUT) {
        if (rc == MV_OK || f->version != 1) {
            mv_http_respond_json_error(resp, 409, rc == MV_OK ? "a group record with this id exists" :
                                                                "a put creates version 1");
            outcome = "conflict";
            goto out;
        }
    } else if (rc == MV_OK && group_history_deleted(h)) {
        mv_http_respond_json_error(resp, 410, "the group record was deleted");
        outcome = "gone";
        goto out;
    } else if (rc == MV_OK && f->version != h->n + 1) {
        mv_http_respond_fmt(resp, 409, "{\"error\":\"version conflict: the next version is %llu\",\"next\":%llu}",
                            (unsigned long long)(h->n + 1), (unsigned long long)(h->n + 1));
        outcome = "conflict";
        goto out;
    }
    if (rc != MV_OK && rc != MV_ERR_NOT_FOUND) {
        storage_respond_store_error(resp, rc, "group history read");
        goto out;
    }
    if (rc == MV_ERR_NOT_FOUND && f->op == MV_GROUP_OP_MODIFY) {
        mv_http_respond_json_error(resp, 404, "no such group record");
        outcome = "not_found";
        goto out;
    }
    if (content->n_blocks && !(missing = mv_calloc(content->n_blocks, sizeof *missing))) {
        storage_respond_store_error(resp, MV_ERR_NOMEM, "group content store");
        goto out;
    }
    if ((rc = store_version(s, g, f->record_id, f->version, content, &size, missing, &n_missing, &n_refs)) != MV_OK) {
        if (rc == MV_ERR_NOT_FOUND && n_missing) {
            answer_missing(resp, missing, n_missing);
            outcome = "missing_blocks";
        } else if (rc == MV_ERR_NOT_FOUND) {
            /* A referenced block was collected between the look-up and the claim. */
            mv_http_respond_json_error(resp, 409, "a referenced block is gone: send the data of every block");
            outcome = "missing_blocks";
        } else if (rc == MV_ERR_VERIFY) {
            mv_http_respond_json_error(resp, 400, "a block's tag is not the SHA-256 of its data, or a token maps "
                                                  "to another block in this group");
            outcome = "malformed";
        } else {
            storage_respond_store_error(resp, rc, "group content store");
        }
        goto out;
    }
    group_entry e = {.kind = f->op, .version = f->version, .epoch = f->epoch, .time = (uint64_t)time(NULL),
                     .size = size, .msg = msg, .msg_len = MV_GROUP_OP_MSG_BYTES, .sig = f->sig, .sig_len = f->sig_len};
    if ((rc = history_append(s, g, f->record_id, h, &e)) != MV_OK) {
        if (rc == MV_ERR_TOO_LARGE) {
            mv_http_respond_json_error(resp, 413, "the record has reached its maximum number of versions");
            outcome = "conflict";
        } else {
            storage_respond_store_error(resp, rc, "group history write");
        }
        goto out;
    }
    answer_version(resp, f->op == MV_GROUP_OP_PUT ? 201 : 200, f->record_id, f->version);
    outcome = "ok";
    storage_count(s, "medvault_storage_group_blocks_total", "Blocks of group versions by how they arrived",
                  "kind=\"uploaded\"", content->n_blocks - n_refs);
    storage_count(s, "medvault_storage_group_blocks_total", "Blocks of group versions by how they arrived",
                  "kind=\"referenced\"", n_refs);
out:
    storage_groups_unlock(s);
    mv_free(missing);
    group_history_free(h);
    storage_groups_count(s, f->op, outcome);
}

/* ---------- delete ---------- */

/* Appends the delete entry e and drops every version's content. Caller holds the lock; answers. */
static const char *delete_locked(storage_srv *s, const uint8_t g[16], const uint8_t id[16], const group_history *h,
                                 const group_entry *e, mv_http_response *resp)
{
    mv_err rc = history_append(s, g, id, h, e);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "group history write");
        return "error";
    }
    drop_versions(s, g, id, h);
    answer_version(resp, 200, id, e->version);
    return "ok";
}

void group_records_delete(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, const uint8_t *msg,
                          mv_http_response *resp)
{
    group_history *h = NULL;
    const char *outcome = "error";
    mv_err rc = group_history_load(s, g, f->record_id, &h);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such group record");
        outcome = "not_found";
        goto out;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "group history read");
        goto out;
    }
    /* Version 1's entry never changes: its link proof is checked before taking the lock
     * (it fetches a past roster from the hospital). */
    rc = storage_groups_link_check(s, g, &h->e[0], msg, MV_GROUP_OP_MSG_BYTES, f->link);
    if (rc == MV_ERR_AUTH) {
        mv_http_respond_json_error(resp, 403, "only the record's owner (who signed version 1) or the group's manager "
                                              "may delete it");
        outcome = "forbidden";
        goto out;
    }
    if (rc != MV_OK) {
        mv_http_respond_json_error(resp, 503, "the roster of version 1 is unavailable; retry");
        outcome = "roster_unavailable";
        goto out;
    }
    group_history_free(h);
    h = NULL;
    storage_groups_lock(s);
    if ((rc = group_history_load(s, g, f->record_id, &h)) != MV_OK) {
        storage_respond_store_error(resp, rc, "group history read");
    } else if (group_history_deleted(h)) {
        drop_versions(s, g, f->record_id, h); /* what a crash after the delete's history write left */
        mv_http_respond_json_error(resp, 410, "the group record was deleted");
        outcome = "gone";
    } else if (f->version != h->n + 1) {
        mv_http_respond_fmt(resp, 409, "{\"error\":\"version conflict: the next version is %llu\",\"next\":%llu}",
                            (unsigned long long)(h->n + 1), (unsigned long long)(h->n + 1));
        outcome = "conflict";
    } else {
        group_entry e = {.kind = MV_GROUP_OP_DELETE, .version = f->version, .epoch = f->epoch,
                         .time = (uint64_t)time(NULL), .msg = msg, .msg_len = MV_GROUP_OP_MSG_BYTES, .sig = f->sig,
                         .sig_len = f->sig_len, .link = f->link};
        outcome = delete_locked(s, g, f->record_id, h, &e, resp);
    }
    storage_groups_unlock(s);
out:
    group_history_free(h);
    storage_groups_count(s, MV_GROUP_OP_DELETE, outcome);
}

void group_records_admin_delete(storage_srv *s, const mv_credential *cred, const uint8_t g[16], const uint8_t id[16],
                                mv_http_response *resp)
{
    group_history *h = NULL;
    const char *outcome = "forbidden";
    if (!mv_credential_has_role(cred, MV_ROLE_ADMIN)) {
        mv_http_respond_json_error(resp, 403, "only the group's manager (an admin) may delete other members' records");
        goto out;
    }
    storage_groups_lock(s);
    mv_err rc = group_history_load(s, g, id, &h);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such group record");
        outcome = "not_found";
    } else if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "group history read");
        outcome = "error";
    } else if (group_history_deleted(h)) {
        drop_versions(s, g, id, h); /* what a crash after the delete's history write left */
        mv_http_respond_json_error(resp, 410, "the group record was deleted");
        outcome = "gone";
    } else {
        /* The manager is not anonymous: her key stands where a ring signature would. */
        group_entry e = {.kind = GROUP_ENTRY_ADMIN_DELETE, .version = h->n + 1, .time = (uint64_t)time(NULL),
                         .sig = cred->subject, .sig_len = 32};
        outcome = delete_locked(s, g, id, h, &e, resp);
    }
    storage_groups_unlock(s);
out:
    group_history_free(h);
    storage_groups_count(s, GROUP_ENTRY_ADMIN_DELETE, outcome);
}

/* ---------- read, list, history ---------- */

void group_records_read(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, mv_http_response *resp)
{
    group_history *h = NULL;
    mv_store_record_info info;
    mv_buf env;
    uint8_t sid[16], *tags = NULL;
    size_t n_tags = 0;
    const char *outcome = "error";
    mv_buf_init(&env, MV_STORE_MAX_ENVELOPE);
    /* Under the lock: a concurrent delete drops the version this read is about to serve. */
    storage_groups_lock(s);
    mv_err rc = group_history_load(s, g, f->record_id, &h);
    if (rc == MV_ERR_NOT_FOUND || (rc == MV_OK && group_history_deleted(h))) {
        mv_http_respond_json_error(resp, rc == MV_OK ? 410 : 404,
                                   rc == MV_OK ? "the group record was deleted" : "no such group record");
        outcome = rc == MV_OK ? "gone" : "not_found";
        goto out;
    }
    const group_entry *last = rc == MV_OK ? &h->e[h->n - 1] : NULL;
    int head = f->version == MV_GROUP_READ_HEAD;
    if (rc == MV_OK && f->version > MV_GROUP_READ_VERSION) {
        /* An earlier version: every version's content is kept until the record is deleted. */
        uint64_t v = f->version - MV_GROUP_READ_VERSION;
        if (v > h->n) {
            mv_http_respond_json_error(resp, 404, "no such version of the group record");
            outcome = "not_found";
            goto out;
        }
        last = &h->e[v - 1];
    }
    if (rc == MV_OK && !head && (rc = version_store_id(g, f->record_id, last->version, sid)) == MV_OK &&
        (rc = mv_store_record_get(s->store, sid, &info, &env)) == MV_OK &&
        ((rc = mv_store_record_tags(s->store, sid, NULL, 0, &n_tags)) == MV_OK || rc == MV_ERR_TOO_LARGE) &&
        n_tags) {
        if (!(tags = mv_calloc(n_tags, 32)))
            rc = MV_ERR_NOMEM;
        else
            rc = mv_store_record_tags(s->store, sid, tags, n_tags, &n_tags);
    }
    if (rc == MV_OK)
        rc = mv_group_answer_begin(&resp->body,
                                   &(mv_group_content){.version = last->version, .epoch = last->epoch,
                                                       .modified = last->time, .owner_epoch = h->e[0].epoch,
                                                       .owner_msg = h->e[0].msg, .owner_msg_len = h->e[0].msg_len,
                                                       .owner_sig = h->e[0].sig, .owner_sig_len = h->e[0].sig_len},
                                   env.ptr, env.len, (uint32_t)n_tags);
    for (size_t i = 0; i < n_tags && rc == MV_OK; i++) {
        size_t at = resp->body.len;
        uint8_t hdr[36];
        /* The block goes straight into the answer after its tag and a length patched in. */
        memcpy(hdr, tags + 32 * i, 32);
        if ((rc = mv_buf_append(&resp->body, hdr, 36)) == MV_OK &&
            (rc = mv_store_block_read(s->store, tags + 32 * i, &resp->body)) == MV_OK)
            mv_le_put(resp->body.ptr + at + 32, resp->body.len - at - 36, 4);
    }
    if (rc != MV_OK) {
        mv_buf_reset(&resp->body);
        storage_respond_octets(resp, rc, "the record is too large to answer", "group record read");
        goto out;
    }
    storage_set_type(resp, 200, "application/octet-stream");
    outcome = "ok";
out:
    storage_groups_unlock(s);
    mv_free(tags);
    mv_buf_clear(&env);
    group_history_free(h);
    storage_groups_count(s, MV_GROUP_OP_READ, outcome);
}

void group_records_list(storage_srv *s, const uint8_t g[16], mv_http_response *resp)
{
    char dir[4096];
    mv_buf b;
    mv_jw w;
    DIR *d = NULL;
    size_t n = 0;
    mv_err rc = group_dir(s, g, dir, sizeof dir);
    mv_buf_init(&b, (size_t)GROUP_LIST_MAX * 200 + 64);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "records");
    mv_jw_arr(&w);
    if (rc == MV_OK && (d = opendir(dir)) != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL && n < GROUP_LIST_MAX) {
            uint8_t id[16];
            group_history *h = NULL;
            if (strlen(de->d_name) != 32 || !mv_is_lower_hex(de->d_name, 32) ||
                mv_hex_decode_exact(id, 16, de->d_name, 32) != MV_OK)
                continue; /* temporaries of an atomic write */
            if (group_history_load(s, g, id, &h) != MV_OK || group_history_deleted(h)) {
                group_history_free(h);
                continue;
            }
            const group_entry *last = &h->e[h->n - 1];
            mv_jw_obj(&w);
            mv_jw_khex(&w, "id", id, 16);
            mv_jw_ku64(&w, "version", last->version);
            mv_jw_ku64(&w, "size", last->size);
            mv_jw_ku64(&w, "created", h->e[0].time);
            mv_jw_ku64(&w, "modified", last->time);
            mv_jw_ku64(&w, "epoch", last->epoch);
            mv_jw_obj_end(&w);
            group_history_free(h);
            n++;
        }
        closedir(d);
    }
    mv_jw_arr_end(&w);
    mv_jw_kbool(&w, "truncated", n >= GROUP_LIST_MAX);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 200, &b);
    mv_buf_clear(&b);
    storage_groups_count(s, MV_GROUP_OP_LIST, "ok");
}

static void jw_b64(mv_jw *w, const char *key, const uint8_t *p, size_t n, char *tmp, size_t cap)
{
    if (mv_b64_encode(tmp, cap, p, n) != MV_OK)
        tmp[0] = 0;
    mv_jw_kstr(w, key, tmp);
}

void group_records_history(storage_srv *s, const mv_credential *cred, const uint8_t g[16], const uint8_t id[16],
                           mv_http_response *resp)
{
    group_history *h = NULL;
    char *tmp = NULL;
    size_t tmp_cap = 4 * (MV_RING_SIG_MAX_BYTES / 3 + 2) + 1;
    mv_buf b;
    mv_jw w;
    mv_err rc;
    mv_buf_init(&b, GROUP_HISTORY_MAX * 2);
    if (!mv_credential_has_role(cred, MV_ROLE_ADMIN)) {
        mv_http_respond_json_error(resp, 403, "only the group's manager (an admin) may read a record's history");
        goto out;
    }
    if ((rc = group_history_load(s, g, id, &h)) != MV_OK) {
        if (rc == MV_ERR_NOT_FOUND)
            mv_http_respond_json_error(resp, 404, "no such group record");
        else
            storage_respond_store_error(resp, rc, "group history read");
        goto out;
    }
    if (!(tmp = mv_malloc(tmp_cap))) {
        mv_http_respond_json_error(resp, 503, "storage temporarily unavailable; retry");
        goto out;
    }
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "group", g, 16);
    mv_jw_khex(&w, "id", id, 16);
    mv_jw_kbool(&w, "deleted", group_history_deleted(h));
    mv_jw_key(&w, "versions");
    mv_jw_arr(&w);
    for (size_t i = 0; i < h->n; i++) {
        const group_entry *e = &h->e[i];
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "version", e->version);
        mv_jw_kstr(&w, "op", storage_groups_op_name(e->kind));
        mv_jw_ku64(&w, "epoch", e->epoch);
        mv_jw_ku64(&w, "time", e->time);
        mv_jw_ku64(&w, "size", e->size);
        if (e->kind == GROUP_ENTRY_ADMIN_DELETE) {
            mv_jw_khex(&w, "admin", e->sig, e->sig_len);
        } else {
            jw_b64(&w, "msg", e->msg, e->msg_len, tmp, tmp_cap);
            jw_b64(&w, "sig", e->sig, e->sig_len, tmp, tmp_cap);
        }
        if (e->link)
            jw_b64(&w, "link", e->link, MV_RING_LINK_BYTES, tmp, tmp_cap);
        mv_jw_obj_end(&w);
    }
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 200, &b);
out:
    mv_free(tmp);
    mv_buf_clear(&b);
    group_history_free(h);
}

void storage_handle_group_record(storage_srv *s, const mv_credential *cred, enum storage_route r, const char *arg,
                                 mv_http_response *resp)
{
    uint8_t g[16], id[16];
    if (mv_hex_decode_exact(g, 16, arg, 32) != MV_OK || mv_hex_decode_exact(id, 16, arg + 32 + 9, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the path must name a 32-hex-digit group and record id");
        return;
    }
    if (r == R_GROUP_RECORD_DELETE)
        group_records_admin_delete(s, cred, g, id, resp);
    else
        group_records_history(s, cred, g, id, resp);
}
