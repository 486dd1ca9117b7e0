/* put.c - storing records: canonicalise/split or chunk, compress, derive MLE keys through
 * the threshold VOPRF, encrypt, get department tokens, deduplicate with proofs of ownership,
 * and store sealed envelopes. Only ciphertext, tags and tokens ever leave the machine. */
#include "client_internal.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_cdc.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"
#include "medvault/mv_toprf.h"
#include "medvault/mv_zstd.h"
#include "net/frames.h"

#define MAX_JSON_FILE ((size_t)64 << 20)
#define MAX_REQUEST_BYTES ((size_t)32 << 20) /* FileStore bodies are split at this size */
#define MAX_PATH_LEN 4096

/* zstd level of attachment chunks (FHIR content blocks keep MV_ZSTD_LEVEL). Like that level
 * it is part of the dedup format: p, hence fp, key and tag, depend on it, so chunks stored
 * by a client with another level do not deduplicate against these (they stay readable).
 * Measured on the unique FastCDC chunks of `gen-imaging --mib 256 --seed 42`, one thread,
 * reused context (docs/records.md, "Compressing blocks"): level 3 0.485 of the input at
 * 94-113 MB/s, level 2 0.490 at 188-199 MB/s, level 1 0.525 at 204-263 MB/s. Level 2 halves
 * the client's dominant cost for 1% more bytes; level 1 would cost 8% more bytes. An
 * incompressible chunk needs no probe of ours: libzstd 1.5.4 detects it and stores raw
 * blocks at about 2 GB/s (random data and zstd -19 output, measured the same way). */
#define ATTACHMENT_ZSTD_LEVEL 2

struct rec {
    char *path;
    int kind;
    uint64_t bytes;
    mv_record r;
    size_t blocks_total;   /* blocks added to batches */
    size_t blocks_done;    /* blocks whose ref is in r */
    int complete;          /* every block of the input has been added */
    int finished;          /* stored or failed; reported */
    mv_err rc;
    uint8_t id[16];
};

struct blk {
    struct rec *rec;
    uint32_t slot;
    uint8_t *plain;
    size_t plain_len;
    mv_buf p;       /* zstd(plain) */
    int level;      /* zstd level: a part of the dedup format, per kind of record */
    uint8_t fp[32];
    size_t u;       /* index into the unique table */
};

struct uniq {
    uint8_t fp[32], key[32], tag[32], token[32];
    size_t first;   /* the first block with this fingerprint */
    uint8_t *c;
    size_t c_len;
    int exists;
    uint64_t issued;
    uint8_t nonce[16], challenge[32];
};

/* One batch of blocks on their way to the storage server. */
struct batch {
    struct blk *blks;
    size_t n_blks, cap_blks;
    size_t batch_bytes;
    struct uniq *u;
    size_t n_u;
};

struct put {
    mv_client *c;
    mv_put_fn fn;
    void *fn_ctx;
    mv_put_stats *st;
    struct rec **recs;   /* every input, in order */
    size_t n_recs, cap_recs, next_report;
    /* Two batches: the main thread reads, splits, chunks and compresses into *fill while a
     * worker thread commits the other (keys, tokens, dupcheck, upload, seal, store), so the
     * round trips of one batch overlap the local work of the next. */
    struct batch bt[2];
    struct batch *fill;
    pthread_t worker;
    int busy;            /* the worker runs; only the main thread reads or writes this */
    mv_err worker_rc;
    struct batch *running;
    size_t upto;         /* the batch running covers records [0, upto): all wholly ingested */
    /* report() runs on both threads. */
    pthread_mutex_t mu;
    /* Input problems found by the main thread while the worker may be writing c->err: copied
     * there when the worker is joined. */
    char ingest_err[sizeof ((mv_client *)0)->err];
    uint64_t total_bytes, done_bytes;
    mv_err first_err;
    /* opt.patient with a delegation: every record is written for this patient and episode. */
    int for_patient;
    uint8_t pat_sign[32], pat_box[32], episode[16];
    uint8_t dg[MV_DELEGATION_MAX_BYTES];
    size_t dglen;
    /* MRNs named by FHIR subjects (without opt.patient), each looked up once per put. */
    struct mrn_seen {
        char mrn[32];
        int registered; /* 1 registered, 0 not, -1 the hospital refused the look-up */
    } *mrns;
    size_t n_mrns, cap_mrns;
    int have_keyset;
    uint8_t kid[16], K[32]; /* the reader set's keyset (decision 0010); K wiped at the end */
};

static mv_err join_worker(struct put *P);

#define NO_DELEGATION_FMT "no delegation from patient %s for you: the patient signs one at the appointment"

/* ---------- inputs ---------- */

