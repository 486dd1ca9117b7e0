/* put.c - storing records: reads each input, canonicalises and splits a FHIR bundle or
 * chunks an attachment into a batch, and runs the pipeline (one batch filled and compressed
 * here while a worker thread commits the previous one). Only ciphertext, tags and tokens ever
 * leave the machine. */
#include "put_internal.h"
#include "findex.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_cdc.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_canon.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
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
int mvc_put_looks_json(const char *path, const uint8_t *head, size_t len)
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

/* Reads r's bytes: a whole file, an NDJSON line, or a Bundle entry held in memory. */
static mv_err read_input(const struct rec *r, mv_buf *data)
{
    if (r->mem)
        return mv_buf_append(data, r->mem, r->bytes);
    if (!r->slice)
        return mv_file_read(r->path, MAX_JSON_FILE, data);
    if (r->bytes > MAX_JSON_FILE)
        return MV_ERR_TOO_LARGE;
    mv_err rc = mv_buf_reserve(data, (size_t)r->bytes);
    int fd = rc == MV_OK ? open(r->src, O_RDONLY | O_CLOEXEC) : -1;
    if (rc != MV_OK)
        return rc;
    if (fd < 0)
        return MV_ERR_IO;
    size_t got = 0;
    while (got < r->bytes) {
        ssize_t n = pread(fd, data->ptr + data->len + got, (size_t)r->bytes - got, (off_t)(r->off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != r->bytes)
        return MV_ERR_IO;
    data->len += got;
    return MV_OK;
}

/* The MRN a Patient carries in the hospital's identifier system, into r->own_mrn. */
static void own_mrn(mv_client *c, struct rec *r)
{
    const mv_fhir_facts *f = r->facts;
    const char *sys = mvc_mrn_system(c);
    if (strcmp(f->type, "Patient") != 0)
        return;
    for (size_t i = 0; i < f->n_identifiers; i++)
        if (!strcmp(f->identifiers[i].system, sys)) {
            snprintf(r->own_mrn, sizeof r->own_mrn, "%s", f->identifiers[i].value);
            return;
        }
}

/* Leaves r to the run of its registered patient (after this one). */
static void defer(struct put *P, struct rec *r, const char *mrn)
{
    pthread_mutex_lock(&P->mu);
    r->deferred = 1;
    r->complete = 1;
    r->finished = 1;
    snprintf(r->mrn, sizeof r->mrn, "%s", mrn);
    P->st->bytes_in -= r->bytes < P->st->bytes_in ? r->bytes : P->st->bytes_in; /* counted by its own run */
    pthread_mutex_unlock(&P->mu);
}

/* Reads one input and adds its blocks to the batch (flushing when full). A problem with the
 * input itself fails that record only (r->rc); a service failure is returned. An NDJSON file
 * or a split Bundle becomes records of its own, right after it. */
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
    int fhir = 0, part = (r->mem && !r->cached) || r->slice;
    if (!part && mvc_put_is_ndjson(r->path)) {
        /* The batch being committed is waited for first: its failure is the service's. */
        if ((rc = mvc_put_join_worker(P)) != MV_OK)
            goto out;
        if ((rc = mvc_put_expand_ndjson(P, idx)) == MV_ERR_IO || rc == MV_ERR_TOO_LARGE)
            goto fail_rec;
        goto out;
    }
    if (!part && (rc = mv_record_set_name(&r->r, (const uint8_t *)name, strlen(name))) != MV_OK)
        goto fail_rec;
    if (part) {
        /* A line of an NDJSON file or an entry of a Bundle: a FHIR resource or an error. */
        size_t off = 0;
        const char *why = NULL;
        if ((rc = read_input(r, &data)) != MV_OK)
            goto fail_rec;
        rc = mv_json_parse_why((const char *)data.ptr, data.len, NULL, &doc, &off, &why);
        if (rc != MV_OK) {
            said = ingest_err(P, "%s: invalid JSON at byte %zu (%s)", name, off, why);
            goto fail_rec;
        }
        if (mv_json_type_of(doc) != MV_JSON_OBJECT || !mv_json_get_str(doc, "resourceType", NULL)) {
            said = ingest_err(P, "%s: not a FHIR resource (no resourceType)", name);
            rc = MV_ERR_PARSE;
            goto fail_rec;
        }
        fhir = 1;
    } else if (r->bytes <= MAX_JSON_FILE) {
        uint8_t head[64];
        ssize_t got = r->bytes < sizeof head ? (ssize_t)r->bytes : (ssize_t)sizeof head;
        if (r->cached) {
            memcpy(head, r->mem, (size_t)got); /* read by the prescan */
        } else {
            int fd = open(r->path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                rc = MV_ERR_IO;
                goto fail_rec;
            }
            got = read(fd, head, sizeof head);
            close(fd);
        }
        if (got < 0) {
            rc = MV_ERR_IO;
            goto fail_rec;
        }
        if (mvc_put_looks_json(r->path, head, (size_t)got)) {
            if ((rc = r->cached ? mv_buf_append(&data, r->mem, (size_t)r->bytes)
                                : mv_file_read(r->path, MAX_JSON_FILE, &data)) != MV_OK)
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
        if (fhir && mvc_put_bundle_splits(doc)) {
            rc = mvc_put_expand_bundle(P, idx, doc);
            goto out;
        }
    }
    if (fhir) {
        r->r.kind = MV_RECORD_FHIR;
        if (!(r->facts = mv_malloc(sizeof *r->facts))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        if ((rc = mv_fhir_facts_of(doc, r->facts)) != MV_OK) {
            said = ingest_err(P, "%s: its resourceType is longer than any FHIR type", name);
            goto fail_rec;
        }
        if (r->facts->id_invalid) {
            said = ingest_err(P, "%s: its id is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)", name);
            rc = MV_ERR_PARSE;
            goto fail_rec;
        }
        own_mrn(c, r);
        if (!c->opt.patient && !P->sub) {
            char mrn[32];
            int reg = 0;
            /* A Patient stored from elsewhere links too: the index is brought up to date first. */
            if (r->facts->patient[0] && (rc = mvc_put_sync_once(P)) != MV_OK)
                goto out;
            mvc_put_patient_of(P, r, mrn);
            if (mrn[0] && (rc = mvc_put_mrn_registered(P, mrn, &reg)) != MV_OK)
                goto out; /* the hospital could not be asked: a service failure */
            if (reg > 0) {
                defer(P, r, mrn);
                rc = MV_OK;
                goto out;
            }
            if (reg < 0) {
                said = ingest_err(P, "%s: names patient %s, and the hospital refused to say whether that patient is "
                                     "registered", name, mrn);
                rc = MV_ERR_FORBIDDEN;
                goto fail_rec;
            }
        }
        if (r->facts->id[0] && (rc = mvc_put_sync_once(P)) != MV_OK)
            goto out; /* the batch being committed failed: a service failure */
        if ((rc = mvc_put_version(P, r, doc, &sp)) != MV_OK) {
            said = ingest_err(P, "%s: cannot split the FHIR resource or give it its version (%s)", name, mv_strerror(rc));
            goto fail_rec;
        }
        if (r->outcome == MV_FHIR_UNCHANGED) {
            r->rc = MV_OK;
            r->complete = 1;
            mvc_put_report(P, r);
            rc = MV_OK;
            goto out;
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
    if (r->cached) {
        /* Done with the prescan's copy (a deferred record reads its file again). */
        mv_wipe(r->mem, (size_t)r->bytes);
        mv_free(r->mem);
        r->mem = NULL;
        r->cached = 0;
    }
    mv_fhir_split_clear(&sp);
    mv_json_free(doc);
    mv_buf_clear(&data);
    return rc;
}

/* Runs the pipeline over P->recs (which ingest may extend). */
static mv_err run(struct put *P)
{
    mv_err rc = MV_OK;
    P->fill = &P->bt[0];
    for (size_t i = 0; i < P->n_recs && rc == MV_OK; i++) {
        if (P->recs[i]->finished)
            continue;
        P->st->bytes_in += P->recs[i]->bytes;
        rc = ingest(P, i);
        if (rc == MV_OK && batch_full(P))
            rc = handoff(P, i + 1);
    }
    if (rc == MV_OK)
        rc = handoff(P, P->n_recs);
    mv_err wrc = mvc_put_join_worker(P);
    if (rc == MV_OK)
        rc = wrc;
    /* Whatever is left unfinished failed with the batch. */
    for (size_t i = 0; i < P->n_recs; i++)
        if (!P->recs[i]->finished) {
            P->recs[i]->rc = rc != MV_OK ? rc : MV_ERR_BAD_STATE;
            mvc_put_report(P, P->recs[i]);
        }
    mvc_put_report_in_order(P);
    for (size_t i = 0; i < 2; i++) {
        mvc_put_batch_free(&P->bt[i]);
        mv_free(P->bt[i].blks);
        P->bt[i].blks = NULL;
        P->bt[i].cap_blks = 0;
    }
    mv_wipe(P->K, sizeof P->K);
    mv_err irc = mvc_put_index_flush(P);
    if (irc != MV_OK)
        mv_log(MV_LOG_WARN, "client", "put: the records are stored, but the local FHIR index could not be written "
                                      "(%s); the next `medvault ls` rebuilds it", mv_strerror(irc));
    return rc;
}

/* Stores the records deferred to registered patients: one run per patient, with the
 * delegation the hospital handed this user (or, without one, each fails as it did before). */
static mv_err run_patients(struct put *P)
{
    mv_client *c = P->c;
    mv_err rc = MV_OK;
    for (size_t i = 0; i < P->n_recs && rc == MV_OK; i++) {
        struct rec *lead = P->recs[i];
        if (!lead->deferred)
            continue;
        char mrn[32];
        memcpy(mrn, lead->mrn, sizeof mrn);
        struct put Q;
        memset(&Q, 0, sizeof Q);
        Q.c = c;
        Q.fn = P->fn;
        Q.fn_ctx = P->fn_ctx;
        Q.st = P->st;
        Q.fx = P->fx;
        Q.sub = 1;
        for (size_t k = i; k < P->n_recs && rc == MV_OK; k++) {
            struct rec *r = P->recs[k];
            if (!r->deferred || strcmp(r->mrn, mrn) != 0)
                continue;
            r->deferred = 0;
            r->finished = 0;
            r->complete = 0;
            r->rc = MV_OK;
            mv_wipe(r->facts, r->facts ? sizeof *r->facts : 0);
            mv_free(r->facts);
            r->facts = NULL;
            r->own_mrn[0] = 0;
            mv_record_clear(&r->r);
            if ((rc = mv_array_grow(&Q.recs, &Q.cap_recs, Q.n_recs, sizeof *Q.recs, 64)) == MV_OK) {
                Q.recs[Q.n_recs++] = r;
                Q.total_bytes += r->bytes;
            }
        }
        char saved_dept[64] = "";
        pthread_mutex_init(&Q.mu, NULL);
        mv_err prc = rc == MV_OK ? mvc_put_prepare_patient(&Q, mrn, saved_dept) : rc;
        if (rc == MV_OK && prc == MV_OK) {
            rc = run(&Q);
        } else if (rc == MV_OK) {
            /* No delegation (or the look-up failed): these records fail; the put goes on. */
            for (size_t k = 0; k < Q.n_recs; k++) {
                Q.recs[k]->rc = prc;
                Q.recs[k]->complete = 1;
                mvc_put_report(&Q, Q.recs[k]);
            }
            mvc_put_report_in_order(&Q);
            if (prc != MV_ERR_FORBIDDEN && prc != MV_ERR_INVAL)
                rc = prc; /* a service failure stops the put */
        }
        pthread_mutex_destroy(&Q.mu);
        if (saved_dept[0])
            memcpy(c->dept, saved_dept, sizeof c->dept);
        if (Q.first_err != MV_OK && P->first_err == MV_OK)
            P->first_err = Q.first_err;
        mv_free(Q.recs);
        mv_free(Q.mrns);
        mv_wipe(Q.K, sizeof Q.K);
    }
    return rc;
}

/* A put of the files paths[0..n), or (mem not NULL) of one resource mem[0..mem_len) named
 * label. */
static mv_err put_all(mv_client *c, const char *const *paths, size_t n, const uint8_t *mem, size_t mem_len,
                      const char *label, mv_put_fn fn, void *ctx, mv_put_stats *stats)
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
    if (c->opt.patient && (rc = mvc_put_prepare_patient(&P, c->opt.patient, saved_dept)) != MV_OK) {
        if (saved_dept[0]) /* it switched to the delegation's department before failing */
            memcpy(c->dept, saved_dept, sizeof c->dept);
        return rc;
    }
    pthread_mutex_init(&P.mu, NULL);
    if ((rc = mvc_put_fhir_begin(&P)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = mvc_put_expand(&P, paths[i], 0);
    if (mem) {
        struct rec *r = NULL;
        if ((rc = mvc_put_add_rec(&P, label, mem_len, &r)) == MV_OK && !(r->mem = mv_malloc(mem_len ? mem_len : 1)))
            rc = MV_ERR_NOMEM;
        if (rc == MV_OK && mem_len)
            memcpy(r->mem, mem, mem_len);
    }
    if (rc == MV_OK && !c->opt.patient)
        rc = mvc_put_prescan(&P);
    if (rc == MV_OK)
        rc = run(&P);
    if (rc == MV_OK)
        rc = run_patients(&P);
    /* Records left to a patient's run that never ran (the put stopped first) failed. */
    for (size_t i = 0; i < P.n_recs; i++) {
        struct rec *r = P.recs[i];
        if (!r->deferred)
            continue;
        r->deferred = 0;
        r->rc = rc != MV_OK ? rc : MV_ERR_BAD_STATE;
        P.st->failed++;
        if (P.first_err == MV_OK)
            P.first_err = r->rc;
        if (fn) {
            mv_put_result res = {.path = r->path, .rc = r->rc, .bytes = r->bytes};
            fn(ctx, &res);
        }
    }
out:
    mvc_put_fhir_end(&P);
    pthread_mutex_destroy(&P.mu);
    for (size_t i = 0; i < P.n_recs; i++) {
        struct rec *r = P.recs[i];
        mv_record_clear(&r->r);
        if (r->facts)
            mv_wipe(r->facts, sizeof *r->facts);
        mv_free(r->facts);
        if (r->mem)
            mv_wipe(r->mem, (size_t)r->bytes);
        mv_free(r->mem);
        mv_free(r->path);
        mv_free(r);
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

mv_err mv_client_put(mv_client *c, const char *const *paths, size_t n, mv_put_fn fn, void *ctx, mv_put_stats *stats)
{
    return put_all(c, paths, n, NULL, 0, NULL, fn, ctx, stats);
}

/* ---------- one resource (mv_fhirstore.h) ---------- */

/* Writes doc's canonical JSON with "id" set to id into out. */
static mv_err with_id(const mv_json *doc, const char *id, mv_buf *out)
{
    mv_buf text;
    mv_buf_init(&text, MV_FHIR_MAX_BYTES);
    mv_err rc = mv_buf_puts(&text, "{\"id\":");
    if (rc == MV_OK)
        rc = mv_json_write_str(&text, id, strlen(id));
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(doc); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(doc, i, &kl);
        if (kl == 2 && !memcmp(k, "id", 2))
            continue;
        if ((rc = mv_buf_puts(&text, ",")) == MV_OK && (rc = mv_json_write_str(&text, k, kl)) == MV_OK &&
            (rc = mv_buf_puts(&text, ":")) == MV_OK)
            rc = mv_json_write(&text, mv_json_value_at(doc, i));
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&text, "}");
    if (rc == MV_OK)
        rc = mv_canon((const char *)text.ptr, text.len, &(mv_json_limits){MV_FHIR_MAX_BYTES, 0, 0}, out, NULL);
    mv_buf_clear(&text);
    return rc;
}

/* A random (version 4) UUID, lowercase: a new logical id. */
static mv_err new_uuid(char out[37])
{
    uint8_t b[16];
    mv_err rc = mv_random_bytes(b, sizeof b);
    if (rc != MV_OK)
        return rc;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    if ((rc = mv_hex_encode(hex, sizeof hex, b, 16)) != MV_OK)
        return rc;
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return MV_OK;
}

static void capture(void *ctx, const mv_put_result *r)
{
    mv_put_result *out = ctx;
    *out = *r;
    out->path = NULL;
    out->fhir_type = out->fhir_id = NULL;
}

mv_err mv_client_fhir_put(mv_client *c, const uint8_t *json, size_t len, int create, const char *type, const char *id,
                          uint32_t if_match, mv_fhir_put_result *out)
{
    mv_json *doc = NULL;
    mv_buf body;
    char new_id[37], label[MV_FHIR_TYPE_MAX + MV_FHIR_ID_MAX + 2];
    mv_put_result res;
    mv_err rc;
    if (!c || (!json && len) || !type || !out || (!create && !id))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    memset(&res, 0, sizeof res);
    c->err[0] = 0;
    mv_buf_init(&body, MV_FHIR_MAX_BYTES);
    if ((rc = mv_json_parse((const char *)json, len, &(mv_json_limits){MV_FHIR_MAX_BYTES, 0, 0}, &doc, NULL)) != MV_OK) {
        mvc_seterr(c, "the body is not JSON (%s)", mv_strerror(rc));
        rc = MV_ERR_PARSE;
        goto out;
    }
    size_t tl = 0, il = 0;
    const char *rt = mv_json_get_str(doc, "resourceType", &tl), *bid = mv_json_get_str(doc, "id", &il);
    if (mv_json_type_of(doc) != MV_JSON_OBJECT || !rt) {
        mvc_seterr(c, "the body is not a FHIR resource (no resourceType)");
        rc = MV_ERR_PARSE;
        goto out;
    }
    if (tl != strlen(type) || memcmp(rt, type, tl) != 0) {
        mvc_seterr(c, "the body's resourceType is not the type of the URL");
        rc = MV_ERR_INVAL;
        goto out;
    }
    if (create) {
        if ((rc = new_uuid(new_id)) != MV_OK)
            goto out;
        id = new_id;
    } else if (!mv_fhir_id_ok(id, strlen(id)) || !bid || il != strlen(id) || memcmp(bid, id, il) != 0) {
        mvc_seterr(c, "the body's id is not the id of the URL");
        rc = MV_ERR_INVAL;
        goto out;
    }
    if (if_match) {
        mv_fhir_entry e;
        rc = mv_client_fhir_lookup(c, type, id, 0, &e);
        if (rc != MV_OK) {
            mvc_seterr(c, "If-Match names a version of a resource that does not exist");
            goto out;
        }
        if (e.version != if_match) {
            mvc_seterr(c, "version conflict: the latest version is %u, not %u", (unsigned)e.version, (unsigned)if_match);
            rc = MV_ERR_BAD_STATE;
            goto out;
        }
    }
    if ((rc = with_id(doc, id, &body)) != MV_OK)
        goto out;
    snprintf(label, sizeof label, "%s/%s", type, id);
    mv_put_stats st;
    rc = put_all(c, NULL, 0, body.ptr, body.len, label, capture, &res, &st);
    if (rc != MV_OK)
        goto out;
    out->outcome = (mv_fhir_outcome)res.outcome;
    memcpy(out->record_id, res.id, 16);
    out->version = res.version;
    snprintf(out->id, sizeof out->id, "%s", id);
    mv_fhir_entry e;
    if (mv_client_index_entry(c, res.id, &e) == MV_OK)
        snprintf(out->last_updated, sizeof out->last_updated, "%s", e.last_updated);
out:
    mv_json_free(doc);
    mv_buf_clear(&body);
    return rc;
}
