/* decoy_server.c - the decoy cloud (`medvault storage run --role decoy`): answers only requests
 * the primary signs and forwards, with decoys shaped like the real records and never derived
 * from their content; a caller whose signature did not verify is answered from invented shapes
 * only; what one shape or one caller can make it spend is capped; the seed that makes decoys
 * stable never leaves locked memory.
 *
 * State in DIR: decoy.seed (0600, 32 bytes) and decoys/shapes/ (decoy_store.h: each record's
 * shape, and the tags of decoy blocks that were served). No decoy byte is stored: every answer
 * is generated from (seed, shape) on the request, the same bytes each time, and the last
 * GEN_CACHE decoys are kept in memory so a listing followed by reads generates each once. A
 * directory of the previous release (decoys/<id>.rec, blocks/, ptr/) is imported on start. */
#include "medvault/mv_clock.h"
#include "medvault/mv_decoy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medvault/mv_audit_http.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "decoy_store.h"
#include "net/frames.h"
#include "record_meta.h"
#include "decoy_server.h"
#include "storage_internal.h"

void decoy_count(decoy_srv *d, const char *name, const char *help, const char *labels, uint64_t n)
{
    if (mv_metrics_counter_add(d->metrics, name, help, labels, n) != MV_OK)
        mv_log(MV_LOG_DEBUG, DECOY_COMPONENT, "metric %s dropped", name);
}

static int is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* ---------- decoys generated on request ---------- */

/* A slot of the cache of recently generated decoys (glock held to touch it). */
typedef struct gen_slot {
    uint64_t tick; /* 0: empty */
    uint8_t *enc;  /* the shape's encoding: a hit needs the same shape, not only the same id */
    size_t enc_len;
    mv_decoy_shape shape;
    mv_decoy_record rec; /* blocks' c NULL when the decoy is too large to keep (kept 0) */
    size_t bytes;        /* what the slot holds, counted against GEN_CACHE_BYTES */
} gen_slot;

static void gen_slot_clear(gen_slot *sl)
{
    mv_free(sl->enc);
    mv_decoy_shape_clear(&sl->shape);
    mv_decoy_record_clear(&sl->rec);
    memset(sl, 0, sizeof *sl);
}

/* The cached slot of shape encoding enc (glock held), or NULL. */
static gen_slot *gen_find(decoy_srv *d, const uint8_t id[16], const mv_buf *enc)
{
    for (size_t i = 0; i < GEN_CACHE; i++) {
        gen_slot *sl = &d->gen[i];
        if (sl->tick && memcmp(sl->shape.id, id, 16) == 0 && sl->enc_len == enc->len &&
            memcmp(sl->enc, enc->ptr, enc->len) == 0)
            return sl;
    }
    return NULL;
}

/* Moves the decoy *rec (its shape's encoding in enc, taken too) into the cache (glock held),
 * evicting the least recently used slots until a slot is free and the bytes fit (a decoy alone
 * in the cache may exceed the byte bound); returns its slot, NULL when out of memory. */
static gen_slot *gen_insert(decoy_srv *d, mv_buf *enc, mv_decoy_record *rec, size_t bytes)
{
    gen_slot *slot = NULL;
    for (;;) {
        gen_slot *free_slot = NULL, *lru = NULL;
        for (size_t i = 0; i < GEN_CACHE; i++) {
            gen_slot *sl = &d->gen[i];
            if (!sl->tick)
                free_slot = free_slot ? free_slot : sl;
            else if (!lru || sl->tick < lru->tick)
                lru = sl;
        }
        if (free_slot && (d->gen_bytes + bytes <= GEN_CACHE_BYTES || !lru)) {
            slot = free_slot;
            break;
        }
        d->gen_bytes -= lru->bytes; /* lru: GEN_CACHE > 0, so a full cache has one */
        gen_slot_clear(lru);
    }
    size_t used = 0;
    slot->enc = mv_buf_steal(enc, &slot->enc_len);
    if (!slot->enc || mv_decoy_shape_decode(slot->enc, slot->enc_len, &used, &slot->shape) != MV_OK) {
        gen_slot_clear(slot);
        return NULL;
    }
    slot->rec = *rec;
    mv_decoy_record_init(rec);
    slot->bytes = bytes;
    slot->tick = ++d->gen_tick;
    d->gen_bytes += bytes;
    return slot;
}

