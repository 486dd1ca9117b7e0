/* decoy_answers.c - the decoy cloud's answers to the requests the primary forwards, endpoint
 * by endpoint as storage_records.c and storage_blocks.c answer them (the same status codes,
 * the same JSON through the same writers, record_meta.c), with decoys in place of the real
 * envelopes and blocks. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "decoy_server.h"
#include "net/frames.h"
#include "record_meta.h"
#include "storage_internal.h"

static int parse_hex(const char *hex, size_t hex_len, uint8_t *out, size_t n)
{
    return mv_hex_decode_exact(out, n, hex, hex_len) == MV_OK ? 0 : -1;
}

static void record_get(decoy_srv *d, const mv_decoy_forward *f, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    mv_decoy_shape_init(&own);
    if (parse_hex(hex, strlen(hex), id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 32-hex-digit record id");
        return;
    }
    int synth = 0, budget = 1;
    const mv_decoy_shape *s = decoy_find_shape(d, f, id, &own, &synth, &budget);
    mv_buf_reset(&resp->body);
    mv_err rc = s ? decoy_envelope(d, s, synth, NULL, &resp->body) : MV_ERR_NOT_FOUND;
    if (rc == MV_ERR_NOT_FOUND) {
        mv_decoy_shape_clear(&own);
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    if (rc == MV_OK && storage_set_record_headers(resp, s->owner, s->patient, s->episode) != MV_OK)
        rc = MV_ERR_INVAL;
    mv_decoy_shape_clear(&own);
    storage_respond_octets(resp, rc, NULL, "decoy record");
}

static void records_get(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_frame_ids ids;
    mv_frame_fault fault;
    mv_frame_writer w;
    mv_err rc = mv_frame_records_get_decode(f->body, f->body_len, &ids, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_buf_reset(&resp->body);
    mv_frame_records_answer_begin(&w, &resp->body);
    int budget = SYNTH_PER_REQUEST, busy = 0;
    gen_batch batch;
    memset(&batch, 0, sizeof batch);
    mv_mono_deadline(&batch.deadline, GEN_BUDGET_MS);
    for (uint32_t i = 0; i < ids.count && w.rc == MV_OK && !busy; i++) {
        mv_decoy_shape own;
        uint8_t id[16];
        mv_decoy_shape_init(&own);
        memcpy(id, ids.v + 16 * (size_t)i, 16);
        int synth = 0;
        const mv_decoy_shape *s = decoy_find_shape(d, f, id, &own, &synth, &budget);
        mv_frame_answer_open(&w);
        if (!s)
            mv_frame_answer_close(&w, MV_FRAME_RECORD_NOT_FOUND);
        else if (w.rc == MV_OK && (rc = decoy_envelope(d, s, synth, &batch, &resp->body)) == MV_ERR_NOT_FOUND)
            mv_frame_answer_close(&w, MV_FRAME_RECORD_NOT_FOUND); /* no invented decoy now: missing */
        else if (w.rc == MV_OK && rc == MV_ERR_BUSY)
            busy = 1;
        else if (w.rc == MV_OK && rc != MV_OK)
            mv_frame_answer_fail(&w, rc);
        else
            mv_frame_answer_close(&w, MV_FRAME_RECORD_OK);
        mv_decoy_shape_clear(&own);
        if (w.rc == MV_OK && batch.bytes >= GEN_BATCH_BYTES && (rc = decoy_gen_batch_flush(d, &batch)) != MV_OK)
            mv_frame_answer_fail(&w, rc);
    }
    /* Durable before the answer names a tag; also when the answer is 413 (a client asking again
     * for fewer finds these cached, so every round makes progress). */
    mv_err frc = decoy_gen_batch_flush(d, &batch);
    decoy_gen_batch_clear(&batch);
    if (busy) {
        /* The generation budget is spent: as the primary answers a bulk read too large for one
         * answer, so the client asks again for half as many (src/client/get.c). */
        decoy_count(d, "medvault_decoy_bulk_over_budget_total",
                    "Bulk reads answered 413 when their generation budget ran out", NULL, 1);
        mv_http_respond_json_error(resp, 413, "the answer would exceed 256 MiB: ask for fewer records");
        return;
    }
    rc = mv_frame_end(&w);
    if (rc == MV_OK && frc != MV_OK)
        rc = frc;
    storage_respond_octets(resp, rc, "the answer would exceed 256 MiB: ask for fewer records", "record read");
}