static mv_err add_rec(struct put *P, const char *path, uint64_t size)
{
    mv_err rc = mv_array_grow(&P->recs, &P->cap_recs, P->n_recs, sizeof *P->recs, 64);
    if (rc != MV_OK)
        return rc;
    struct rec *r = mv_calloc(1, sizeof *r);
    if (!r)
        return MV_ERR_NOMEM;
    size_t l = strlen(path);
    r->path = mv_malloc(l + 1);
    if (!r->path) {
        mv_free(r);
        return MV_ERR_NOMEM;
    }
    memcpy(r->path, path, l + 1);
    r->bytes = size;
    mv_record_init(&r->r);
    P->recs[P->n_recs++] = r;
    P->total_bytes += size;
    return MV_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds path (a file, or a directory walked recursively in name order). */
static mv_err expand(struct put *P, const char *path, int depth)
{
    struct stat sb;
    if (depth > 64)
        return MV_ERR_TOO_LARGE;
    if (lstat(path, &sb) != 0) {
        mvc_seterr(P->c, "cannot read an input path (%s)", strerror(errno));
        return MV_ERR_NOT_FOUND;
    }
    if (S_ISREG(sb.st_mode))
        return add_rec(P, path, (uint64_t)sb.st_size);
    if (!S_ISDIR(sb.st_mode))
        return MV_OK; /* symlinks, devices, sockets: skipped */
    DIR *d = opendir(path);
    if (!d) {
        mvc_seterr(P->c, "cannot open an input directory (%s)", strerror(errno));
        return MV_ERR_IO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    mv_err rc = MV_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((rc = mv_array_grow(&names, &cap, n, sizeof *names, 64)) != MV_OK)
            break;
        char *full = mv_malloc(MAX_PATH_LEN);
        if (!full) {
            rc = MV_ERR_NOMEM;
            break;
        }
        if (mv_path_join(full, MAX_PATH_LEN, path, e->d_name) != MV_OK) {
            mv_free(full);
            rc = MV_ERR_TOO_LARGE;
            break;
        }
        names[n++] = full;
    }
    closedir(d);
    if (rc == MV_OK && n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == MV_OK)
            rc = expand(P, names[i], depth + 1);
        mv_free(names[i]);
    }
    mv_free(names);
    return rc;
}

/* ---------- patients ---------- */

/* The MRN a FHIR resource names as its subject ("subject" or "patient" reference
 * "Patient/MRN-<digits>"), copied to mrn; 0 if it names none. Other references cannot be a
 * hospital MRN and are never looked up. */
static int fhir_subject_mrn(const mv_json *doc, char mrn[32])
{
    static const char *const keys[] = {"subject", "patient"};
    for (size_t k = 0; k < 2; k++) {
        size_t l = 0;
        const char *ref = mv_json_get_str(mv_json_get(doc, keys[k]), "reference", &l);
        if (!ref || l < 8 + 5 || l > 8 + 24 || memcmp(ref, "Patient/MRN-", 12) != 0)
            continue;
        size_t i = 12;
        while (i < l && ref[i] >= '0' && ref[i] <= '9')
            i++;
        if (i != l)
            continue;
        memcpy(mrn, ref + 8, l - 8);
        mrn[l - 8] = 0;
        return 1;
    }
    return 0;
}

/* *reg: 1 if doc's subject is a registered patient, -1 if the hospital refused to say, 0
 * otherwise (no MRN subject, or not registered). Each MRN is asked once per put. Returns a
 * service failure (network, unexpected answers). */
static mv_err subject_registered(struct put *P, const mv_json *doc, int *reg, char mrn[32])
{
    *reg = 0;
    if (!fhir_subject_mrn(doc, mrn))
        return MV_OK;
    for (size_t i = 0; i < P->n_mrns; i++)
        if (!strcmp(P->mrns[i].mrn, mrn)) {
            *reg = P->mrns[i].registered;
            return MV_OK;
        }
    /* The look-up shares the client with the worker: wait for it (a new MRN is rare). */
    mv_err rc = join_worker(P);
    if (rc != MV_OK)
        return rc;
    mvc_patient *p = mv_malloc(sizeof *p);
    if (!p)
        return MV_ERR_NOMEM;
    rc = mvc_patient_lookup(P->c, mrn, p);
    if (rc == MV_OK)
        *reg = p->registered;
    else if (rc == MV_ERR_FORBIDDEN) {
        *reg = -1;
        rc = MV_OK;
    }
    mv_wipe(p, sizeof *p);
    mv_free(p);
    if (rc != MV_OK)
        return rc;
    if ((rc = mv_array_grow(&P->mrns, &P->cap_mrns, P->n_mrns, sizeof *P->mrns, 8)) != MV_OK)
        return rc;
    memcpy(P->mrns[P->n_mrns].mrn, mrn, 32);
    P->mrns[P->n_mrns++].registered = *reg;
    return MV_OK;
}

/* opt.patient: looks the MRN up. Not registered: legacy records (author only). Registered:
 * the hospital must have handed this doctor a delegation (for opt.appointment if given),
 * which then rides with every record; the department switches to the delegation's if the
 * user has it. saved_dept receives the department to restore. */
