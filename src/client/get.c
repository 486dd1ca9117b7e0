/* get.c - reading records back: envelopes are opened with the reader's own key on this
 * machine, every block is checked against its tag and decrypted with its MLE key, and FHIR
 * records are reassembled into their canonical form. The services only ever serve ciphertext.
 * Batched: one request for up to 512 envelopes, then their blocks in large parallel requests. */
#include "client_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"
#include "net/frames.h"

#define GROUP_RECORDS 512                  /* envelopes per /v1/records/get */
#define GROUP_PLAIN ((uint64_t)32 << 20)   /* plaintext assembled at once (a slice) */
#define FETCH_BYTES ((size_t)8 << 20)      /* block bytes per /v1/blocks/get */
#define FETCH_TAGS 4096
#define FETCH_PARALLEL 4
#define RECORD_MAX ((uint64_t)16 << 30)      /* content of one record, held whole when reported */

struct one {
    const uint8_t *id;
    mv_err rc;
    mv_record r;
    const uint8_t *env; /* into the envelope answer */
    size_t env_len;
    mv_buf out;
    uint64_t plain;
    void *h; /* the sink's handle while the record is streamed to it (attachments) */
};

struct ctag {
    uint8_t tag[32];
    uint32_t len;  /* ciphertext length expected (as the first envelope naming it declares) */
    const uint8_t *c; /* fetched ciphertext (into one of the group's answers), NULL until fetched */
    size_t c_len;
    int too_large; /* alone, its answer was still over the cap: not the block it claims to be */
};

struct group {
    mv_client *c;
    struct one *recs;
    size_t n;
    struct ctag *tags; /* sorted by tag */
    size_t n_tags;
    uint8_t **answers; /* the block answers the tags point into (owned) */
    size_t n_answers, answers_cap;
    const mv_get_sink *sink; /* NULL: every record goes to the callback whole */
    void *ctx;
    struct work *work; /* the slice's units of work (slice_open) */
    size_t n_work;
};

/* One unit of a slice's assembly: a whole record (block == WHOLE), or one block of an
 * attachment streamed to the sink, written at off. Blocks are units of their own so that a
 * 16 MiB image is decrypted on every core, not on one while the others wait for it. */
#define WHOLE UINT32_MAX
struct work {
    size_t rec; /* index into the slice's records */
    uint32_t block;
    mv_err rc;
    uint64_t off;
};

static int ctag_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static const struct ctag *find_tag(const struct group *g, const uint8_t tag[32])
{
    return bsearch(tag, g->tags, g->n_tags, sizeof *g->tags, ctag_cmp);
}

/* 1 if env has an entry for this user's box key (MVE1 readers, MVE2 extra readers). */
static int has_entry(const mv_client *c, const uint8_t *env, size_t len)
{
    uint8_t pks[MV_ENVELOPE_MAX_READERS * 32];
    size_t n = 0;
    if (mv_envelope_readers(env, len, pks, MV_ENVELOPE_MAX_READERS, &n) != MV_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!memcmp(pks + 32 * i, mv_identity_box_pk(c->id), 32))
            return 1;
    return 0;
}