/* Drops the ciphertexts of a decoy as they are generated (a decoy too large to keep). */
static mv_err drop_block(void *ctx, size_t index, const mv_decoy_block *b)
{
    (void)ctx;
    (void)index;
    (void)b;
    return MV_OK;
}

static void gen_pending_clear(gen_pending *p)
{
    mv_buf_clear(&p->enc);
    mv_decoy_record_clear(&p->rec);
    mv_free(p->tags);
    memset(p, 0, sizeof *p);
}

/* The tags of rec's blocks, 32 bytes each (NULL when it has none). */
static mv_err tags_of(const mv_decoy_record *rec, uint8_t **tags)
{
    *tags = NULL;
    if (!rec->n_blocks)
        return MV_OK;
    if (!(*tags = mv_mallocarray(rec->n_blocks, 32)))
        return MV_ERR_NOMEM;
    for (size_t i = 0; i < rec->n_blocks; i++)
        memcpy(*tags + 32 * i, rec->blocks[i].tag, 32);
    return MV_OK;
}

/* Stores every decoy of b durably (shapes and tags, one transaction), then moves them into the
 * cache. b is empty afterwards, also on error (then nothing of it was served: the caller fails). */
mv_err decoy_gen_batch_flush(decoy_srv *d, gen_batch *b)
{
    decoy_store_served *v = b->n ? mv_mallocarray(b->n, sizeof *v) : NULL;
    mv_err rc = b->n && !v ? MV_ERR_NOMEM : MV_OK;
    for (size_t i = 0; rc == MV_OK && i < b->n; i++)
        v[i] = (decoy_store_served){b->v[i].s, b->v[i].tags, b->v[i].rec.n_blocks};
    if (rc == MV_OK)
        rc = decoy_store_put_served(d->store, v, b->n);
    mv_free(v);
    pthread_mutex_lock(&d->glock);
    for (size_t i = 0; i < b->n; i++) {
        gen_pending *p = &b->v[i];
        /* Another request may have cached the same decoy meanwhile (the same bytes). */
        if (rc == MV_OK && !gen_find(d, p->s->id, &p->enc) && !gen_insert(d, &p->enc, &p->rec, p->bytes))
            rc = MV_ERR_NOMEM;
        gen_pending_clear(p);
    }
    pthread_mutex_unlock(&d->glock);
    b->n = 0;
    b->bytes = 0;
    return rc;
}

void decoy_gen_batch_clear(gen_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        gen_pending_clear(&b->v[i]);
    mv_free(b->v);
    memset(b, 0, sizeof *b);
}

