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
#include "medvault/mv_decoy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medvault/mv_audit.h"
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
#include "storage_internal.h"

#define DECOY_COMPONENT "decoy"
#define REC_MAX ((size_t)64 << 20) /* a shape's encoding: 1,000,000 block lengths fit */
/* A real record larger than this gets no decoy (the shape is refused and counted): generating
 * it would cost the decoy cloud minutes of work for one upload. docs/decoy.md. */
#define DECOY_SHAPE_MAX ((uint64_t)1 << 30)
#define DECOY_LOCKS 16 /* stripes of the per-record generation lock: one large decoy stalls only its stripe */
/* The cache of generated decoys: at most GEN_CACHE of them and GEN_CACHE_BYTES in all; a decoy
 * of more than GEN_KEEP_MAX bytes keeps only its envelope and tags there (an attachment's chunk
 * is regenerated alone, about 20 ms for 8 MiB). */
#define GEN_CACHE 1024
#define GEN_CACHE_BYTES ((size_t)64 << 20)
#define GEN_KEEP_MAX ((uint64_t)1 << 20)
/* Invented decoys for unverified callers live only in memory: at most SYNTH_CACHE of them; a new
 * one takes a token of a bucket refilled at SYNTH_RATE per second (burst SYNTH_BURST) whoever
 * asks, before anything is computed for it, and one request invents at most SYNTH_PER_REQUEST,
 * so no unauthenticated caller can make the decoy cloud store anything or spend more. */
/* A bulk read (MVQ1) starts no generation after GEN_BUDGET_MS (its answer is then 413: the client
 * asks again for half as many, and finds those generated so far cached), well inside the
 * primary's 10 s forward timeout; the decoys it generated are stored in one transaction, or
 * one per GEN_BATCH_BYTES of them. */
#define GEN_BUDGET_MS 4000L
#define GEN_BATCH_BYTES ((size_t)16 << 20)
#define SYNTH_CACHE 1024
#define SYNTH_RATE 20.0
#define SYNTH_BURST 100.0
#define SYNTH_PER_REQUEST 16

typedef struct synth_slot {
    uint64_t tick; /* 0: empty */
    mv_decoy_shape shape;
    mv_decoy_record rec;
} synth_slot;

typedef struct decoy_srv {
    const mv_storage_config *cfg;
    mv_auth_verifier *auth;
    mv_metrics *metrics;
    uint8_t *seed; /* secure memory */
    mv_audit *audit; /* the request log (mv_audit.h); borrowed by the HTTP server */
    char dir[4096];
    decoy_store *store;
    pthread_mutex_t locks[DECOY_LOCKS]; /* serialise the generation of one record's decoy */
    pthread_mutex_t glock;              /* the cache of generated decoys */
    struct gen_slot *gen;
    uint64_t gen_tick;
    size_t gen_bytes;
    uint64_t anchor;      /* the instant invented records are dated before (decoy.seed's mtime) */
    pthread_mutex_t slock; /* the synthetic cache and its generation budget */
    synth_slot *synth;
    uint64_t synth_tick;
    double synth_tokens;
    struct timespec synth_refill;
} decoy_srv;

static void count(decoy_srv *d, const char *name, const char *help, const char *labels, uint64_t n)
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

/* Decoys one request generated whose tags are not durable yet: a bulk read stores them all in
 * one synced transaction (one sync instead of one per decoy: about 4 ms each here) and only
 * then caches them and answers, so no tag is seen before it is durable. Flushed when its
 * decoys hold GEN_BATCH_BYTES. deadline: no generation starts after it (MV_ERR_BUSY). */
typedef struct gen_pending {
    const mv_decoy_shape *s; /* the request's (outlives the batch) */
    mv_buf enc;
    mv_decoy_record rec;
    size_t bytes;
    uint8_t *tags;
} gen_pending;