static mv_err task_open(void *ctx, size_t i)
{
    struct group *g = ctx;
    struct one *o = &g->recs[i];
    if (o->rc != MV_OK)
        return MV_OK;
    mv_envelope_kind kind = 0;
    uint8_t kid[16], K[32];
    if (mv_envelope_kind_of(o->env, o->env_len, &kind, kid) == MV_OK && kind == MV_ENVELOPE_MVK1)
        o->rc = MV_ERR_NOT_FOUND; /* a keyset, not a record a user reads (decision 0010) */
    else if (kind == MV_ENVELOPE_MVE2 && mvc_keyset_lookup(g->c, kid, K))
        o->rc = mv_envelope2_open(o->id, o->env, o->env_len, K, &o->r);
    /* Her own entry before any delegated key: a delegation is only for records that do not
     * name her, and never replaces a key of hers. */
    else if (!has_entry(g->c, o->env, o->env_len) && mvc_pre_record_key(g->c, o->id, K)) /* R, delegated */
        o->rc = mv_envelope_open_with_key(o->id, o->env, o->env_len, K, &o->r);
    else /* MVE1, or MVE2 for an extra reader (one record shared with her alone) */
        o->rc = mv_envelope_open(o->id, o->env, o->env_len, mv_identity_box_pk(g->c->id),
                                 mv_identity_box_sk(g->c->id), &o->r);
    mv_wipe(K, sizeof K);
    /* The sizes are the writer's claims: one that cannot be returned fails here, before any
     * block is fetched or decrypted for it. */
    for (size_t b = 0; o->rc == MV_OK && b < o->r.n_blocks; b++) {
        uint64_t pl = o->r.blocks[b].plain_len;
        if (pl > RECORD_MAX - o->plain)
            o->rc = MV_ERR_TOO_LARGE;
        else
            o->plain += pl;
    }
    return MV_OK;
}

/* Opens, once per run, the keysets the MVE2 envelopes among recs[0..n) name (one batched
 * request for those not yet open). */
static mv_err open_keysets(mv_client *c, const struct one *recs, size_t n)
{
    uint8_t *kids = mv_mallocarray(n ? n : 1, 16);
    size_t nk = 0;
    mv_err rc;
    if (!kids)
        return MV_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        mv_envelope_kind kind;
        if (recs[i].rc == MV_OK &&
            mv_envelope_kind_of(recs[i].env, recs[i].env_len, &kind, kids + 16 * nk) == MV_OK &&
            kind == MV_ENVELOPE_MVE2)
            nk++;
    }
    rc = mvc_keysets_fetch(c, kids, nk, NULL);
    /* Keysets that do not name this user, and records she has no entry in: a delegation
     * through the clouds may cover them (docs/pre.md 7.4), one round of cfrags per delegation
     * per run. */
    mvc_pre_want *want = rc == MV_OK && n ? mv_mallocarray(n, sizeof *want) : NULL;
    size_t nw = 0, k = 0;
    uint8_t K[32];
    if (rc == MV_OK && n && !want)
        rc = MV_ERR_NOMEM;
    for (size_t i = 0; want && i < n; i++) {
        mv_envelope_kind kind;
        if (recs[i].rc != MV_OK || mv_envelope_kind_of(recs[i].env, recs[i].env_len, &kind, NULL) != MV_OK ||
            kind == MV_ENVELOPE_MVK1)
            continue;
        int by_keyset = kind == MV_ENVELOPE_MVE2 && mvc_keyset_lookup(c, kids + 16 * k, K);
        if (!by_keyset && !has_entry(c, recs[i].env, recs[i].env_len))
            want[nw++] = (mvc_pre_want){recs[i].id, recs[i].env, recs[i].env_len};
        k += kind == MV_ENVELOPE_MVE2;
    }
    mv_wipe(K, sizeof K);
    if (rc == MV_OK && nw)
        rc = mvc_pre_resolve(c, want, nw);
    mv_free(want);
    mv_free(kids);
    return rc;
}

/* POST /v1/records/get for ids[0..n) (recs[i].id == ids + 16 * i): fills env/env_len or rc for
 * each. resp owns the bytes. */
static mv_err fetch_envelopes(mv_client *c, const uint8_t *ids, struct one *recs, size_t n, mv_buf *resp)
{
    mv_frame_iter it;
    mv_err rc = mvc_records_get(c, ids, n, resp, &it);
    if (rc != MV_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t st = 0;
        (void)mv_frame_answer_next(&it, &st, &recs[i].env, &recs[i].env_len); /* n items, all checked */
        recs[i].rc = st == MV_FRAME_RECORD_OK ? MV_OK : st == MV_FRAME_RECORD_NOT_FOUND ? MV_ERR_NOT_FOUND
                                                                                          : MV_ERR_FORBIDDEN;
    }
    return MV_OK;
}