static int past(const struct timespec *t)
{
    struct timespec now;
    mv_mono_now(&now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Calls fn(ctx, decoy) on the decoy of s under the cache lock: the cached one, else generated now
 * (outside the cache lock, under the record's stripe lock, so concurrent readers of one record
 * generate it once), its block tags recorded in the store (so a later block read finds them,
 * also after a restart) and cached. A decoy whose bytes exceed GEN_KEEP_MAX keeps its envelope
 * and tags only: its blocks are regenerated for each read (decoy_regen_block). With a batch (a bulk
 * read), a generated decoy waits in the batch for decoy_gen_batch_flush (a decoy the batch already
 * holds is served from there), and nothing is generated past the batch's deadline
 * (MV_ERR_BUSY). */
mv_err decoy_with(decoy_srv *d, const mv_decoy_shape *s, mv_err (*fn)(void *, const mv_decoy_record *),
                  void *ctx, gen_batch *batch)
{
    mv_buf enc;
    mv_decoy_record rec;
    uint8_t *tags = NULL;
    mv_err rc;
    if (mv_decoy_shape_bytes(s) > DECOY_SHAPE_MAX)
        return MV_ERR_NOT_FOUND; /* refused at the push: no decoy, as before */
    mv_buf_init(&enc, REC_MAX);
    mv_decoy_record_init(&rec);
    if ((rc = mv_decoy_shape_encode(s, &enc)) != MV_OK)
        goto out;
    pthread_mutex_lock(&d->glock);
    gen_slot *hit = gen_find(d, s->id, &enc);
    if (hit) {
        hit->tick = ++d->gen_tick;
        rc = fn(ctx, &hit->rec);
        pthread_mutex_unlock(&d->glock);
        goto out;
    }
    pthread_mutex_unlock(&d->glock);
    for (size_t i = 0; batch && i < batch->n; i++) {
        gen_pending *p = &batch->v[i];
        if (p->enc.len == enc.len && memcmp(p->enc.ptr, enc.ptr, enc.len) == 0) {
            rc = fn(ctx, &p->rec);
            goto out;
        }
    }
    if (batch && past(&batch->deadline)) {
        rc = MV_ERR_BUSY;
        goto out;
    }
    pthread_mutex_t *lock = &d->locks[s->id[0] % DECOY_LOCKS];
    pthread_mutex_lock(lock);
    pthread_mutex_lock(&d->glock);
    hit = gen_find(d, s->id, &enc); /* made while we waited for the stripe */
    if (hit) {
        hit->tick = ++d->gen_tick;
        rc = fn(ctx, &hit->rec);
    }
    pthread_mutex_unlock(&d->glock);
    if (hit)
        goto unlock;
    int keep = mv_decoy_shape_bytes(s) <= GEN_KEEP_MAX;
    if ((rc = mv_decoy_generate_stream(d->seed, s, keep ? NULL : drop_block, NULL, &rec)) != MV_OK)
        goto unlock;
    decoy_count(d, "medvault_decoy_generated_total", "Decoys generated on a request (not cached)", NULL, 1);
    if (rec.n_inexact)
        decoy_count(d, "medvault_decoy_inexact_parts_total",
                    "Decoy parts sized with a stored zstd frame or filler instead of compressed content", NULL,
                    rec.n_inexact);
    if ((rc = tags_of(&rec, &tags)) != MV_OK)
        goto unlock;
    size_t bytes = sizeof(gen_slot) + enc.len + rec.env_len + 32 * rec.n_blocks;
    for (size_t i = 0; keep && i < rec.n_blocks; i++)
        bytes += rec.blocks[i].len;
    if (batch) {
        if ((rc = mv_array_grow(&batch->v, &batch->cap, batch->n, sizeof *batch->v, 64)) != MV_OK)
            goto unlock;
        gen_pending *p = &batch->v[batch->n++];
        p->s = s;
        p->enc = enc;
        mv_buf_init(&enc, REC_MAX); /* moved */
        p->rec = rec;
        mv_decoy_record_init(&rec);
        p->tags = tags;
        tags = NULL;
        p->bytes = bytes;
        batch->bytes += bytes;
        rc = fn(ctx, &p->rec);
        goto unlock;
    }
    /* The shape (a forward may carry one the push has not delivered yet) and the tags, durably,
     * before anyone sees a tag: a block read after a restart finds its record. */
    decoy_store_served sv = {s, tags, rec.n_blocks};
    if ((rc = decoy_store_put_served(d->store, &sv, 1)) != MV_OK)
        goto unlock;
    pthread_mutex_lock(&d->glock);
    gen_slot *slot = gen_insert(d, &enc, &rec, bytes);
    rc = slot ? fn(ctx, &slot->rec) : MV_ERR_NOMEM;
    pthread_mutex_unlock(&d->glock);
unlock:
    pthread_mutex_unlock(lock);
out:
    mv_free(tags);
    mv_decoy_record_clear(&rec);
    mv_buf_clear(&enc);
    return rc;
}

/* Stops a generation once block `want` is copied (a sentinel error, never returned). */
struct block_catch {
    size_t want;
    const uint8_t *tag;
    mv_buf *out;
    int got;
};

static mv_err catch_block(void *ctx, size_t index, const mv_decoy_block *b)
{
    struct block_catch *c = ctx;
    if (index != c->want)
        return MV_OK;
    if (memcmp(b->tag, c->tag, 32) != 0)
        return MV_ERR_NOT_FOUND;
    mv_err rc = mv_buf_append(c->out, b->c, b->len);
    c->got = rc == MV_OK;
    return rc == MV_OK ? MV_ERR_BUSY : rc;
}

/* Regenerates block index of shape s's decoy, appending it if its tag is tag: an attachment's
 * chunk alone (mv_decoy_generate_block), another decoy's blocks up to index (each block's
 * content depends on the ones before it). MV_ERR_NOT_FOUND if the tag is not that block's (the
 * record's decoy changed since the tag was served). */
mv_err decoy_regen_block(decoy_srv *d, const mv_decoy_shape *s, size_t index, const uint8_t tag[32], mv_buf *out)
{
    mv_err rc;
    if (index >= s->n_blocks)
        return MV_ERR_NOT_FOUND;
    if (mv_decoy_shape_is_attachment(s)) {
        mv_decoy_block b;
        memset(&b, 0, sizeof b);
        rc = mv_decoy_generate_block(d->seed, s, index, &b);
        if (rc == MV_OK && memcmp(b.tag, tag, 32) != 0)
            rc = MV_ERR_NOT_FOUND;
        if (rc == MV_OK)
            rc = mv_buf_append(out, b.c, b.len);
        mv_free(b.c);
    } else {
        struct block_catch c = {index, tag, out, 0};
        mv_decoy_record rec;
        mv_decoy_record_init(&rec);
        rc = mv_decoy_generate_stream(d->seed, s, catch_block, &c, &rec);
        mv_decoy_record_clear(&rec);
        if (c.got)
            rc = MV_OK;
        else if (rc == MV_OK)
            rc = MV_ERR_NOT_FOUND;
    }
    if (rc == MV_OK)
        decoy_count(d, "medvault_decoy_blocks_regenerated_total", "Decoy blocks regenerated alone for a read", NULL, 1);
    return rc == MV_ERR_INVAL ? MV_ERR_NOT_FOUND : rc;
}

/* ---------- invented decoys (unverified callers) ---------- */

/* 1 if the caller of f did not prove its key: its answers come from invented shapes. */
int decoy_unverified(const mv_decoy_forward *f)
{
    return f->reason == MV_DECOY_UNAUTHENTICATED || f->reason == MV_DECOY_FORGED;
}

/* Takes one generation from the budget (slock held). */
static int synth_take_token(decoy_srv *d)
{
    struct timespec now;
    mv_mono_now(&now);
    double dt = (double)(now.tv_sec - d->synth_refill.tv_sec) + (double)(now.tv_nsec - d->synth_refill.tv_nsec) / 1e9;
    d->synth_refill = now;
    d->synth_tokens += dt > 0 ? dt * SYNTH_RATE : 0;
    if (d->synth_tokens > SYNTH_BURST)
        d->synth_tokens = SYNTH_BURST;
    if (d->synth_tokens < 1.0)
        return 0;
    d->synth_tokens -= 1.0;
    return 1;
}

/* The cached slot of id (slock held), or NULL. */
static synth_slot *synth_find(decoy_srv *d, const uint8_t id[16])
{
    for (size_t i = 0; i < SYNTH_CACHE; i++)
        if (d->synth[i].tick && memcmp(d->synth[i].shape.id, id, 16) == 0)
            return &d->synth[i];
    return NULL;
}

/* Copies the cached invented shape of id into own (1), or 0 if it is not cached. */
static int synth_cached_shape(decoy_srv *d, const uint8_t id[16], mv_decoy_shape *own)
{
    mv_buf enc;
    size_t used = 0;
    int hit = 0;
    mv_buf_init(&enc, 1 << 16);
    pthread_mutex_lock(&d->slock);
    synth_slot *sl = synth_find(d, id);
    if (sl && mv_decoy_shape_encode(&sl->shape, &enc) == MV_OK)
        hit = 1;
    pthread_mutex_unlock(&d->slock);
    if (hit && (mv_decoy_shape_decode(enc.ptr, enc.len, &used, own) != MV_OK || used != enc.len))
        hit = 0;
    mv_buf_clear(&enc);
    return hit;
}

/* One token of the cloud's budget of new invented decoys: 1 taken, 0 spent (counted). */
static int synth_budget_take(decoy_srv *d)
{
    pthread_mutex_lock(&d->slock);
    int ok = synth_take_token(d);
    pthread_mutex_unlock(&d->slock);
    if (!ok)
        decoy_count(d, "medvault_decoy_synth_refused_total", "Invented decoys not made: budget spent", NULL, 1);
    return ok;
}

/* Appends the envelope of the invented decoy of shape s: the cached one, else generated now
 * (decoy_find_shape took the budget for it) and cached. */
static mv_err synth_envelope(decoy_srv *d, const mv_decoy_shape *s, mv_buf *out)
{
    mv_decoy_record rec;
    mv_decoy_shape copy;
    mv_buf enc;
    mv_err rc;
    pthread_mutex_lock(&d->slock);
    synth_slot *hit = synth_find(d, s->id);
    if (hit) {
        hit->tick = ++d->synth_tick;
        rc = mv_buf_append(out, hit->rec.env, hit->rec.env_len);
        pthread_mutex_unlock(&d->slock);
        return rc;
    }
    pthread_mutex_unlock(&d->slock);
    mv_decoy_record_init(&rec);
    mv_decoy_shape_init(&copy);
    mv_buf_init(&enc, 1 << 16);
    /* Outside the lock: about 15 ms of work. */
    if ((rc = mv_decoy_generate(d->seed, s, &rec)) != MV_OK || (rc = mv_decoy_shape_encode(s, &enc)) != MV_OK)
        goto out;
    size_t used = 0;
    if ((rc = mv_decoy_shape_decode(enc.ptr, enc.len, &used, &copy)) != MV_OK)
        goto out;
    decoy_count(d, "medvault_decoy_synth_generated_total", "Invented decoys generated for unverified callers", NULL, 1);
    pthread_mutex_lock(&d->slock);
    synth_slot *slot = synth_find(d, s->id);
    if (!slot) { /* the least recently used slot (or an empty one) */
        slot = &d->synth[0];
        for (size_t i = 1; i < SYNTH_CACHE && slot->tick; i++)
            if (d->synth[i].tick < slot->tick)
                slot = &d->synth[i];
        mv_decoy_record_clear(&slot->rec);
        mv_decoy_shape_clear(&slot->shape);
        slot->rec = rec;
        slot->shape = copy;
        mv_decoy_record_init(&rec);
        mv_decoy_shape_init(&copy);
    }
    slot->tick = ++d->synth_tick;
    rc = mv_buf_append(out, slot->rec.env, slot->rec.env_len);
    pthread_mutex_unlock(&d->slock);
out:
    mv_decoy_record_clear(&rec);
    mv_decoy_shape_clear(&copy);
    mv_buf_clear(&enc);
    return rc;
}

/* Appends the ciphertext of a cached invented decoy's block: MV_ERR_NOT_FOUND if none has it. */
mv_err decoy_synth_block(decoy_srv *d, const uint8_t tag[32], mv_buf *out)
{
    mv_err rc = MV_ERR_NOT_FOUND;
    pthread_mutex_lock(&d->slock);
    for (size_t i = 0; i < SYNTH_CACHE && rc == MV_ERR_NOT_FOUND; i++) {
        synth_slot *sl = &d->synth[i];
        for (size_t k = 0; sl->tick && k < sl->rec.n_blocks; k++)
            if (memcmp(sl->rec.blocks[k].tag, tag, 32) == 0) {
                rc = mv_buf_append(out, sl->rec.blocks[k].c, sl->rec.blocks[k].len);
                break;
            }
    }
    pthread_mutex_unlock(&d->slock);
    return rc;
}

/* The shape the answer to f uses for id. For a caller who proved its key: the one the frame
 * carries (the primary sends the records that caller may read, and honeytokens), else none.
 * For an unverified caller every id is invented (honeytokens too: their stored owner,
 * department and date are real metadata), into own (*synth 1; the caller clears own): a cached
 * one costs nothing; a new one takes one of *budget (the request's; NULL: metadata only, no
 * decoy to generate, and no token) and one of the cloud's tokens, before anything is computed.
 * NULL: no such record, or no budget left for it. */
const mv_decoy_shape *decoy_find_shape(decoy_srv *d, const mv_decoy_forward *f, const uint8_t id[16],
                                       mv_decoy_shape *own, int *synth, int *budget)
{
    *synth = 0;
    if (!decoy_unverified(f)) {
        for (size_t i = 0; i < f->n_shapes; i++)
            if (memcmp(f->shapes[i].id, id, 16) == 0)
                return &f->shapes[i];
        return NULL;
    }
    if (!synth_cached_shape(d, id, own)) {
        if (budget && (*budget <= 0 || !synth_budget_take(d)))
            return NULL;
        if (budget)
            (*budget)--;
        if (mv_decoy_shape_synth(d->seed, id, d->anchor, own) != MV_OK)
            return NULL;
    }
    *synth = 1;
    return own;
}

static mv_err append_env(void *ctx, const mv_decoy_record *r)
{
    return mv_buf_append(ctx, r->env, r->env_len);
}

/* Appends the decoy envelope of s: an invented one from the synthetic cache (synth), else the
 * one generated from s (cached, or made now). */
mv_err decoy_envelope(decoy_srv *d, const mv_decoy_shape *s, int synth, gen_batch *batch, mv_buf *out)
{
    if (synth)
        return synth_envelope(d, s, out);
    return decoy_with(d, s, append_env, out, batch);
}

/* ---------- routing ---------- */

/* The primary's signature: a credential the hospital key verifies, issued to --primary-key. */
static int primary_ok(decoy_srv *d, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_err rc = mv_http_verify(d->auth, req, (uint64_t)time(NULL), &cred);
    if (rc == MV_OK && !mv_ct_eq(cred.subject, d->cfg->primary_pk, 32))
        rc = MV_ERR_AUTH;
    if (rc != MV_OK) {
        mv_http_respond_auth_failure(resp, rc == MV_ERR_AUTH ? MV_ERR_AUTH : rc);
        decoy_count(d, "medvault_decoy_auth_failures_total", "Requests not signed by the primary", NULL, 1);
        return 0;
    }
    return 1;
}

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    decoy_srv *d = ctx;
    int fwd = !strcmp(req->path, "/v1/decoy"), push = !strcmp(req->path, "/v1/decoy/shapes");
    if (!strcmp(req->path, "/v1/audit")) {
        storage_respond_audit(d->auth, d->audit, req, resp);
        return;
    }
    if (!fwd && !push) {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        mv_http_respond_json_error(resp, 405, "method not allowed");
        if (mv_http_response_header(resp, "Allow", "POST") != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
        return;
    }
    if (!primary_ok(d, req, resp))
        return;
    if (fwd) {
        mv_decoy_forward f;
        mv_decoy_forward_init(&f);
        mv_err rc = mv_decoy_forward_decode(req->body, req->body_len, &f);
        if (rc != MV_OK) {
            mv_http_respond_json_error(resp, 400, "malformed MVX frame");
            return;
        }
        decoy_answer(d, &f, resp);
        mv_decoy_forward_clear(&f);
        return;
    }
    mv_decoy_shape *shapes = NULL;
    size_t n = 0, kept = 0, stored = 0, failed = 0;
    if (mv_decoy_shapes_decode(req->body, req->body_len, &shapes, &n) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "malformed MVH frame");
        return;
    }
    /* Only the shapes are stored (one synced transaction): no decoy is generated on the push,
     * so the push keeps pace with the primary's puts. A shape no decoy can have (duplicate
     * readers, sizes below the framing) or one over DECOY_SHAPE_MAX is skipped and counted. */
    for (size_t i = 0; i < n; i++) {
        if (!mv_decoy_shape_valid(&shapes[i]) || mv_decoy_shape_bytes(&shapes[i]) > DECOY_SHAPE_MAX) {
            failed++;
            mv_decoy_shape_clear(&shapes[i]);
            continue;
        }
        if (kept != i) {
            shapes[kept] = shapes[i];
            mv_decoy_shape_init(&shapes[i]);
        }
        kept++;
    }
    mv_err rc = decoy_store_put(d->store, shapes, kept, &stored);
    mv_decoy_shapes_free(shapes, n);
    decoy_count(d, "medvault_decoy_shapes_stored_total", "Pushed shapes stored (new or changed)", NULL, stored);
    if (failed)
        decoy_count(d, "medvault_decoy_shapes_refused_total", "Pushed shapes no decoy can have", NULL, failed);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "decoy store");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"stored\":%zu}", stored);
}