static void readers_get(decoy_srv *d, const mv_decoy_forward *f, const char *arg, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    mv_buf b;
    if (strlen(arg) != 32 + 8 || strcmp(arg + 32, "/readers") != 0 || parse_hex(arg, 32, id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must be /v1/records/<32 hex>/readers");
        return;
    }
    mv_decoy_shape_init(&own);
    int synth = 0;
    const mv_decoy_shape *s = decoy_find_shape(d, f, id, &own, &synth, NULL);
    if (!s) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    /* As the primary, with its writer: the ACL starts with the owner, then the patient, then
     * the other readers, among whom a caller who proved its key (a reader of the record) is. */
    mv_store_record_info info;
    storage_info_of_shape(s, &info);
    memcpy(info.readers[info.n_readers++], s->owner, 32);
    if (!sodium_is_zero(s->patient, 32) && memcmp(s->patient, s->owner, 32) != 0)
        memcpy(info.readers[info.n_readers++], s->patient, 32);
    if (!synth && !decoy_unverified(f) && !sodium_is_zero(f->principal, 32) &&
        memcmp(f->principal, s->owner, 32) != 0 && memcmp(f->principal, s->patient, 32) != 0)
        memcpy(info.readers[info.n_readers++], f->principal, 32);
    mv_buf_init(&b, 1u << 16);
    mv_err rc = storage_write_access(&b, &info);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
    mv_decoy_shape_clear(&own);
}

/* A cached decoy's block by tag, copied out under the cache lock. */
struct tag_hit {
    const uint8_t *tag;
    mv_buf *out;
    int found; /* 1: appended; 2: the block is the decoy's but not kept (regenerate index) */
    size_t index;
};

static mv_err append_tagged(void *ctx, const mv_decoy_record *r)
{
    struct tag_hit *h = ctx;
    for (size_t i = 0; i < r->n_blocks; i++)
        if (memcmp(r->blocks[i].tag, h->tag, 32) == 0) {
            h->index = i;
            if (!r->blocks[i].c) {
                h->found = 2;
                return MV_OK;
            }
            h->found = 1;
            return mv_buf_append(h->out, r->blocks[i].c, r->blocks[i].len);
        }
    return MV_OK;
}

/* Appends block tag's ciphertext to out; MV_ERR_NOT_FOUND for a tag that is no decoy's. A tag
 * is a decoy's once its envelope was served (decoy_with recorded it): the cache holds recent
 * ones, the store's tag table every one, and the block is regenerated from the shape. */
static mv_err block_read(decoy_srv *d, const uint8_t tag[32], mv_buf *out)
{
    uint8_t id[16];
    uint32_t index = 0;
    mv_decoy_shape sh;
    mv_err rc = decoy_store_tag_get(d->store, tag, id, &index);
    if (rc == MV_ERR_NOT_FOUND || rc == MV_ERR_PARSE)
        return decoy_synth_block(d, tag, out);
    if (rc != MV_OK)
        return rc;
    mv_decoy_shape_init(&sh);
    if ((rc = decoy_store_get(d->store, id, &sh)) == MV_OK) {
        struct tag_hit h = {tag, out, 0, 0};
        /* A decoy kept whole serves the block from the cache (generated now if evicted); a
         * larger one regenerates the block alone. */
        if (mv_decoy_shape_bytes(&sh) <= GEN_KEEP_MAX) {
            rc = decoy_with(d, &sh, append_tagged, &h, NULL);
            if (rc == MV_OK && h.found == 0)
                rc = MV_ERR_NOT_FOUND; /* the record's decoy changed since the tag was served */
        }
        if (rc == MV_OK && h.found != 1)
            rc = decoy_regen_block(d, &sh, index, tag, out);
    }
    mv_decoy_shape_clear(&sh);
    return rc == MV_ERR_NOT_FOUND || rc == MV_ERR_PARSE ? decoy_synth_block(d, tag, out) : rc;
}

static void block_get(decoy_srv *d, const char *hex, mv_http_response *resp)
{
    uint8_t tag[32];
    if (parse_hex(hex, strlen(hex), tag, 32)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 64-hex-digit tag");
        return;
    }
    mv_buf_reset(&resp->body);
    mv_err rc = block_read(d, tag, &resp->body);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such block");
        return;
    }
    storage_respond_octets(resp, rc, NULL, "block read");
}