/* 1 if a block request failed because its answer was too large: the server's 413, or more
 * than the response cap here. The sizes a request is planned with are those the envelopes
 * declare, and an envelope is written by whoever stored the record. */
static int answer_too_large(const mv_httpc_call *cl)
{
    return cl->rc == MV_ERR_TOO_LARGE || (cl->rc == MV_OK && cl->status == 413);
}

/* Fetches g->tags[0..n_tags) in requests of bounded size, FETCH_PARALLEL at a time. The
 * requests are planned with the lengths the envelopes declare; a request whose answer turns
 * out too large (a record lied about its blocks) is split in two and asked again, down to one
 * tag, whose answer always fits (one block is at most 8 MiB): a hostile record then fails
 * alone (its tag is marked too_large) instead of stopping everyone's blocks. */
static mv_err fetch_tags(struct group *g)
{
    struct span {
        size_t from, to;
    } *spans = NULL;
    mv_client *c = g->c;
    static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    size_t n_spans = 0;
    mv_err rc = MV_OK;
    if (g->n_tags == 0)
        return MV_OK;
    /* Spans waiting are disjoint and non-empty: never more than n_tags of them. */
    if (!(spans = mv_mallocarray(g->n_tags, sizeof *spans)))
        return MV_ERR_NOMEM;
    spans[n_spans++] = (struct span){0, g->n_tags};
    while (n_spans && rc == MV_OK) {
        mv_httpc_call calls[FETCH_PARALLEL];
        mv_buf bodies[FETCH_PARALLEL];
        char urls[FETCH_PARALLEL][MV_DEPLOY_URL_MAX + 32];
        size_t from[FETCH_PARALLEL], to[FETCH_PARALLEL], nc = 0;
        while (nc < FETCH_PARALLEL && n_spans && rc == MV_OK) {
            struct span sp = spans[--n_spans];
            size_t i = sp.from, j = i, bytes = 0;
            while (j < sp.to && j - i < FETCH_TAGS && (j == i || bytes + g->tags[j].len <= FETCH_BYTES))
                bytes += g->tags[j++].len;
            if (j < sp.to)
                spans[n_spans++] = (struct span){j, sp.to};
            mv_frame_writer w;
            mv_buf_init(&bodies[nc], 8 + 32 * (j - i));
            mv_frame_blocks_get_begin(&w, &bodies[nc]);
            for (size_t k = i; k < j; k++)
                mv_frame_blocks_get_add(&w, g->tags[k].tag);
            rc = mv_frame_end(&w);
            if (rc == MV_OK)
                rc = mvc_call_setup(&calls[nc], urls[nc], sizeof urls[nc], c->dep.storage_url, "/v1/blocks/get", "POST",
                                    bodies[nc].ptr, bodies[nc].len, hdrs);
            if (rc != MV_OK) {
                mv_buf_clear(&bodies[nc]);
                break;
            }
            calls[nc].response.max = FETCH_BYTES + ((size_t)8 << 20);
            /* Room for the answer the envelopes announce (each item adds a status byte and
             * a length): received in place instead of grown by doubling, which copies and
             * wipes the bytes received so far at each step. If the room cannot be had, the
             * answer grows as it arrives. */
            size_t want = bytes + 8 * (j - i) + 64;
            (void)!mv_buf_reserve(&calls[nc].response, want < calls[nc].response.max ? want : calls[nc].response.max);
            from[nc] = i;
            to[nc++] = j;
        }
        if (rc == MV_OK && nc)
            rc = mvc_run(c, calls, nc);
        for (size_t r = 0; r < nc; r++) {
            mv_httpc_call *cl = &calls[r];
            if (rc == MV_OK && answer_too_large(cl)) {
                if (to[r] - from[r] > 1) {
                    size_t mid = from[r] + (to[r] - from[r]) / 2;
                    spans[n_spans++] = (struct span){from[r], mid};
                    spans[n_spans++] = (struct span){mid, to[r]};
                } else {
                    g->tags[from[r]].too_large = 1;
                }
                mv_httpc_call_clear(cl);
                mv_buf_clear(&bodies[r]);
                continue;
            }
            if (rc == MV_OK && cl->rc != MV_OK) {
                rc = cl->rc;
                mvc_seterr(c, "no answer from the storage server (%s)", mv_strerror(rc));
            } else if (rc == MV_OK && cl->status != 200) {
                rc = mvc_status_err(c, "the storage server", cl->status, &cl->response);
            }
            mv_frame_answer a;
            mv_frame_iter it;
            if (rc == MV_OK && mv_frame_blocks_answer_decode(cl->response.ptr, cl->response.len,
                                                             (uint32_t)(to[r] - from[r]), &a, NULL) != MV_OK)
                rc = MV_ERR_PROTOCOL;
            /* The answer is kept until the slice is written and the tags point into it: the
             * blocks are not copied out of it. */
            if (rc == MV_OK &&
                (rc = mv_array_grow(&g->answers, &g->answers_cap, g->n_answers, sizeof *g->answers, 8)) == MV_OK) {
                g->answers[g->n_answers++] = cl->response.ptr;
                mv_frame_answer_iter(&a, &it);
                cl->response.ptr = NULL;
                cl->response.len = cl->response.cap = 0;
            }
            for (size_t k = from[r]; rc == MV_OK && k < to[r]; k++) {
                uint8_t found = 0;
                const uint8_t *p = NULL;
                size_t len = 0;
                (void)mv_frame_answer_next(&it, &found, &p, &len); /* one item per tag, all checked */
                if (found != MV_FRAME_BLOCK_FOUND)
                    continue;
                g->tags[k].c = p ? p : (const uint8_t *)""; /* found, even when empty */
                g->tags[k].c_len = len;
            }
            if (rc == MV_ERR_PROTOCOL)
                mvc_seterr(c, "the storage server sent a malformed block answer");
            mv_httpc_call_clear(cl);
            mv_buf_clear(&bodies[r]);
        }
    }
    mv_free(spans);
    return rc;
}