/* The synthetic cache, and the instant invented records are dated before: decoy.seed's
 * modification time, fixed since the seed was made, so answers agree across restarts. */
static mv_err synth_init(decoy_srv *d)
{
    char path[4200];
    struct stat st;
    mv_err rc = mv_path_join(path, sizeof path, d->cfg->dir, "decoy.seed");
    if (rc != MV_OK)
        return rc;
    d->anchor = stat(path, &st) == 0 && st.st_mtime > 0 ? (uint64_t)st.st_mtime : (uint64_t)time(NULL);
    if (!(d->synth = mv_calloc(SYNTH_CACHE, sizeof *d->synth)))
        return MV_ERR_NOMEM;
    d->synth_tokens = SYNTH_BURST;
    mv_mono_now(&d->synth_refill);
    return MV_OK;
}

static void synth_free(decoy_srv *d)
{
    for (size_t i = 0; d->synth && i < SYNTH_CACHE; i++) {
        mv_decoy_record_clear(&d->synth[i].rec);
        mv_decoy_shape_clear(&d->synth[i].shape);
    }
    mv_free(d->synth);
    d->synth = NULL;
}

/* The body gate: a body over 64 KiB only from the primary (its key, and a signature that
 * verifies from the headers): no other credential holder makes the decoy cloud buffer one. */
