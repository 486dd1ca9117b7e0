/* put.c - storing records: reads each input, canonicalises and splits a FHIR bundle or
 * chunks an attachment into a batch, and runs the pipeline (one batch filled and compressed
 * here while a worker thread commits the previous one). Only ciphertext, tags and tokens ever
 * leave the machine. */
#include "put_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_cdc.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

static void *worker_main(void *arg)
{
    struct put *P = arg;
    P->worker_rc = mvc_put_commit(P, P->running);
    return NULL;
}

/* Waits for the batch being committed, if any; then reports what finished, in input order.
 * Main thread only. Returns the worker's result. */
mv_err mvc_put_join_worker(struct put *P)
{
    mv_err rc = MV_OK;
    if (P->busy) {
        pthread_join(P->worker, NULL);
        P->busy = 0;
        rc = P->worker_rc;
    }
    if (P->ingest_err[0]) {
        /* The worker may have described a failure since: the input's problem came first. */
        if (rc == MV_OK)
            mvc_seterr(P->c, "%s", P->ingest_err);
        P->ingest_err[0] = 0;
    }
    mvc_put_report_in_order(P);
    return rc;
}

/* Hands the batch being filled over: compresses it here (the worker meanwhile commits the
 * previous one), waits for that commit, then starts committing this batch on the worker for
 * records [0, upto), which are all wholly ingested. With no worker thread to be had, the
 * commit runs here. Main thread only. */
static mv_err handoff(struct put *P, size_t upto)
{
    struct batch *B = P->fill;
    mv_err rc = MV_OK, wrc;
    if (B->n_blks)
        rc = mvc_parallel(P->c->opt.threads, B->n_blks, mvc_put_task_compress, B);
    wrc = mvc_put_join_worker(P);
    if (rc == MV_OK)
        rc = wrc;
    if (rc != MV_OK) {
        mvc_put_batch_free(B);
        return rc;
    }
    P->running = B;
    P->upto = upto;
    P->fill = B == &P->bt[0] ? &P->bt[1] : &P->bt[0];
    if (pthread_create(&P->worker, NULL, worker_main, P) == 0) {
        P->busy = 1;
        return MV_OK;
    }
    return mvc_put_commit(P, B);
}

static int batch_full(const struct put *P)
{
    const struct batch *B = P->fill;
    return B->n_blks >= P->c->opt.batch_blocks || B->batch_bytes >= P->c->opt.batch_bytes;
}

struct chunk_ctx {
    struct put *P;
    struct rec *r;
    size_t idx; /* r's index in P->recs */
    uint32_t slot;
};