typedef struct gen_batch {
    gen_pending *v;
    size_t n, cap, bytes;
    struct timespec deadline;
} gen_batch;

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
static mv_err gen_batch_flush(decoy_srv *d, gen_batch *b)
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

static void gen_batch_clear(gen_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        gen_pending_clear(&b->v[i]);
    mv_free(b->v);
    memset(b, 0, sizeof *b);
}

static int past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Calls fn(ctx, decoy) on the decoy of s under the cache lock: the cached one, else generated now
 * (outside the cache lock, under the record's stripe lock, so concurrent readers of one record
 * generate it once), its block tags recorded in the store (so a later block read finds them,
 * also after a restart) and cached. A decoy whose bytes exceed GEN_KEEP_MAX keeps its envelope
 * and tags only: its blocks are regenerated for each read (regen_block). With a batch (a bulk
 * read), a generated decoy waits in the batch for gen_batch_flush (a decoy the batch already
 * holds is served from there), and nothing is generated past the batch's deadline
 * (MV_ERR_BUSY). */
static mv_err with_decoy(decoy_srv *d, const mv_decoy_shape *s, mv_err (*fn)(void *, const mv_decoy_record *),
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
    count(d, "medvault_decoy_generated_total", "Decoys generated on a request (not cached)", NULL, 1);
    if (rec.n_inexact)
        count(d, "medvault_decoy_inexact_parts_total",
              "Decoy parts sized with a stored zstd frame or filler instead of compressed content", NULL, rec.n_inexact);
    if ((rc = tags_of(&rec, &tags)) != MV_OK)
        goto unlock;
    size_t bytes = sizeof(gen_slot) + enc.len + rec.env_len + 32 * rec.n_blocks;
    for (size_t i = 0; keep && i < rec.n_blocks; i++)
        bytes += rec.blocks[i].len;
    if (batch) {
        if (batch->n == batch->cap) {
            size_t nc = batch->cap ? 2 * batch->cap : 64;
            gen_pending *nv = nc <= SIZE_MAX / sizeof *nv ? mv_realloc(batch->v, nc * sizeof *nv) : NULL;
            if (!nv) {
                rc = MV_ERR_NOMEM;
                goto unlock;
            }
            batch->v = nv;
            batch->cap = nc;
        }
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
static mv_err regen_block(decoy_srv *d, const mv_decoy_shape *s, size_t index, const uint8_t tag[32], mv_buf *out)
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
        count(d, "medvault_decoy_blocks_regenerated_total", "Decoy blocks regenerated alone for a read", NULL, 1);
    return rc == MV_ERR_INVAL ? MV_ERR_NOT_FOUND : rc;
}

/* ---------- invented decoys (unverified callers) ---------- */

/* 1 if the caller of f did not prove its key: its answers come from invented shapes. */
static int unverified(const mv_decoy_forward *f)
{
    return f->reason == MV_DECOY_UNAUTHENTICATED || f->reason == MV_DECOY_FORGED;
}

/* Takes one generation from the budget (slock held). */
static int synth_take_token(decoy_srv *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
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
        count(d, "medvault_decoy_synth_refused_total", "Invented decoys not made: budget spent", NULL, 1);
    return ok;
}

/* Appends the envelope of the invented decoy of shape s: the cached one, else generated now
 * (find_shape took the budget for it) and cached. */
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
    count(d, "medvault_decoy_synth_generated_total", "Invented decoys generated for unverified callers", NULL, 1);
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
static mv_err synth_block(decoy_srv *d, const uint8_t tag[32], mv_buf *out)
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
static const mv_decoy_shape *find_shape(decoy_srv *d, const mv_decoy_forward *f, const uint8_t id[16],
                                        mv_decoy_shape *own, int *synth, int *budget)
{
    *synth = 0;
    if (!unverified(f)) {
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
static mv_err decoy_envelope(decoy_srv *d, const mv_decoy_shape *s, int synth, gen_batch *batch, mv_buf *out)
{
    if (synth)
        return synth_envelope(d, s, out);
    return with_decoy(d, s, append_env, out, batch);
}

/* ---------- answers to forwarded requests (mirroring storage_records.c / storage_blocks.c) ---------- */

static int parse_hex(const char *hex, size_t hex_len, uint8_t *out, size_t n)
{
    return mv_hex_decode_exact(out, n, hex, hex_len) == MV_OK ? 0 : -1;
}

static void record_get(decoy_srv *d, const mv_decoy_forward *f, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    char h[65];
    mv_decoy_shape_init(&own);
    if (parse_hex(hex, strlen(hex), id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 32-hex-digit record id");
        return;
    }
    int synth = 0, budget = 1;
    const mv_decoy_shape *s = find_shape(d, f, id, &own, &synth, &budget);
    mv_buf_reset(&resp->body);
    mv_err rc = s ? decoy_envelope(d, s, synth, NULL, &resp->body) : MV_ERR_NOT_FOUND;
    if (rc == MV_ERR_NOT_FOUND) {
        mv_decoy_shape_clear(&own);
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    if (rc == MV_OK && (mv_hex_encode(h, sizeof h, s->owner, 32) != MV_OK ||
                        mv_http_response_header(resp, "MV-Record-Owner", h) != MV_OK))
        rc = MV_ERR_INVAL;
    if (rc == MV_OK && !is_zero(s->patient, 32) &&
        (mv_hex_encode(h, sizeof h, s->patient, 32) != MV_OK ||
         mv_http_response_header(resp, "MV-Record-Patient", h) != MV_OK))
        rc = MV_ERR_INVAL;
    if (rc == MV_OK && !is_zero(s->episode, 16) &&
        (mv_hex_encode(h, sizeof h, s->episode, 16) != MV_OK ||
         mv_http_response_header(resp, "MV-Record-Episode", h) != MV_OK))
        rc = MV_ERR_INVAL;
    mv_decoy_shape_clear(&own);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "decoy record");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
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
    clock_gettime(CLOCK_MONOTONIC, &batch.deadline);
    batch.deadline.tv_sec += GEN_BUDGET_MS / 1000;
    batch.deadline.tv_nsec += (GEN_BUDGET_MS % 1000) * 1000000L;
    if (batch.deadline.tv_nsec >= 1000000000L) {
        batch.deadline.tv_sec++;
        batch.deadline.tv_nsec -= 1000000000L;
    }
    for (uint32_t i = 0; i < ids.count && w.rc == MV_OK && !busy; i++) {
        mv_decoy_shape own;
        uint8_t id[16];
        mv_decoy_shape_init(&own);
        memcpy(id, ids.v + 16 * (size_t)i, 16);
        int synth = 0;
        const mv_decoy_shape *s = find_shape(d, f, id, &own, &synth, &budget);
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
        if (w.rc == MV_OK && batch.bytes >= GEN_BATCH_BYTES && (rc = gen_batch_flush(d, &batch)) != MV_OK)
            mv_frame_answer_fail(&w, rc);
    }
    /* Durable before the answer names a tag; also when the answer is 413 (a client asking again
     * for fewer finds these cached, so every round makes progress). */
    mv_err frc = gen_batch_flush(d, &batch);
    gen_batch_clear(&batch);
    if (busy) {
        /* The generation budget is spent: as the primary answers a bulk read too large for one
         * answer, so the client asks again for half as many (src/client/get.c). */
        count(d, "medvault_decoy_bulk_over_budget_total", "Bulk reads answered 413 when their generation budget ran out",
              NULL, 1);
        mv_http_respond_json_error(resp, 413, "the answer would exceed 256 MiB: ask for fewer records");
        return;
    }
    rc = mv_frame_end(&w);
    if (rc == MV_OK && frc != MV_OK)
        rc = frc;
    if (rc == MV_ERR_TOO_LARGE) {
        mv_http_respond_json_error(resp, 413, "the answer would exceed 256 MiB: ask for fewer records");
        return;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record read");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
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
    const mv_decoy_shape *s = find_shape(d, f, id, &own, &synth, NULL);
    if (!s) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    /* As the primary, with its writer: the ACL starts with the owner, then the patient, then
     * the other readers, among whom a caller who proved its key (a reader of the record) is. */
    mv_store_record_info info;
    storage_info_of_shape(s, &info);
    memcpy(info.readers[info.n_readers++], s->owner, 32);
    if (!is_zero(s->patient, 32) && memcmp(s->patient, s->owner, 32) != 0)
        memcpy(info.readers[info.n_readers++], s->patient, 32);
    if (!synth && !unverified(f) && !is_zero(f->principal, 32) && memcmp(f->principal, s->owner, 32) != 0 &&
        memcmp(f->principal, s->patient, 32) != 0)
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
 * is a decoy's once its envelope was served (with_decoy recorded it): the cache holds recent
 * ones, the store's tag table every one, and the block is regenerated from the shape. */
static mv_err block_read(decoy_srv *d, const uint8_t tag[32], mv_buf *out)
{
    uint8_t id[16];
    uint32_t index = 0;
    mv_decoy_shape sh;
    mv_err rc = decoy_store_tag_get(d->store, tag, id, &index);
    if (rc == MV_ERR_NOT_FOUND || rc == MV_ERR_PARSE)
        return synth_block(d, tag, out);
    if (rc != MV_OK)
        return rc;
    mv_decoy_shape_init(&sh);
    if ((rc = decoy_store_get(d->store, id, &sh)) == MV_OK) {
        struct tag_hit h = {tag, out, 0, 0};
        /* A decoy kept whole serves the block from the cache (generated now if evicted); a
         * larger one regenerates the block alone. */
        if (mv_decoy_shape_bytes(&sh) <= GEN_KEEP_MAX) {
            rc = with_decoy(d, &sh, append_tagged, &h, NULL);
            if (rc == MV_OK && h.found == 0)
                rc = MV_ERR_NOT_FOUND; /* the record's decoy changed since the tag was served */
        }
        if (rc == MV_OK && h.found != 1)
            rc = regen_block(d, &sh, index, tag, out);
    }
    mv_decoy_shape_clear(&sh);
    return rc == MV_ERR_NOT_FOUND || rc == MV_ERR_PARSE ? synth_block(d, tag, out) : rc;
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
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "block read");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
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
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    rc = mv_buf_puts(&b, "{\"results\":[");
    for (size_t i = 0; rc == MV_OK && i < dc.n_tokens; i++)
        rc = mv_buf_puts(&b, i ? ",{\"exists\":false}" : "{\"exists\":false}");
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
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
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    rc = mv_buf_puts(&b, "{\"results\":[");
    for (uint32_t i = 0; rc == MV_OK && i < fb.count; i++)
        rc = mv_buf_puts(&b, i ? ",{\"status\":\"stored\"}" : "{\"status\":\"stored\"}");
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
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
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    rc = mv_buf_puts(&b, "{\"results\":[");
    mv_frame_records_iter(&fr, &it);
    for (uint32_t i = 0; rc == MV_OK && mv_frame_records_next(&it, &rec); i++) {
        rc = mv_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, rec.id, 16);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"status\":\"stored\"}");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
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
    int unv = unverified(f);
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
        n_synth = mv_decoy_synth_list(d->seed, is_zero(f->principal, 32) ? NULL : f->principal, d->anchor,
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
    const mv_decoy_shape *s = find_shape(d, f, id, &own, &synth, NULL);
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

/* Answers the forwarded request f as the primary would for a reader of the decoys. */
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

static void answer(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
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
        mv_http_respond_json_error(resp, 405, "method not allowed");
        if (mv_http_response_header(resp, "Allow", allowed) != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
    }
    char labels[96];
    snprintf(labels, sizeof labels, "endpoint=\"%s\",reason=\"%u\"", label, (unsigned)f->reason);
    count(d, "medvault_decoy_served_total", "Forwarded requests answered with decoys", labels, 1);
    mv_free(path);
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
        count(d, "medvault_decoy_auth_failures_total", "Requests not signed by the primary", NULL, 1);
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
        answer(d, &f, resp);
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
    count(d, "medvault_decoy_shapes_stored_total", "Pushed shapes stored (new or changed)", NULL, stored);
    if (failed)
        count(d, "medvault_decoy_shapes_refused_total", "Pushed shapes no decoy can have", NULL, failed);
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
    clock_gettime(CLOCK_MONOTONIC, &d->synth_refill);
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
    mv_http_server *http = NULL;
    mv_revocation_poller *revocations = NULL;
    char metrics_token[MV_HTTP_METRICS_TOKEN_MAX + 1] = "";
    mv_err rc;
    memset(&d, 0, sizeof d);
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
        (rc = mv_auth_verifier_new(cfg->hospital_pk, cfg->skew_seconds, 1u << 20, &d.auth)) != MV_OK ||
        (rc = mv_metrics_new(&d.metrics)) != MV_OK)
        goto out;
    mv_daemon_block_signals();
    if ((rc = mv_revocation_poller_start_service(cfg->hospital_url, cfg->hospital_pk, cfg->revocation_poll_s, d.auth,
                                                 d.metrics, DECOY_COMPONENT, &revocations)) != MV_OK)
        goto out;
    if ((rc = mv_daemon_metrics_token(cfg->dir, metrics_token, sizeof metrics_token)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot load %s/%s: %s", cfg->dir, MV_DAEMON_METRICS_TOKEN_FILE,
               mv_strerror(rc));
        goto out;
    }
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = cfg->max_body,
        .threads = cfg->threads,
        .handler = handler,
        .ctx = &d,
        .metrics = d.metrics,
        .component = "medvault_decoy",
        .audit = d.audit,
        .body_gate = primary_gate,
        .body_gate_ctx = &d,
        .metrics_token = metrics_token,
        /* Even the request counter of the decoy cloud would move right after an intruder's
         * request to the primary (issue 11, finding 7): nothing without the token. */
        .metrics_private_only = 1,
    };
    if ((rc = storage_add_targets(cfg, d.auth, 0)) != MV_OK)
        goto out;
    if ((rc = mv_http_server_start(&hc, &http)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot listen on %s: %s", cfg->listen, mv_strerror(rc));
        goto out;
    }
    uint16_t port = mv_http_server_port(http);
    if ((rc = storage_add_targets(cfg, d.auth, port)) != MV_OK)
        goto out;
    if (mv_daemon_write_port(cfg->port_file, port) != 0)
        mv_log(MV_LOG_WARN, DECOY_COMPONENT, "cannot write the port file");
    mv_log(MV_LOG_INFO, DECOY_COMPONENT, "decoy cloud listening on port %u", (unsigned)port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, DECOY_COMPONENT, "shutting down");
    rc = MV_OK;
out:
    if (http)
        mv_http_server_stop(http);
    mv_revocation_poller_stop(revocations);
    mv_audit_close(d.audit);
    mv_auth_verifier_free(d.auth);
    mv_metrics_free(d.metrics);
    if (d.seed)
        mv_secure_free(d.seed);
    synth_free(&d);
    for (size_t i = 0; d.gen && i < GEN_CACHE; i++)
        gen_slot_clear(&d.gen[i]);
    mv_free(d.gen);
    decoy_store_close(d.store);
    pthread_mutex_destroy(&d.slock);
    pthread_mutex_destroy(&d.glock);
    mv_wipe(metrics_token, sizeof metrics_token);
    for (size_t i = 0; i < DECOY_LOCKS; i++)
        pthread_mutex_destroy(&d.locks[i]);
    return rc;
}