/* Whether block ref arrived as the envelope declares it (t is its fetched ciphertext, NULL
 * if the server did not have it): MV_OK, MV_ERR_NOT_FOUND or MV_ERR_VERIFY. Its content is
 * checked by open_block. */
static mv_err block_arrived(const mv_block_ref *ref, const struct ctag *t)
{
    if (t && t->too_large)
        return MV_ERR_VERIFY;
    if (!t || !t->c)
        return MV_ERR_NOT_FOUND;
    if (t->c_len < MV_MLE_OVERHEAD || t->c_len != ref->cipher_len)
        return MV_ERR_VERIFY;
    return MV_OK;
}

/* Decrypts C (checked against ref's tag first) and appends the block's plaintext to out.
 * The decrypted (still compressed) bytes go to scratch when it holds scratch_cap >= the
 * ciphertext's length (the caller wipes it), else to memory allocated and wiped here. */
static mv_err open_block(const mv_block_ref *ref, const struct ctag *t, uint8_t *scratch, size_t scratch_cap,
                         mv_buf *out)
{
    mv_err rc = block_arrived(ref, t);
    if (rc != MV_OK)
        return rc;
    if (!mv_mle_tag_ok(t->c, t->c_len, ref->tag))
        return MV_ERR_VERIFY;
    uint8_t *p = scratch && scratch_cap >= t->c_len ? scratch : mv_malloc(t->c_len);
    if (!p)
        return MV_ERR_NOMEM;
    size_t p_len = 0;
    if ((rc = mv_mle_decrypt(ref->key, t->c, t->c_len, p, t->c_len, &p_len)) == MV_OK) {
        size_t before = out->len;
        rc = mv_zstd_decompress(p, p_len, (size_t)ref->plain_len, out);
        if (rc == MV_OK && out->len - before != ref->plain_len)
            rc = MV_ERR_VERIFY;
    }
    if (p != scratch) {
        mv_wipe(p, t->c_len);
        mv_free(p);
    }
    return rc;
}