static mv_err on_chunk(void *ctx, const uint8_t *chunk, size_t len, uint64_t offset)
{
    struct chunk_ctx *k = ctx;
    (void)offset;
    mv_err rc = mvc_put_add_block(k->P, k->r, k->slot++, chunk, len);
    if (rc == MV_OK && batch_full(k->P))
        rc = handoff(k->P, k->idx); /* the records before this one are whole */
    return rc;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* 1 if the file looks like JSON (first non-blank byte '{' or '[' or a .json name). */
static int looks_json(const char *path, const uint8_t *head, size_t len)
{
    size_t l = strlen(path);
    if (l >= 5 && !strcmp(path + l - 5, ".json"))
        return 1;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = head[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
            continue;
        return ch == '{';
    }
    return 0;
}

/* Describes a problem with an input in P->ingest_err (the main thread's, while the worker
 * may be writing c->err); join_worker passes it on. Returns 1. */
static int ingest_err(struct put *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ingest_err(struct put *P, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->ingest_err, sizeof P->ingest_err, fmt, ap);
    va_end(ap);
    return 1;
}

/* Reads one input and adds its blocks to the batch (flushing when full). A problem with the
 * input itself fails that record only (r->rc); a service failure is returned. */
static mv_err ingest(struct put *P, size_t idx)
{
    mv_client *c = P->c;
    struct rec *r = P->recs[idx];
    int said = 0; /* a precise description of this input's problem is in P->ingest_err */
    const char *name = base_name(r->path);
    mv_err rc;
    mv_buf data;
    mv_json *doc = NULL;
    mv_fhir_split sp;
    if (r->finished)
        return MV_OK; /* an input path that could not be read: failed and reported by mvc_put_expand */
    mv_fhir_split_init(&sp);
    mv_buf_init(&data, MAX_JSON_FILE);
    if ((rc = mv_record_set_name(&r->r, (const uint8_t *)name, strlen(name))) != MV_OK)
        goto fail_rec;
    int fhir = 0;
    if (r->bytes <= MAX_JSON_FILE) {
        int fd = open(r->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = MV_ERR_IO;
            goto fail_rec;
        }
        uint8_t head[64];
        ssize_t got = read(fd, head, sizeof head);
        close(fd);
        if (got < 0) {
            rc = MV_ERR_IO;
            goto fail_rec;
        }
        if (looks_json(r->path, head, (size_t)got)) {
            if ((rc = mv_file_read(r->path, MAX_JSON_FILE, &data)) != MV_OK)
                goto fail_rec;
            size_t off = 0;
            const char *why = NULL;
            rc = mv_json_parse_why((const char *)data.ptr, data.len, NULL, &doc, &off, &why);
            size_t pl = strlen(r->path);
            int named_json = pl >= 5 && !strcmp(r->path + pl - 5, ".json");
            if (rc != MV_OK && named_json) {
                said = ingest_err(P, "%s: invalid JSON at byte %zu (%s)", name, off, why);
                goto fail_rec;
            }
            /* A file not named .json that merely starts with '{' (1 in 256 random files) and
             * does not parse is an attachment like any other binary file. */
            if (rc == MV_OK && mv_json_type_of(doc) == MV_JSON_OBJECT && mv_json_get_str(doc, "resourceType", NULL))
                fhir = 1;
        }
    }
    if (fhir && !c->opt.patient) {
        int reg = 0;
        char mrn[32];
        if ((rc = mvc_put_subject_registered(P, doc, &reg, mrn)) != MV_OK)
            goto out; /* the hospital could not be asked: a service failure */
        if (reg) {
            if (reg > 0)
                said = ingest_err(P, "%s: " NO_DELEGATION_FMT, name, mrn);
            else
                said = ingest_err(P, "%s: names patient %s, and the hospital refused to say whether that patient is "
                              "registered", name, mrn);
            rc = MV_ERR_FORBIDDEN;
            goto fail_rec;
        }
    }
    if (fhir) {
        r->r.kind = MV_RECORD_FHIR;
        if ((rc = mv_fhir_split_doc(c->profiles, doc, &sp)) != MV_OK) {
            said = ingest_err(P, "%s: cannot split the FHIR resource (%s)", name, mv_strerror(rc));
            goto fail_rec;
        }
        if ((rc = mv_record_set_skeleton(&r->r, sp.envelope.ptr, sp.envelope.len)) != MV_OK)
            goto fail_rec;
        for (size_t i = 0; i < sp.n_blocks; i++) {
            if ((rc = mvc_put_add_block(P, r, sp.slots[i], sp.blocks[i].ptr, sp.blocks[i].len)) != MV_OK)
                goto out;
        }
        /* Every record names at least one block (the storage server refuses one that names
         * none: docs/frames.md). A resource that is envelope only (a Patient) gets an empty
         * content object at the root, which the join merges into nothing; it is the same
         * block for every such record, stored once. */
        if (sp.n_blocks == 0 && (rc = mvc_put_add_block(P, r, MV_FHIR_SLOT_ROOT, (const uint8_t *)"{}", 2)) != MV_OK)
            goto out;
        r->complete = 1;
    } else {
        r->r.kind = MV_RECORD_ATTACHMENT;
        mv_cdc_params cp = {c->opt.cdc_min ? c->opt.cdc_min : MV_CDC_MIN, c->opt.cdc_avg ? c->opt.cdc_avg : MV_CDC_AVG,
                            c->opt.cdc_max ? c->opt.cdc_max : MV_CDC_MAX};
        int fd = open(r->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = MV_ERR_IO;
            goto fail_rec;
        }
        struct chunk_ctx k = {P, r, idx, 0};
        rc = mv_cdc_fd(&cp, fd, on_chunk, &k);
        close(fd);
        if (rc != MV_OK) {
            if (rc == MV_ERR_IO)
                goto fail_rec;
            goto out; /* a flush failed: a service problem */
        }
        /* An empty file is one empty chunk: every record names at least one block. */
        if (k.slot == 0 && (rc = mvc_put_add_block(P, r, 0, NULL, 0)) != MV_OK)
            goto out;
        r->complete = 1;
    }
    rc = MV_OK;
    goto out;
fail_rec:
    /* The input is at fault: this record fails, the run goes on. Blocks it already put in
     * the batch are harmless (stored unreferenced, reclaimed by gc). */
    if (!said || rc == MV_ERR_IO)
        (void)ingest_err(P, "%s: cannot read or parse the input (%s)", name, mv_strerror(rc));
    r->rc = rc;
    r->complete = 1;
    r->blocks_total = r->blocks_done; /* never wait for blocks */
    mvc_put_report(P, r);
    rc = MV_OK;
out:
    mv_fhir_split_clear(&sp);
    mv_json_free(doc);
    mv_buf_clear(&data);
    return rc;
}

mv_err mv_client_put(mv_client *c, const char *const *paths, size_t n, mv_put_fn fn, void *ctx, mv_put_stats *stats)
{
    struct put P;
    mv_put_stats local;
    double t0, t1;
    mv_err rc = MV_OK;
    if (!c || (n && !paths))
        return MV_ERR_INVAL;
    memset(&P, 0, sizeof P);
    memset(&local, 0, sizeof local);
    P.c = c;
    P.fn = fn;
    P.fn_ctx = ctx;
    P.st = stats ? stats : &local;
    memset(P.st, 0, sizeof *P.st);
    c->err[0] = 0;
    t0 = mv_mono_seconds();
    if (!c->dept[0]) {
        mvc_seterr(c, "the user's credential names no department to store records in");
        return MV_ERR_FORBIDDEN;
    }
    char saved_dept[64] = "";
    if (c->opt.patient && (rc = mvc_put_prepare_patient(&P, saved_dept)) != MV_OK)
        return rc;
    pthread_mutex_init(&P.mu, NULL);
    P.fill = &P.bt[0];
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = mvc_put_expand(&P, paths[i], 0);
    for (size_t i = 0; i < P.n_recs && rc == MV_OK; i++) {
        P.st->bytes_in += P.recs[i]->bytes;
        rc = ingest(&P, i);
        if (rc == MV_OK && batch_full(&P))
            rc = handoff(&P, i + 1);
    }
    if (rc == MV_OK)
        rc = handoff(&P, P.n_recs);
    mv_err wrc = mvc_put_join_worker(&P);
    if (rc == MV_OK)
        rc = wrc;
    /* Whatever is left unfinished failed with the batch. */
    for (size_t i = 0; i < P.n_recs; i++)
        if (!P.recs[i]->finished) {
            P.recs[i]->rc = rc != MV_OK ? rc : MV_ERR_BAD_STATE;
            mvc_put_report(&P, P.recs[i]);
        }
    mvc_put_report_in_order(&P);
    for (size_t i = 0; i < 2; i++) {
        mvc_put_batch_free(&P.bt[i]);
        mv_free(P.bt[i].blks);
    }
    pthread_mutex_destroy(&P.mu);
    for (size_t i = 0; i < P.n_recs; i++) {
        mv_record_clear(&P.recs[i]->r);
        mv_free(P.recs[i]->path);
        mv_free(P.recs[i]);
    }
    mv_free(P.recs);
    mv_free(P.mrns);
    mv_wipe(P.K, sizeof P.K);
    if (saved_dept[0])
        memcpy(c->dept, saved_dept, sizeof c->dept);
    t1 = mv_mono_seconds();
    P.st->seconds = t1 - t0;
    if (rc == MV_OK)
        rc = P.first_err;
    return rc;
}