static mv_err prepare_patient(struct put *P, char saved_dept[64])
{
    mv_client *c = P->c;
    const char *mrn = c->opt.patient;
    mvc_patient *p = mv_malloc(sizeof *p);
    mv_credential cred;
    mv_err rc;
    if (!p)
        return MV_ERR_NOMEM;
    if ((rc = mvc_patient_lookup(c, mrn, p)) != MV_OK || !p->registered)
        goto out; /* unregistered: legacy */
    rc = MV_ERR_FORBIDDEN;
    if (!p->has_delegation || memcmp(p->d.doctor, mv_identity_sign_pk(c->id), 32) != 0 ||
        memcmp(p->d.patient, p->sign_pk, 32) != 0) {
        mvc_seterr(c, NO_DELEGATION_FMT, mrn);
        goto out;
    }
    if (c->opt.appointment) {
        uint8_t ep[16];
        if (mv_hex_decode_exact(ep, 16, c->opt.appointment, strlen(c->opt.appointment)) != MV_OK) {
            mvc_seterr(c, "an appointment id is 32 hex digits");
            rc = MV_ERR_INVAL;
            goto out;
        }
        if (memcmp(ep, p->d.appointment, 16) != 0) {
            mvc_seterr(c, "no delegation from patient %s for you for appointment %s: the patient signs one at "
                          "the appointment", mrn, c->opt.appointment);
            goto out;
        }
    }
    if (mv_delegation_verify(&p->d, c->dep.hospital_pk, (uint64_t)time(NULL)) != MV_OK) {
        mvc_seterr(c, "the delegation from patient %s is expired or not countersigned by this hospital", mrn);
        goto out;
    }
    if (strcmp(p->d.department, c->dept) != 0) {
        mv_client_whoami(c, &cred, NULL);
        if (!mv_credential_has_department(&cred, p->d.department)) {
            mvc_seterr(c, "the delegation from patient %s is for department %s, which is not yours", mrn,
                       p->d.department);
            goto out;
        }
        memcpy(saved_dept, c->dept, 64);
        snprintf(c->dept, sizeof c->dept, "%s", p->d.department);
    }
    if ((rc = mv_delegation_encode(&p->d, P->dg, sizeof P->dg, &P->dglen)) != MV_OK)
        goto out;
    memcpy(P->pat_sign, p->sign_pk, 32);
    memcpy(P->pat_box, p->box_pk, 32);
    memcpy(P->episode, p->d.appointment, 16);
    P->for_patient = 1;
out:
    mv_wipe(p, sizeof *p);
    mv_free(p);
    return rc;
}

/* ---------- the batch ---------- */

static mv_err add_block(struct put *P, struct rec *r, uint32_t slot, const uint8_t *data, size_t len)
{
    struct batch *B = P->fill;
    mv_err rc = mv_array_grow(&B->blks, &B->cap_blks, B->n_blks, sizeof *B->blks, 256);
    if (rc != MV_OK)
        return rc;
    struct blk *b = &B->blks[B->n_blks];
    memset(b, 0, sizeof *b);
    b->plain = mv_malloc(len ? len : 1);
    if (!b->plain)
        return MV_ERR_NOMEM;
    if (len)
        memcpy(b->plain, data, len);
    b->plain_len = len;
    b->rec = r;
    b->slot = slot;
    b->level = r->r.kind == MV_RECORD_ATTACHMENT ? ATTACHMENT_ZSTD_LEVEL : MV_ZSTD_LEVEL;
    mv_buf_init(&b->p, len + len / 8 + 1024);
    B->n_blks++;
    B->batch_bytes += len;
    r->blocks_total++;
    return MV_OK;
}

static void batch_free(struct batch *B)
{
    for (size_t i = 0; i < B->n_blks; i++) {
        if (B->blks[i].plain)
            mv_wipe(B->blks[i].plain, B->blks[i].plain_len);
        mv_free(B->blks[i].plain);
        mv_buf_clear(&B->blks[i].p);
    }
    for (size_t i = 0; i < B->n_u; i++) {
        mv_free(B->u[i].c);
        mv_wipe(B->u[i].key, 32);
    }
    mv_free(B->u);
    B->u = NULL;
    B->n_u = 0;
    B->n_blks = 0;
    B->batch_bytes = 0;
}

static mv_err task_compress(void *ctx, size_t i)
{
    struct batch *B = ctx;
    struct blk *b = &B->blks[i];
    mv_err rc = mv_zstd_compress(b->plain, b->plain_len, b->level, &b->p);
    if (rc == MV_OK)
        rc = mv_mle_fingerprint(b->p.ptr ? b->p.ptr : (const uint8_t *)"", b->p.len, b->fp);
    /* Only p goes on: the plaintext is dropped now, not when the batch is committed (two
     * batches are in flight). */
    mv_wipe(b->plain, b->plain_len);
    mv_free(b->plain);
    b->plain = NULL;
    return rc;
}

static mv_err task_encrypt(void *ctx, size_t i)
{
    struct batch *B = ctx;
    struct uniq *u = &B->u[i];
    const mv_buf *p = &B->blks[u->first].p;
    u->c = mv_malloc(p->len + MV_MLE_OVERHEAD);
    if (!u->c)
        return MV_ERR_NOMEM;
    return mv_mle_encrypt(u->key, p->ptr ? p->ptr : (const uint8_t *)"", p->len, u->c, p->len + MV_MLE_OVERHEAD,
                          &u->c_len, u->tag);
}

struct fp_idx {
    uint8_t fp[32];
    size_t i;
};