/* Checks, decrypts and decompresses one block of attachment o and writes its plaintext to
 * the sink at off. */
static mv_err stream_block(const struct group *g, const struct one *o, const mv_block_ref *ref, uint64_t off)
{
    mv_buf plain;
    mv_buf_init(&plain, (size_t)ref->plain_len + 1);
    mv_err rc = open_block(ref, find_tag(g, ref->tag), NULL, 0, &plain);
    if (rc == MV_OK && plain.len && g->sink->write(g->ctx, o->h, off, plain.ptr, plain.len) != 0)
        rc = MV_ERR_IO;
    mv_buf_clear(&plain);
    return rc;
}

static int ref_slot_cmp(const void *a, const void *b)
{
    const mv_block_ref *x = a, *y = b;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static mv_err task_assemble(void *ctx, size_t i)
{
    struct group *g = ctx;
    struct one *o = &g->recs[i];
    mv_record *r = &o->r;
    mv_buf *plains = NULL;
    const uint8_t **ptrs = NULL;
    size_t *lens = NULL;
    uint32_t *slots = NULL;
    mv_err rc = MV_OK;
    if (o->rc != MV_OK)
        return MV_OK;
    if (r->kind == MV_RECORD_ATTACHMENT) {
        if (r->n_blocks > 1)
            qsort(r->blocks, r->n_blocks, sizeof *r->blocks, ref_slot_cmp);
        /* Room for the declared size at once (up to a bound: it is the writer's claim,
         * checked block by block) instead of growing by copies. */
        size_t want = o->plain < GROUP_PLAIN ? (size_t)o->plain : (size_t)GROUP_PLAIN;
        (void)!mv_buf_reserve(&o->out, want);
        for (size_t b = 0; b < r->n_blocks && rc == MV_OK; b++)
            rc = open_block(&r->blocks[b], find_tag(g, r->blocks[b].tag), NULL, 0, &o->out);
        goto out;
    }
    size_t n = r->n_blocks ? r->n_blocks : 1;
    plains = mv_calloc(n, sizeof *plains);
    ptrs = mv_calloc(n, sizeof *ptrs);
    lens = mv_calloc(n, sizeof *lens);
    slots = mv_calloc(n, sizeof *slots);
    if (!plains || !ptrs || !lens || !slots) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t b = 0; b < r->n_blocks && rc == MV_OK; b++) {
        mv_buf_init(&plains[b], (size_t)r->blocks[b].plain_len + 1);
        rc = open_block(&r->blocks[b], find_tag(g, r->blocks[b].tag), NULL, 0, &plains[b]);
        ptrs[b] = plains[b].ptr ? plains[b].ptr : (const uint8_t *)"";
        lens[b] = plains[b].len;
        slots[b] = r->blocks[b].slot;
    }
    if (rc == MV_OK)
        rc = mv_fhir_join(r->skeleton, r->skeleton_len, ptrs, lens, slots, r->n_blocks, &o->out);
out:
    for (size_t b = 0; plains && b < r->n_blocks; b++)
        mv_buf_clear(&plains[b]);
    mv_free(plains);
    mv_free(ptrs);
    mv_free(lens);
    mv_free(slots);
    o->rc = rc;
    return MV_OK;
}

static mv_err task_work(void *ctx, size_t k)
{
    struct group *g = ctx;
    struct work *w = &g->work[k];
    const struct one *o = &g->recs[w->rec];
    if (w->block == WHOLE)
        return task_assemble(ctx, w->rec);
    if (o->rc == MV_OK)
        w->rc = stream_block(g, o, &o->r.blocks[w->block], w->off);
    return MV_OK;
}

