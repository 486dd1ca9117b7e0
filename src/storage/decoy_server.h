/* decoy_server.h - the decoy cloud's state shared by its modules (decoy_server.c: the cache of
 * generated decoys, invented decoys, routing and start-up; decoy_answers.c: the answers to the
 * requests the primary forwards, as the primary would give them). Internal to libmedvault. */
#ifndef MV_STORAGE_DECOY_SERVER_H
#define MV_STORAGE_DECOY_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "medvault/mv_audit.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_http.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_storage.h"
#include "decoy_store.h"

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

/* Metrics are best effort: a full registry drops the sample, serving goes on. */
void decoy_count(decoy_srv *d, const char *name, const char *help, const char *labels, uint64_t n);

/* The cache of generated decoys (decoy_server.c, where each is described in full). */
/* Stores every decoy of b durably, then caches them; b is empty afterwards, also on error. */
mv_err decoy_gen_batch_flush(decoy_srv *d, gen_batch *b) __attribute__((warn_unused_result));
void decoy_gen_batch_clear(gen_batch *b);
/* Calls fn(ctx, decoy) on the decoy of s under the cache lock (cached, or generated now; with a
 * batch, held in it until decoy_gen_batch_flush). Errors: fn's, MV_ERR_BUSY (past the batch's
 * deadline), those of generation and of the shape store. */
mv_err decoy_with(decoy_srv *d, const mv_decoy_shape *s, mv_err (*fn)(void *, const mv_decoy_record *), void *ctx,
                  gen_batch *batch) __attribute__((warn_unused_result));
/* Appends block index of s's decoy if its tag is tag, regenerating it. MV_ERR_NOT_FOUND: the
 * tag is not that block's. */
mv_err decoy_regen_block(decoy_srv *d, const mv_decoy_shape *s, size_t index, const uint8_t tag[32], mv_buf *out)
    __attribute__((warn_unused_result));

/* Invented decoys for unverified callers (decoy_server.c). */
/* 1 if the caller of f did not prove its key: its answers come from invented shapes. */
int decoy_unverified(const mv_decoy_forward *f);
/* Appends the ciphertext of a cached invented decoy's block: MV_ERR_NOT_FOUND if none has it. */
mv_err decoy_synth_block(decoy_srv *d, const uint8_t tag[32], mv_buf *out) __attribute__((warn_unused_result));
/* The shape the answer to f uses for id (the frame's for a proven caller, an invented one,
 * into own with *synth 1, for an unverified one; budget: the request's invention budget or
 * NULL). NULL: no such record, or no budget left. */
const mv_decoy_shape *decoy_find_shape(decoy_srv *d, const mv_decoy_forward *f, const uint8_t id[16],
                                       mv_decoy_shape *own, int *synth, int *budget);
/* Appends the decoy envelope of s (invented when synth). */
mv_err decoy_envelope(decoy_srv *d, const mv_decoy_shape *s, int synth, gen_batch *batch, mv_buf *out)
    __attribute__((warn_unused_result));

/* Answers the forwarded request f as the primary would for a reader of the decoys
 * (decoy_answers.c). */
void decoy_answer(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp);

#endif