static int primary_gate(void *ctx, const mv_http_request *req)
{
    decoy_srv *d = ctx;
    uint8_t key[32];
    const char *k = mv_http_header(req, "MV-Key");
    return k && mv_hex_decode_exact(key, sizeof key, k, strnlen(k, 65)) == MV_OK &&
           mv_ct_eq(key, d->cfg->primary_pk, 32) && mv_http_gate_signed(d->auth, req);
}

/* Loads DIR/decoy.seed (32 bytes, 0600) into secure memory, creating it on first start. */
static mv_err load_seed(decoy_srv *d)
{
    return storage_secret_load(d->cfg->dir, "decoy.seed", MV_DECOY_SEED_BYTES, DECOY_COMPONENT, "decoy seed", &d->seed);
}

mv_err mv_decoy_run(const mv_storage_config *cfg)
{
    decoy_srv d;
    mv_service svc;
    mv_err rc;
    memset(&d, 0, sizeof d);
    memset(&svc, 0, sizeof svc);
    if (!cfg || !cfg->dir || !cfg->listen || cfg->threads == 0 || cfg->skew_seconds == 0 || cfg->max_body == 0 ||
        cfg->role != MV_STORAGE_DECOY || is_zero(cfg->primary_pk, 32))
        return MV_ERR_INVAL;
    d.cfg = cfg;
    for (size_t i = 0; i < DECOY_LOCKS; i++)
        pthread_mutex_init(&d.locks[i], NULL);
    pthread_mutex_init(&d.slock, NULL);
    pthread_mutex_init(&d.glock, NULL);
    mv_daemon_harden();
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    if ((rc = mv_file_mkdir(cfg->dir, 0700)) != MV_OK || (rc = mv_path_join(d.dir, sizeof d.dir, cfg->dir, "decoys")) != MV_OK ||
        (rc = mv_file_mkdir(d.dir, 0700)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot create the decoy directories under %s", cfg->dir);
        goto out;
    }
    if ((rc = load_seed(&d)) != MV_OK || (rc = synth_init(&d)) != MV_OK)
        goto out;
    if (!(d.gen = mv_calloc(GEN_CACHE, sizeof *d.gen))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = decoy_store_open(d.dir, cfg->threads + 8, &d.store)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot open the decoy shape store: %s", mv_strerror(rc));
        goto out;
    }
    size_t imported = 0;
    if ((rc = decoy_store_import_v0(d.store, d.dir, &imported)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot import the stored decoys of the previous release: %s",
               mv_strerror(rc));
        goto out;
    }
    if ((rc = storage_open_audit(cfg, "decoy", &d.audit)) != MV_OK ||
        (rc = storage_service_start(cfg, DECOY_COMPONENT, d.audit, &svc)) != MV_OK)
        goto out;
    d.auth = svc.auth; /* borrowed from svc by the handlers */
    d.metrics = svc.metrics;
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = cfg->max_body,
        .threads = cfg->threads,
        .handler = handler,
        .ctx = &d,
        .component = "medvault_decoy",
        .body_gate = primary_gate,
        .body_gate_ctx = &d,
        /* Even the request counter of the decoy cloud would move right after an intruder's
         * request to the primary (issue 11, finding 7): nothing without the token. */
        .metrics_private_only = 1,
    };
    if ((rc = mv_service_listen(&svc, &hc, cfg->public_urls, cfg->port_file)) != MV_OK)
        goto out;
    mv_log(MV_LOG_INFO, DECOY_COMPONENT, "decoy cloud listening on port %u", (unsigned)svc.port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, DECOY_COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mv_service_stop(&svc);
    mv_audit_close(d.audit);
    if (d.seed)
        mv_secure_free(d.seed);
    synth_free(&d);
    for (size_t i = 0; d.gen && i < GEN_CACHE; i++)
        gen_slot_clear(&d.gen[i]);
    mv_free(d.gen);
    decoy_store_close(d.store);
    pthread_mutex_destroy(&d.slock);
    pthread_mutex_destroy(&d.glock);
    for (size_t i = 0; i < DECOY_LOCKS; i++)
        pthread_mutex_destroy(&d.locks[i]);
    return rc;
}