/* Frees what slice_fetch and slice_open gathered in g (the answers, the tag index, the
 * units of work). */
static void slice_free(struct group *g)
{
    /* The answers hold ciphertext only (what the server stores, readable by nobody without
     * the block keys): freed without a wipe. */
    for (size_t k = 0; k < g->n_answers; k++)
        mv_free(g->answers[k]);
    mv_free(g->answers);
    g->answers = NULL;
    g->n_answers = g->answers_cap = 0;
    mv_free(g->tags);
    g->tags = NULL;
    g->n_tags = 0;
    mv_free(g->work);
    g->work = NULL;
    g->n_work = 0;
}

/* Fetches the blocks of recs[from..to) into g (g->tags, g->answers; slice_free frees them,
 * also after a failure). */
static mv_err slice_fetch(struct group *g, size_t from, size_t to)
{
    size_t nt = 0;
    for (size_t i = from; i < to; i++)
        if (g->recs[i].rc == MV_OK)
            nt += g->recs[i].r.n_blocks;
    g->tags = mv_calloc(nt ? nt : 1, sizeof *g->tags);
    if (!g->tags)
        return MV_ERR_NOMEM;
    g->n_tags = 0;
    for (size_t i = from; i < to; i++) {
        if (g->recs[i].rc != MV_OK)
            continue;
        for (size_t b = 0; b < g->recs[i].r.n_blocks; b++) {
            memcpy(g->tags[g->n_tags].tag, g->recs[i].r.blocks[b].tag, 32);
            g->tags[g->n_tags++].len = (uint32_t)g->recs[i].r.blocks[b].cipher_len;
        }
    }
    qsort(g->tags, g->n_tags, sizeof *g->tags, ctag_cmp);
    size_t u = 0;
    for (size_t k = 0; k < g->n_tags; k++)
        if (u == 0 || memcmp(g->tags[u - 1].tag, g->tags[k].tag, 32) != 0)
            g->tags[u++] = g->tags[k];
    g->n_tags = u;
    return fetch_tags(g);
}

/* Offers the attachments of recs[from..to) whose blocks all arrived as declared to the sink,
 * in order (one that lacks a block fails here, before anything of it is written), and lists
 * the slice's units of work: one per block of each record the sink took (at the offset the
 * blocks before it declare: each block's length is checked when it is decompressed), one
 * per other record. */
static mv_err slice_open(struct group *g, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        struct one *o = &g->recs[i];
        if (g->sink && o->rc == MV_OK && o->r.kind == MV_RECORD_ATTACHMENT) {
            for (size_t b = 0; b < o->r.n_blocks && o->rc == MV_OK; b++)
                o->rc = block_arrived(&o->r.blocks[b], find_tag(g, o->r.blocks[b].tag));
            void *h = NULL;
            if (o->rc == MV_OK &&
                g->sink->open(g->ctx, o->id, (const char *)o->r.name, o->r.name_len, o->plain, &h) == 0)
                o->h = h;
        }
        n += o->h && o->r.n_blocks ? o->r.n_blocks : 1;
    }
    if (!(g->work = mv_calloc(n ? n : 1, sizeof *g->work)))
        return MV_ERR_NOMEM;
    for (size_t i = from; i < to; i++) {
        struct one *o = &g->recs[i];
        if (!o->h || !o->r.n_blocks) {
            g->work[g->n_work++] = (struct work){.rec = i - from, .block = WHOLE};
            continue;
        }
        if (o->r.n_blocks > 1)
            qsort(o->r.blocks, o->r.n_blocks, sizeof *o->r.blocks, ref_slot_cmp);
        uint64_t off = 0;
        for (size_t b = 0; b < o->r.n_blocks; b++) {
            g->work[g->n_work++] = (struct work){.rec = i - from, .block = (uint32_t)b, .off = off};
            off += o->r.blocks[b].plain_len; /* <= o->plain <= RECORD_MAX (task_open) */
        }
    }
    return MV_OK;
}