static int fp_cmp(const void *a, const void *b)
{
    const struct fp_idx *x = a, *y = b;
    int d = memcmp(x->fp, y->fp, 32);
    if (d)
        return d;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Groups the batch's blocks by fingerprint: B->u[0..n_u), blks[i].u. */
static mv_err make_unique(struct batch *B)
{
    struct fp_idx *idx = mv_mallocarray(B->n_blks, sizeof *idx);
    B->u = mv_calloc(B->n_blks, sizeof *B->u);
    if (!idx || !B->u) {
        mv_free(idx);
        return MV_ERR_NOMEM;
    }
    for (size_t i = 0; i < B->n_blks; i++) {
        memcpy(idx[i].fp, B->blks[i].fp, 32);
        idx[i].i = i;
    }
    qsort(idx, B->n_blks, sizeof *idx, fp_cmp);
    for (size_t k = 0; k < B->n_blks; k++) {
        struct blk *b = &B->blks[idx[k].i];
        if (k == 0 || memcmp(idx[k].fp, idx[k - 1].fp, 32) != 0) {
            struct uniq *u = &B->u[B->n_u++];
            memcpy(u->fp, b->fp, 32);
            u->first = idx[k].i;
        }
        b->u = B->n_u - 1;
    }
    mv_free(idx);
    return MV_OK;
}

/* MLE keys: the local cache first, the threshold VOPRF for the rest (one batch). */
static mv_err derive_keys(struct put *P, struct batch *B)
{
    mv_client *c = P->c;
    size_t n_miss = 0;
    size_t *miss = mv_mallocarray(B->n_u ? B->n_u : 1, sizeof *miss);
    const uint8_t **inputs = mv_mallocarray(B->n_u ? B->n_u : 1, sizeof *inputs);
    size_t *lens = mv_mallocarray(B->n_u ? B->n_u : 1, sizeof *lens);
    uint8_t *outs = NULL, *fps = NULL, *keys = NULL;
    mv_err rc = MV_ERR_NOMEM;
    if (!miss || !inputs || !lens)
        goto out;
    for (size_t i = 0; i < B->n_u; i++) {
        if (c->cache && mvc_cache_get(c->cache, B->u[i].fp, B->u[i].key)) {
            P->st->cache_hits++;
            continue;
        }
        inputs[n_miss] = B->u[i].fp;
        lens[n_miss] = 32;
        miss[n_miss++] = i;
    }
    rc = MV_OK;
    if (n_miss == 0)
        goto out;
    outs = mv_mallocarray(n_miss, MV_TOPRF_OUTPUT_BYTES);
    fps = mv_mallocarray(n_miss, 32);
    keys = mv_mallocarray(n_miss, 32);
    if (!outs || !fps || !keys) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    mv_toprf_report rep;
    rc = mv_toprf_evaluate(&c->dep, c->id, inputs, lens, n_miss, outs, NULL, &rep);
    P->st->round_trips += rep.rounds;
    if (rc != MV_OK) {
        mvc_seterr(c, "the key servers could not evaluate the OPRF (%s)", mv_strerror(rc));
        goto out;
    }
    P->st->oprf_evaluations += n_miss;
    for (size_t k = 0; k < n_miss && rc == MV_OK; k++) {
        struct uniq *u = &B->u[miss[k]];
        rc = mv_mle_key(outs + k * MV_TOPRF_OUTPUT_BYTES, u->key);
        memcpy(fps + 32 * k, u->fp, 32);
        memcpy(keys + 32 * k, u->key, 32);
    }
    if (rc == MV_OK && c->cache && mvc_cache_put(c->cache, fps, keys, n_miss) != MV_OK)
        mvc_seterr(c, "could not update the local OPRF cache"); /* not fatal */
out:
    if (outs)
        mv_wipe(outs, n_miss * MV_TOPRF_OUTPUT_BYTES);
    if (keys)
        mv_wipe(keys, n_miss * 32);
    mv_free(outs);
    mv_free(fps);
    mv_free(keys);
    mv_free(miss);
    mv_free(inputs);
    mv_free(lens);
    return rc;
}

/* Appends {"KEY":[hex of u[i].FIELD...] ...} style arrays. */
static mv_err hex_array(mv_buf *b, const struct batch *B, size_t off)
{
    mv_err rc = mv_buf_puts(b, "[");
    for (size_t i = 0; rc == MV_OK && i < B->n_u; i++) {
        if (i)
            rc = mv_buf_puts(b, ",");
        if (rc == MV_OK)
            rc = mv_json_write_hex(b, (const uint8_t *)&B->u[i] + off, 32);
    }
    return rc == MV_OK ? mv_buf_puts(b, "]") : rc;
}

static mv_err post_json(struct put *P, const char *base, const char *path, const char *what, const mv_buf *body,
                        mv_json **root)
{
    long status = 0;
    mv_buf resp;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    mv_err rc = mvc_simple(P->c, base, "POST", path, body->ptr, body->len, "application/json", &status, &resp);
    P->st->round_trips++;
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(P->c, what, status, &resp);
    if (rc == MV_OK && mv_json_parse((const char *)resp.ptr, resp.len, NULL, root, NULL) != MV_OK) {
        mvc_seterr(P->c, "%s sent a malformed answer", what);
        rc = MV_ERR_PROTOCOL;
    }
    mv_buf_clear(&resp);
    return rc;
}

/* Tokens from the hospital (TokenGen for this department). */
static mv_err get_tokens(struct put *P, struct batch *B)
{
    mv_client *c = P->c;
    mv_buf body;
    mv_json *root = NULL;
    mv_buf_init(&body, (size_t)B->n_u * 70 + 256);
    mv_err rc = mv_buf_puts(&body, "{\"departments\":[");
    if (rc == MV_OK)
        rc = mv_json_write_str(&body, c->dept, strlen(c->dept));
    if (rc == MV_OK)
        rc = mv_buf_puts(&body, "],\"tags\":");
    if (rc == MV_OK)
        rc = hex_array(&body, B, offsetof(struct uniq, tag));
    if (rc == MV_OK)
        rc = mv_buf_puts(&body, "}");
    if (rc == MV_OK)
        rc = post_json(P, c->dep.hospital_url, "/v1/tokens", "the hospital", &body, &root);
    if (rc == MV_OK) {
        const mv_json *arr = mv_json_get(mv_json_get(root, "tokens"), c->dept);
        if (mv_json_len(arr) != B->n_u) {
            rc = MV_ERR_PROTOCOL;
            mvc_seterr(c, "the hospital returned the wrong number of tokens");
        }
        for (size_t i = 0; rc == MV_OK && i < B->n_u; i++) {
            size_t l = 0;
            const char *s = mv_json_str(mv_json_at(arr, i), &l);
            if (!s || mv_hex_decode_exact(B->u[i].token, 32, s, l) != MV_OK) {
                rc = MV_ERR_PROTOCOL;
                mvc_seterr(c, "the hospital returned a malformed token");
            }
        }
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

static mv_err dupcheck(struct put *P, struct batch *B)
{
    mv_client *c = P->c;
    mv_buf body;
    mv_json *root = NULL;
    mv_frame_writer w;
    mv_buf_init(&body, (size_t)B->n_u * 70 + 256);
    mv_frame_dupcheck_begin(&w, &body, c->dept);
    for (size_t i = 0; i < B->n_u; i++)
        mv_frame_dupcheck_add(&w, B->u[i].token);
    mv_err rc = mv_frame_end(&w);
    if (rc == MV_OK)
        rc = post_json(P, c->dep.storage_url, "/v1/dupcheck", "the storage server", &body, &root);
    if (rc == MV_OK) {
        const mv_json *arr = mv_json_get(root, "results");
        if (mv_json_len(arr) != B->n_u)
            rc = MV_ERR_PROTOCOL;
        for (size_t i = 0; rc == MV_OK && i < B->n_u; i++) {
            const mv_json *e = mv_json_at(arr, i);
            int ex = 0;
            if (mv_json_bool(mv_json_get(e, "exists"), &ex) != MV_OK) {
                rc = MV_ERR_PROTOCOL;
                break;
            }
            B->u[i].exists = ex;
            if (ex && (mv_json_get_u64(e, "issued", &B->u[i].issued) != MV_OK ||
                       mv_json_get_hex(e, "nonce", B->u[i].nonce, 16) != MV_OK ||
                       mv_json_get_hex(e, "challenge", B->u[i].challenge, 32) != MV_OK))
                rc = MV_ERR_PROTOCOL;
        }
        if (rc == MV_ERR_PROTOCOL)
            mvc_seterr(c, "the storage server sent a malformed dupcheck answer");
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

/* FileStore: uploads for new blocks, proofs of ownership for existing ones, in requests of
 * at most MAX_REQUEST_BYTES sent in parallel. */
static mv_err filestore(struct put *P, struct batch *B)
{
    mv_client *c = P->c;
    size_t n_req = 0, cap_req = 4;
    mv_buf *bodies = mv_calloc(cap_req, sizeof *bodies);
    size_t *first = mv_calloc(cap_req + 1, sizeof *first);
    mv_err rc = MV_OK;
    if (!bodies || !first) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* Build the frames. */
    size_t i = 0;
    while (i < B->n_u && rc == MV_OK) {
        if (n_req == cap_req) {
            size_t nc = cap_req * 2;
            mv_buf *nb = mv_calloc(nc, sizeof *nb);
            size_t *nf = mv_calloc(nc + 1, sizeof *nf);
            if (!nb || !nf) {
                mv_free(nb);
                mv_free(nf);
                rc = MV_ERR_NOMEM;
                break;
            }
            memcpy(nb, bodies, n_req * sizeof *nb);
            memcpy(nf, first, n_req * sizeof *nf);
            mv_free(bodies);
            mv_free(first);
            bodies = nb;
            first = nf;
            cap_req = nc;
        }
        mv_buf *b = &bodies[n_req];
        mv_frame_writer w;
        mv_buf_init(b, MAX_REQUEST_BYTES + ((size_t)16 << 20));
        first[n_req] = i;
        mv_frame_blocks_begin(&w, b, c->dept);
        while (w.rc == MV_OK && i < B->n_u && (w.count == 0 || b->len + B->u[i].c_len + 80 <= MAX_REQUEST_BYTES)) {
            struct uniq *u = &B->u[i];
            uint8_t response[32];
            mv_frame_block item = {.token = u->token, .tag = u->tag};
            if (u->exists) {
                item.kind = MV_FRAME_PROOF;
                item.issued = u->issued;
                item.nonce = u->nonce;
                item.response = response;
                if ((rc = mv_mle_pow_response(u->challenge, u->c, u->c_len, response)) != MV_OK)
                    break;
            } else {
                item.kind = MV_FRAME_UPLOAD;
                item.data = u->c;
                item.len = u->c_len;
            }
            mv_frame_blocks_add(&w, &item);
            mv_wipe(response, sizeof response);
            i++;
        }
        if (rc == MV_OK)
            rc = mv_frame_end(&w);
        n_req++;
    }
    first[n_req] = B->n_u;
    if (rc != MV_OK)
        goto out;
    /* Send them in parallel. */
    mv_httpc_call *calls = mv_calloc(n_req, sizeof *calls);
    char (*urls)[MV_DEPLOY_URL_MAX + 32] = mv_calloc(n_req, sizeof *urls);
    static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    if (!calls || !urls) {
        mv_free(calls);
        mv_free(urls);
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t r = 0; r < n_req && rc == MV_OK; r++)
        rc = mvc_call_setup(&calls[r], urls[r], sizeof urls[r], c->dep.storage_url, "/v1/blocks", "POST",
                            bodies[r].ptr, bodies[r].len, hdrs);
    if (rc == MV_OK)
        rc = mvc_run(c, calls, n_req);
    P->st->round_trips++;
    for (size_t r = 0; r < n_req && rc == MV_OK; r++) {
        mv_json *root = NULL;
        if (calls[r].rc != MV_OK) {
            rc = calls[r].rc;
            mvc_seterr(c, "no answer from the storage server (%s)", mv_strerror(rc));
            break;
        }
        if (calls[r].status != 200) {
            rc = mvc_status_err(c, "the storage server", calls[r].status, &calls[r].response);
            break;
        }
        if (mv_json_parse((const char *)calls[r].response.ptr, calls[r].response.len, NULL, &root, NULL) != MV_OK ||
            mv_json_len(mv_json_get(root, "results")) != first[r + 1] - first[r]) {
            mvc_seterr(c, "the storage server sent a malformed FileStore answer");
            rc = MV_ERR_PROTOCOL;
        }
        for (size_t k = first[r]; rc == MV_OK && k < first[r + 1]; k++) {
            if (B->u[k].exists) {
                P->st->proven_blocks++;
            } else {
                P->st->uploaded_blocks++;
                P->st->uploaded_bytes += B->u[k].c_len;
            }
        }
        mv_json_free(root);
    }
    for (size_t r = 0; r < n_req; r++)
        mv_httpc_call_clear(&calls[r]);
    mv_free(calls);
    mv_free(urls);
out:
    for (size_t r = 0; bodies && r < n_req; r++)
        mv_buf_clear(&bodies[r]);
    mv_free(bodies);
    mv_free(first);
    return rc;
}

/* Counts r as finished (stored or failed). Either thread; r must not be in the other
 * thread's hands (the worker's records are those below P->upto, the main thread's the rest). */
static void report(struct put *P, struct rec *r)
{
    pthread_mutex_lock(&P->mu);
    if (r->finished) {
        pthread_mutex_unlock(&P->mu);
        return;
    }
    r->finished = 1;
    if (r->rc == MV_OK) {
        P->st->records++;
        P->st->blocks += r->r.n_blocks;
    } else {
        P->st->failed++;
        if (P->first_err == MV_OK)
            P->first_err = r->rc;
    }
    P->done_bytes += r->bytes;
    if (P->c->opt.progress)
        P->c->opt.progress(P->c->opt.progress_ctx, P->done_bytes, P->total_bytes);
    pthread_mutex_unlock(&P->mu);
}

/* Calls fn for every finished record at the front of the input order. Main thread, with the
 * worker joined (it clears records the worker may otherwise still be filling in). */
static void report_in_order(struct put *P)
{
    while (P->next_report < P->n_recs && P->recs[P->next_report]->finished) {
        struct rec *r = P->recs[P->next_report++];
        if (P->fn) {
            mv_put_result res = {.path = r->path, .rc = r->rc, .kind = r->r.kind, .bytes = r->bytes,
                                 .blocks = r->r.n_blocks};
            memcpy(res.id, r->id, 16);
            P->fn(P->fn_ctx, &res);
        }
        mv_record_clear(&r->r);
    }
}

static int tag_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

struct seal_job {
    mv_client *c;
    struct rec **recs;
    mv_buf *envs;
    const uint8_t *kid; /* the reader set's keyset (decision 0010) */
    const uint8_t *K;
};

/* Seals one record's envelope as MVE2 under the reader set's keyset: a key derivation and
 * AES-GCM, no public-key operation (compression and encryption: run in parallel). */
static mv_err task_seal(void *ctx, size_t i)
{
    struct seal_job *j = ctx;
    struct rec *r = j->recs[i];
    r->r.created = (uint64_t)time(NULL);
    mv_err rc = mv_record_id_new(r->id);
    if (rc == MV_OK)
        rc = mv_envelope2_seal(r->id, &r->r, j->kid, j->K, &j->envs[i]);
    return rc;
}

/* The keyset of this put's reader set (the author, and the patient with her episode), once
 * per put: from the local cache, or made and stored before the first record that names it. */
static mv_err ensure_keyset(struct put *P)
{
    uint8_t box[64];
    if (P->have_keyset)
        return MV_OK;
    memcpy(box, mv_identity_box_pk(P->c->id), 32);
    if (P->for_patient)
        memcpy(box + 32, P->pat_box, 32);
    mvc_scope s = {
        .episode = P->for_patient ? P->episode : NULL,
        .box_pks = box,
        .n_box = P->for_patient ? 2 : 1,
        .patient = P->for_patient ? P->pat_sign : NULL,
        .delegation = P->for_patient ? P->dg : NULL,
        .delegation_len = P->for_patient ? P->dglen : 0,
        .readers = P->for_patient ? P->pat_sign : NULL,
        .n_readers = P->for_patient ? 1 : 0,
    };
    mv_err rc = mvc_keyset_for(P->c, &s, P->kid, P->K, &P->st->public_key_ops);
    if (rc == MV_OK)
        P->have_keyset = 1;
    return rc;
}

/* The distinct tags record r references, sorted, into tags (room for r->r.n_blocks); *n gets
 * their count. */
static void distinct_tags(const struct rec *r, uint8_t *tags, size_t *n)
{
    size_t nt = r->r.n_blocks, ut = 0;
    for (size_t b = 0; b < nt; b++)
        memcpy(tags + 32 * b, r->r.blocks[b].tag, 32);
    if (nt > 1)
        qsort(tags, nt, 32, tag_cmp);
    for (size_t b = 0; b < nt; b++)
        if (ut == 0 || memcmp(tags + 32 * (ut - 1), tags + 32 * b, 32) != 0)
            memmove(tags + 32 * ut++, tags + 32 * b, 32);
    *n = ut;
}

/* POST /v1/records with one MVP2 frame holding sent[0..) (envs: their sealed envelopes): at
 * most MV_FRAME_MAX_RECORDS records and about MAX_REQUEST_BYTES (always at least one record).
 * *taken receives how many went; each of them is reported. */
static mv_err post_records(struct put *P, struct rec **sent, mv_buf *envs, size_t n, size_t *taken)
{
    mv_client *c = P->c;
    mv_frame_writer w;
    mv_buf body, resp;
    mv_json *root = NULL;
    uint8_t *tags = NULL;
    size_t k = 0;
    long status = 0;
    mv_err rc = MV_OK;
    *taken = 0;
    mv_buf_init(&body, MAX_REQUEST_BYTES + ((size_t)64 << 20));
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    mv_frame_records_begin(&w, &body);
    while (w.rc == MV_OK && k < n && w.count < MV_FRAME_MAX_RECORDS &&
           (k == 0 || body.len + envs[k].len + 32 * sent[k]->r.n_blocks + 512 <= MAX_REQUEST_BYTES)) {
        struct rec *r = sent[k];
        size_t ut = 0;
        mv_free(tags);
        if (!(tags = mv_mallocarray(r->r.n_blocks ? r->r.n_blocks : 1, 32))) {
            rc = MV_ERR_NOMEM;
            break;
        }
        distinct_tags(r, tags, &ut);
        mv_frame_record fr = {
            .id = r->id,
            .dept = c->dept,
            .dept_len = strlen(c->dept),
            .tags = tags,
            .n_tags = ut,
            .envelope = envs[k].ptr,
            .envelope_len = envs[k].len,
        };
        if (P->for_patient) {
            /* Written for the patient: her key and episode, her delegation, and she reads it. */
            fr.patient = P->pat_sign;
            fr.episode = P->episode;
            fr.delegation = P->dg;
            fr.delegation_len = P->dglen;
            fr.readers = P->pat_sign;
            fr.n_readers = 1;
        }
        mv_frame_records_add(&w, &fr);
        P->st->envelope_bytes += envs[k].len;
        k++;
    }
    if (rc == MV_OK)
        rc = mv_frame_end(&w);
    if (rc != MV_OK)
        goto out;
    *taken = k;
    rc = mvc_simple(c, c->dep.storage_url, "POST", "/v1/records", body.ptr, body.len, "application/octet-stream",
                    &status, &resp);
    P->st->round_trips++;
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, "the storage server", status, &resp);
    if (rc == MV_OK && (mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL) != MV_OK ||
                        mv_json_len(mv_json_get(root, "results")) != k)) {
        mvc_seterr(c, "the storage server sent a malformed records answer");
        rc = MV_ERR_PROTOCOL;
    }
    for (size_t i = 0; rc == MV_OK && i < k; i++) {
        const char *st = mv_json_get_str(mv_json_at(mv_json_get(root, "results"), i), "status", NULL);
        struct rec *r = sent[i];
        if (st && !strcmp(st, "stored")) {
            r->rc = MV_OK;
        } else {
            r->rc = st && !strcmp(st, "forbidden") ? MV_ERR_FORBIDDEN
                    : st && !strcmp(st, "exists")  ? MV_ERR_EXISTS
                                                   : MV_ERR_PROTOCOL;
            if (P->for_patient && st && !strcmp(st, "forbidden"))
                mvc_seterr(c, "the storage server refused the patient's delegation (expired, revoked or not for "
                              "this episode and department)");
            else
                mvc_seterr(c, "the storage server refused a record (%s)", st ? st : "no status");
        }
        report(P, r);
    }
out:
    mv_json_free(root);
    mv_free(tags);
    mv_buf_clear(&body);
    mv_buf_clear(&resp);
    return rc;
}

/* Seals and stores every complete record whose blocks are all known. */
static mv_err store_records(struct put *P)
{
    mv_client *c = P->c;
    struct rec **sent = NULL;
    mv_buf *envs = NULL;
    size_t n_sent = 0;
    mv_err rc = MV_OK;
    sent = mv_calloc(P->n_recs ? P->n_recs : 1, sizeof *sent);
    if (!sent)
        return MV_ERR_NOMEM;
    for (size_t k = P->next_report; k < P->upto; k++) {
        struct rec *r = P->recs[k];
        if (!r->finished && r->complete && r->blocks_done == r->blocks_total)
            sent[n_sent++] = r;
    }
    if (n_sent == 0)
        goto out;
    envs = mv_calloc(n_sent, sizeof *envs);
    if (!envs) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < n_sent; k++)
        mv_buf_init(&envs[k], (size_t)1 << 20);
    if ((rc = ensure_keyset(P)) != MV_OK)
        goto out;
    struct seal_job job = {c, sent, envs, P->kid, P->K};
    if ((rc = mvc_parallel(c->opt.threads, n_sent, task_seal, &job)) != MV_OK)
        goto out;
    for (size_t k = 0, taken = 0; k < n_sent && rc == MV_OK; k += taken)
        rc = post_records(P, sent + k, envs + k, n_sent - k, &taken);
out:
    for (size_t k = 0; envs && k < n_sent; k++)
        mv_buf_clear(&envs[k]);
    mv_free(envs);
    mv_free(sent);
    return rc;
}

/* Commits batch B (compressed and fingerprinted already): MLE keys, encryption, tokens,
 * dupcheck, FileStore, then seals and stores the records it completed. Runs on the worker
 * thread; B is emptied whatever happens. */
static mv_err commit(struct put *P, struct batch *B)
{
    mv_client *c = P->c;
    mv_err rc = MV_OK;
    if (B->n_blks) {
        if ((rc = make_unique(B)) != MV_OK || (rc = derive_keys(P, B)) != MV_OK ||
            (rc = mvc_parallel(c->opt.threads, B->n_u, task_encrypt, B)) != MV_OK || (rc = get_tokens(P, B)) != MV_OK ||
            (rc = dupcheck(P, B)) != MV_OK || (rc = filestore(P, B)) != MV_OK)
            goto out;
        P->st->unique_blocks += B->n_u;
        for (size_t i = 0; i < B->n_blks && rc == MV_OK; i++) {
            struct blk *b = &B->blks[i];
            struct uniq *u = &B->u[b->u];
            mv_block_ref ref;
            memset(&ref, 0, sizeof ref);
            memcpy(ref.tag, u->tag, 32);
            memcpy(ref.key, u->key, 32);
            ref.slot = b->slot;
            ref.plain_len = b->plain_len;
            ref.cipher_len = u->c_len;
            rc = mv_record_add_block(&b->rec->r, &ref);
            mv_wipe(&ref, sizeof ref);
            b->rec->blocks_done++;
        }
    }
    if (rc == MV_OK)
        rc = store_records(P);
out:
    batch_free(B);
    return rc;
}

static void *worker_main(void *arg)
{
    struct put *P = arg;
    P->worker_rc = commit(P, P->running);
    return NULL;
}

/* Waits for the batch being committed, if any; then reports what finished, in input order.
 * Main thread only. Returns the worker's result. */
static mv_err join_worker(struct put *P)
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
    report_in_order(P);
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
        rc = mvc_parallel(P->c->opt.threads, B->n_blks, task_compress, B);
    wrc = join_worker(P);
    if (rc == MV_OK)
        rc = wrc;
    if (rc != MV_OK) {
        batch_free(B);
        return rc;
    }
    P->running = B;
    P->upto = upto;
    P->fill = B == &P->bt[0] ? &P->bt[1] : &P->bt[0];
    if (pthread_create(&P->worker, NULL, worker_main, P) == 0) {
        P->busy = 1;
        return MV_OK;
    }
    return commit(P, B);
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
    mv_err rc = add_block(k->P, k->r, k->slot++, chunk, len);
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
            rc = mv_json_parse((const char *)data.ptr, data.len, NULL, &doc, &off);
            size_t pl = strlen(r->path);
            int named_json = pl >= 5 && !strcmp(r->path + pl - 5, ".json");
            if (rc != MV_OK && named_json) {
                said = ingest_err(P, "%s: invalid JSON at byte %zu (%s)", name, off, mv_strerror(rc));
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
        if ((rc = subject_registered(P, doc, &reg, mrn)) != MV_OK)
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
            if ((rc = add_block(P, r, sp.slots[i], sp.blocks[i].ptr, sp.blocks[i].len)) != MV_OK)
                goto out;
        }
        /* Every record names at least one block (the storage server refuses one that names
         * none: docs/frames.md). A resource that is envelope only (a Patient) gets an empty
         * content object at the root, which the join merges into nothing; it is the same
         * block for every such record, stored once. */
        if (sp.n_blocks == 0 && (rc = add_block(P, r, MV_FHIR_SLOT_ROOT, (const uint8_t *)"{}", 2)) != MV_OK)
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
        if (k.slot == 0 && (rc = add_block(P, r, 0, NULL, 0)) != MV_OK)
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
    report(P, r);
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
    if (c->opt.patient && (rc = prepare_patient(&P, saved_dept)) != MV_OK)
        return rc;
    pthread_mutex_init(&P.mu, NULL);
    P.fill = &P.bt[0];
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = expand(&P, paths[i], 0);
    for (size_t i = 0; i < P.n_recs && rc == MV_OK; i++) {
        P.st->bytes_in += P.recs[i]->bytes;
        rc = ingest(&P, i);
        if (rc == MV_OK && batch_full(&P))
            rc = handoff(&P, i + 1);
    }
    if (rc == MV_OK)
        rc = handoff(&P, P.n_recs);
    mv_err wrc = join_worker(&P);
    if (rc == MV_OK)
        rc = wrc;
    /* Whatever is left unfinished failed with the batch. */
    for (size_t i = 0; i < P.n_recs; i++)
        if (!P.recs[i]->finished) {
            P.recs[i]->rc = rc != MV_OK ? rc : MV_ERR_BAD_STATE;
            report(&P, P.recs[i]);
        }
    report_in_order(&P);
    for (size_t i = 0; i < 2; i++) {
        batch_free(&P.bt[i]);
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