static mv_err decoy_block_read(void *ctx, const uint8_t tag[32], mv_buf *out)
{
    return block_read(ctx, tag, out);
}

static void blocks_get(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    storage_answer_blocks_get(f->body, f->body_len, decoy_block_read, d, resp);
}

/* Forwarded writes: plausible success answers in the primary's formats; nothing is stored.
 * A body the primary would refuse gets the primary's refusal (the same decoder, the same
 * message), so a malformed probe cannot tell the two apart. */
static void dupcheck(const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_frame_dupcheck dc;
    mv_frame_fault fault;
    mv_buf b;
    mv_err rc = mv_frame_dupcheck_decode(f->body, f->body_len, &dc, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_jw w;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    storage_results_open(&w, &b);
    for (size_t i = 0; i < dc.n_tokens; i++)
        storage_result_absent(&w);
    rc = storage_results_close(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
    mv_frame_dupcheck_clear(&dc);
}

static void blocks_put(const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_frame_blocks fb;
    mv_frame_fault fault;
    mv_buf b;
    mv_err rc = mv_frame_blocks_decode(f->body, f->body_len, &fb, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_jw w;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    storage_results_open(&w, &b);
    for (uint32_t i = 0; i < fb.count; i++)
        storage_result_status(&w, NULL, "stored");
    rc = storage_results_close(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

static void records_put(const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_frame_records fr;
    mv_frame_record rec;
    mv_frame_iter it;
    mv_frame_fault fault;
    mv_buf b;
    mv_err rc = mv_frame_records_decode(f->body, f->body_len, &fr, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_jw w;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    storage_results_open(&w, &b);
    mv_frame_records_iter(&fr, &it);
    while (mv_frame_records_next(&it, &rec))
        storage_result_status(&w, rec.id, "stored");
    rc = storage_results_close(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

/* s as a line of the primary's listing, through the primary's own record info. */
static void listing_entry_of(const mv_decoy_shape *s, storage_listing_entry *e)
{
    mv_store_record_info info;
    storage_info_of_shape(s, &info);
    storage_listing_entry_of(&info, e);
}

/* The listing, written by the primary's own writer (same format, same order): for a proven
 * caller the shapes the frame carries (its records, honeytokens); for an unverified caller
 * invented records chosen by the key it claims (the same on every call). */
static void records_list(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_buf b;
    uint8_t ids[MV_DECOY_SYNTH_LIST_MAX][16];
    size_t n_synth = 0, n = 0;
    mv_err rc = MV_OK;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    int unv = decoy_unverified(f);
    uint8_t(*extra)[16] = NULL;
    if (unv && f->n_shapes) {
        /* Honeytokens join the pool an unverified listing is drawn from, as ids only: they show
         * as often as any invented record and with invented metadata. */
        if (!(extra = mv_mallocarray(f->n_shapes, 16)))
            rc = MV_ERR_NOMEM;
        for (size_t i = 0; extra && i < f->n_shapes; i++)
            memcpy(extra[i], f->shapes[i].id, 16);
    }
    if (rc == MV_OK && unv)
        n_synth = mv_decoy_synth_list(d->seed, sodium_is_zero(f->principal, 32) ? NULL : f->principal, d->anchor,
                                      (const uint8_t(*)[16])extra, extra ? f->n_shapes : 0, ids, MV_DECOY_SYNTH_LIST_MAX);
    storage_listing_entry *v = rc == MV_OK ? mv_calloc(f->n_shapes + n_synth + 1, sizeof *v) : NULL;
    if (!v)
        rc = MV_ERR_NOMEM;
    for (size_t i = 0; rc == MV_OK && !unv && i < f->n_shapes; i++)
        listing_entry_of(&f->shapes[i], &v[n++]);
    for (size_t i = 0; rc == MV_OK && i < n_synth; i++) {
        mv_decoy_shape sh;
        mv_decoy_shape_init(&sh);
        if ((rc = mv_decoy_shape_synth(d->seed, ids[i], d->anchor, &sh)) == MV_OK)
            listing_entry_of(&sh, &v[n++]);
        mv_decoy_shape_clear(&sh);
    }
    if (rc == MV_OK)
        rc = storage_write_listing(&b, v, n);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_free(v);
    mv_free(extra);
    mv_buf_clear(&b);
}

static void record_delete(decoy_srv *d, const mv_decoy_forward *f, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    if (parse_hex(hex, strlen(hex), id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 32-hex-digit record id");
        return;
    }
    mv_decoy_shape_init(&own);
    int synth = 0;
    const mv_decoy_shape *s = decoy_find_shape(d, f, id, &own, &synth, NULL);
    mv_decoy_shape_clear(&own);
    if (!s) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"deleted\":\"%.32s\"}", hex);
}

static void readers_set(const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_frame_access a;
    mv_frame_fault fault;
    mv_err rc = mv_frame_access_decode(f->body, f->body_len, &a, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"readers\":%zu}", a.n_readers);
}

/* GET /v1/stats as the primary answers it: invented totals over invented departments, fixed
 * for a day and growing slowly, the same for every caller. */
static void stats(decoy_srv *d, mv_http_response *resp)
{
    static const char *const depts[] = {"cardiology", "neurology", "oncology", "endocrinology"};
    uint8_t k[32];
    uint64_t today = (uint64_t)time(NULL) / 86400, since = today > d->anchor / 86400 ? today - d->anchor / 86400 : 0;
    uint64_t r[4] = {0}, l[4] = {0}, ph[4] = {0}, all_r = 0, all_l = 0, all_p = 0, all_b = 0;
    mv_store_stats st;
    mv_buf b;
    memset(&st, 0, sizeof st);
    mv_buf_init(&b, 1u << 16);
    mv_err rc = mv_hkdf_sha256(k, sizeof k, (const uint8_t *)"medvault-decoy-stats-v1", 23, d->seed,
                               MV_DECOY_SEED_BYTES, NULL, 0);
    for (int i = 0; rc == MV_OK && i < 4; i++) {
        /* A base per department from the seed and a growth of about one percent a day. */
        uint64_t base = 2000 + ((uint64_t)k[2 * i] << 8 | k[2 * i + 1]) % 18000;
        r[i] = base + base * since / 100;
        l[i] = r[i] * (1300 + k[8 + i] % 400);
        ph[i] = l[i] * (30 + k[12 + i] % 12) / 100;
        all_r += r[i];
        all_l += l[i];
        all_p += ph[i];
        all_b += r[i] * (25 + k[16 + i] % 10) / 100;
    }
    /* The primary's fields and meanings (docs/api.md): data = envelopes + blocks once; packs
     * add framing and dead bytes; the index about 80 bytes a record over a fixed 300 KB;
     * physical = packs + index. */
    uint64_t packs = all_p + all_p / 40, index = 300000 + all_r * (78 + k[20] % 8);
    /* Written by the primary's writer from a stats report as its store would fill it. */
    st.records = all_r;
    st.blocks = all_b;
    st.logical_bytes = all_l;
    st.physical_bytes = packs + index;
    st.data_bytes = all_p;
    st.pack_bytes = packs;
    st.index_bytes = index;
    st.envelope_bytes = all_p * 7 / 10;
    st.block_bytes = all_p * 3 / 10;
    st.n_depts = 4;
    for (int i = 0; i < 4; i++) {
        snprintf(st.depts[i].dept, sizeof st.depts[i].dept, "%s", depts[i]);
        st.depts[i].records = r[i];
        st.depts[i].logical_bytes = l[i];
        st.depts[i].physical_bytes = ph[i];
        st.depts[i].dedup_hits = r[i] * 7 / 10;
    }
    if (rc == MV_OK)
        rc = storage_write_stats(&b, &st);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
    sodium_memzero(k, sizeof k);
}

void decoy_answer(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    const char *rest = NULL;
    size_t pl = f->path_len;
    for (size_t i = 0; i < f->path_len; i++)
        if (f->path[i] == '?') {
            pl = i;
            break;
        }
    /* As long as the primary's (the frame caps it at MV_DECOY_PATH_MAX). */
    char *path = mv_malloc(pl + 1);
    if (!path) {
        mv_http_respond_json_error(resp, 503, "storage temporarily unavailable; retry");
        return;
    }
    memcpy(path, f->path, pl);
    path[pl] = 0;
    const char *m = f->method;
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
    const char *allowed = NULL, *label = "unknown";
    if (!strcmp(path, "/v1/dupcheck")) {
        label = "dupcheck";
        post ? dupcheck(f, resp) : (void)(allowed = "POST");
    } else if (!strcmp(path, "/v1/blocks")) {
        label = "blocks_put";
        post ? blocks_put(f, resp) : (void)(allowed = "POST");
    } else if (!strcmp(path, "/v1/blocks/get")) {
        label = "blocks_get";
        post ? blocks_get(d, f, resp) : (void)(allowed = "POST");
    } else if (!strncmp(path, "/v1/blocks/", 11)) {
        label = "block_get";
        get ? block_get(d, path + 11, resp) : (void)(allowed = "GET");
    } else if (!strcmp(path, "/v1/records")) {
        label = get ? "records_list" : "records_put";
        get ? records_list(d, f, resp) : post ? records_put(f, resp) : (void)(allowed = "GET, POST");
    } else if (!strcmp(path, "/v1/records/get")) {
        label = "records_get";
        post ? records_get(d, f, resp) : (void)(allowed = "POST");
    } else if (!strncmp(path, "/v1/records/", 12) && strchr(path + 12, '/')) {
        rest = path + 12;
        size_t l = strlen(rest);
        label = "record_readers";
        if (l < 8 || strcmp(rest + l - 8, "/readers") != 0)
            mv_http_respond_json_error(resp, 404, "no such endpoint");
        else if (get)
            readers_get(d, f, rest, resp);
        else if (post)
            readers_set(f, resp);
        else
            allowed = "GET, POST";
    } else if (!strncmp(path, "/v1/records/", 12)) {
        label = "record_get";
        get ? record_get(d, f, path + 12, resp) : del ? record_delete(d, f, path + 12, resp) : (void)(allowed = "GET, DELETE");
    } else if (!strcmp(path, "/v1/stats")) {
        /* The endpoints a real caller has, answered as the primary answers a clinician. */
        label = "stats";
        get ? stats(d, resp) : (void)(allowed = "GET");
    } else if (!strcmp(path, "/v1/gc")) {
        label = "gc";
        post ? mv_http_respond_json_error(resp, 403, "garbage collection is for admins") : (void)(allowed = "POST");
    } else if (!strcmp(path, "/v1/honeytokens")) {
        label = "honeytokens";
        get || post ? mv_http_respond_json_error(resp, 403, "honeytokens are for admins")
                    : (void)(allowed = "GET, POST");
    } else if (!strcmp(path, "/v1/audit")) {
        label = "audit";
        mv_http_respond_json_error(resp, 403, "only an admin may read the audit log");
    } else {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
    }
    if (allowed) {
        storage_respond_405(resp, allowed);
    }
    char labels[96];
    snprintf(labels, sizeof labels, "endpoint=\"%s\",reason=\"%u\"", label, (unsigned)f->reason);
    decoy_count(d, "medvault_decoy_served_total", "Forwarded requests answered with decoys", labels, 1);
    mv_free(path);
}