/* Assembling one slice (decrypting its blocks and rebuilding its records, on every core),
 * run on a thread of its own while the next slice is fetched. */
struct assembly {
    struct group sub; /* the slice's records and blocks */
    mv_err rc;
};

static void *assembly_main(void *arg)
{
    struct assembly *a = arg;
    a->rc = mvc_parallel(a->sub.c->opt.threads, a->sub.n_work, task_work, &a->sub);
    return NULL;
}

/* Closes the sink's handles of recs[from..to) and, unless rc (the slice's outcome) is an
 * error, reports each record in order. */
static void slice_report(struct group *g, size_t from, size_t to, mv_err rc, mv_get_fn fn, void *ctx)
{
    /* A streamed record fails with its first block that failed. */
    for (size_t k = 0; k < g->n_work; k++) {
        struct one *o = &g->recs[from + g->work[k].rec];
        if (g->work[k].block != WHOLE && g->work[k].rc != MV_OK && o->rc == MV_OK)
            o->rc = g->work[k].rc;
    }
    for (size_t i = from; i < to; i++) {
        struct one *o = &g->recs[i];
        if (o->h) {
            g->sink->close(g->ctx, o->h, rc == MV_OK ? o->rc : rc);
            o->h = NULL;
        }
        if (rc != MV_OK)
            continue;
        if (o->rc != MV_OK && !g->c->err[0])
            mvc_seterr(g->c, "a record could not be read (%s)", mv_strerror(o->rc));
        fn(ctx, o->id, o->rc, (int)o->r.kind, (const char *)o->r.name, o->r.name_len, o->out.ptr, o->out.len);
        mv_buf_clear(&o->out);
        mv_record_clear(&o->r);
    }
}

/* The end of the slice that starts at recs[from]: records up to GROUP_PLAIN of declared
 * plaintext (at least one). */
static size_t slice_end(const struct group *g, size_t from)
{
    size_t to = from;
    uint64_t plain = 0;
    while (to < g->n && (to == from || plain + g->recs[to].plain <= GROUP_PLAIN))
        plain += g->recs[to++].plain;
    return to;
}

/* Fetches, assembles and reports every record of g, slice by slice, in a pipeline: while
 * slice k is decrypted and written (on its own thread and the workers it starts), this
 * thread fetches slice k+1 from the storage server. Each slice is reported (fn, the sink's
 * close) in order on this thread once assembled. A fetch failure stops the run after the
 * slice before it has been reported. */
static mv_err assemble_all(struct group *g, mv_get_fn fn, void *ctx)
{
    struct group cur = *g, next;
    size_t from = 0, to = slice_end(g, 0);
    mv_err rc = g->n ? slice_fetch(&cur, from, to) : MV_OK;
    while (rc == MV_OK && from < g->n) {
        struct assembly a = {.sub = cur, .rc = slice_open(&cur, from, to)};
        a.sub = cur;
        a.sub.recs = cur.recs + from;
        a.sub.n = to - from;
        pthread_t tid;
        int threaded = a.rc == MV_OK && pthread_create(&tid, NULL, assembly_main, &a) == 0;
        if (!threaded && a.rc == MV_OK)
            assembly_main(&a); /* no thread to be had: no overlap, same result */
        size_t nfrom = to, nto = to < g->n ? slice_end(g, to) : to;
        mv_err frc = MV_OK;
        next = *g;
        if (nfrom < g->n)
            frc = slice_fetch(&next, nfrom, nto);
        if (threaded)
            pthread_join(tid, NULL);
        slice_report(&cur, from, to, a.rc, fn, ctx);
        slice_free(&cur);
        rc = a.rc != MV_OK ? a.rc : frc;
        cur = next;
        from = nfrom;
        to = nto;
    }
    slice_free(&cur);
    return rc;
}

mv_err mv_client_get_many(mv_client *c, const uint8_t *ids, size_t n, mv_get_fn fn, void *ctx)
{
    return mv_client_get_many_to(c, ids, n, fn, NULL, ctx);
}

mv_err mv_client_get_many_to(mv_client *c, const uint8_t *ids, size_t n, mv_get_fn fn, const mv_get_sink *sink,
                             void *ctx)
{
    if (!c || (n && !ids) || !fn || (sink && (!sink->open || !sink->write || !sink->close)))
        return MV_ERR_INVAL;
    c->err[0] = 0;
    mv_err rc = MV_OK;
    size_t group = GROUP_RECORDS, m = 0;
    for (size_t base = 0; base < n && rc == MV_OK; base += m) {
        m = n - base < group ? n - base : group;
        struct group g = {.c = c, .n = m, .sink = sink, .ctx = ctx};
        mv_buf resp;
        mv_buf_init(&resp, (size_t)1 << 30);
        g.recs = mv_calloc(m, sizeof *g.recs);
        if (!g.recs) {
            mv_buf_clear(&resp);
            return MV_ERR_NOMEM;
        }
        for (size_t i = 0; i < m; i++) {
            g.recs[i].id = ids + 16 * (base + i);
            mv_record_init(&g.recs[i].r);
            mv_buf_init(&g.recs[i].out, (size_t)RECORD_MAX);
        }
        rc = fetch_envelopes(c, ids + 16 * base, g.recs, m, &resp);
        if (rc == MV_ERR_TOO_LARGE) {
            /* The envelopes did not fit in one answer (their writers chose their sizes): ask
             * for half as many at a time from here on. One that does not fit alone fails by
             * itself and the run goes on. */
            c->err[0] = 0;
            rc = MV_OK;
            if (m > 1) {
                group = m / 2;
                m = 0; /* the same records again */
            } else {
                g.recs[0].rc = MV_ERR_TOO_LARGE;
            }
        }
        if (rc == MV_OK && m)
            rc = open_keysets(c, g.recs, m);
        if (rc == MV_OK && m)
            rc = mvc_parallel(c->opt.threads, m, task_open, &g);
        /* Assemble in slices of bounded plaintext size. */
        if (rc == MV_OK && m)
            rc = assemble_all(&g, fn, ctx);
        for (size_t i = 0; i < g.n; i++) {
            mv_record_clear(&g.recs[i].r);
            mv_buf_clear(&g.recs[i].out);
        }
        mv_free(g.recs);
        mv_buf_clear(&resp);
    }
    return rc;
}

struct single {
    mv_buf *out;
    int *kind;
    char *name;
    size_t name_cap;
    mv_err rc;
};

static void single_cb(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                      const uint8_t *data, size_t len)
{
    struct single *s = ctx;
    (void)id;
    s->rc = rc;
    if (rc != MV_OK)
        return;
    if (len && (s->rc = mv_buf_append(s->out, data, len)) != MV_OK)
        return;
    if (s->kind)
        *s->kind = kind;
    if (s->name && s->name_cap) {
        size_t l = name_len < s->name_cap - 1 ? name_len : s->name_cap - 1;
        if (l)
            memcpy(s->name, name, l);
        s->name[l] = 0;
    }
}

mv_err mv_client_get(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], mv_buf *out, int *kind, char *name,
                     size_t name_cap)
{
    if (!c || !id || !out)
        return MV_ERR_INVAL;
    struct single s = {out, kind, name, name_cap, MV_ERR_NOT_FOUND};
    mv_err rc = mv_client_get_many(c, id, 1, single_cb, &s);
    if (rc == MV_OK)
        rc = s.rc;
    if (rc == MV_ERR_FORBIDDEN && !c->err[0])
        mvc_seterr(c, "not a reader of this record");
    else if (rc == MV_ERR_NOT_FOUND && !c->err[0])
        mvc_seterr(c, "no such record");
    else if (rc != MV_OK && !c->err[0])
        mvc_seterr(c, "the record could not be read");
    return rc;
}
