/* put_upload.c - packing and uploading a batch: blocks compressed and made unique,
 * encrypted, deduplicated with proofs of ownership, uploaded in capped FileStore bodies, and
 * the records sealed and stored. Only ciphertext, tags and tokens leave the machine. */
#include "put_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"
#include "net/frames.h"

/* ---------- the batch ---------- */

mv_err mvc_put_add_block(struct put *P, struct rec *r, uint32_t slot, const uint8_t *data, size_t len)
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

void mvc_put_batch_free(struct batch *B)
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

mv_err mvc_put_task_compress(void *ctx, size_t i)
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
        rc = mvc_put_post_json(P, c->dep.storage_url, "/v1/dupcheck", "the storage server", &body, &root);
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
void mvc_put_report(struct put *P, struct rec *r)
{
    pthread_mutex_lock(&P->mu);
    if (r->finished) {
        pthread_mutex_unlock(&P->mu);
        return;
    }
    r->finished = 1;
    if (r->rc == MV_OK && r->outcome == MV_FHIR_UNCHANGED) {
        P->st->unchanged++;
    } else if (r->rc == MV_OK) {
        P->st->records++;
        P->st->blocks += r->r.n_blocks;
        if (r->outcome == MV_FHIR_UPDATED)
            P->st->new_versions++;
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
void mvc_put_report_in_order(struct put *P)
{
    while (P->next_report < P->n_recs && P->recs[P->next_report]->finished) {
        struct rec *r = P->recs[P->next_report++];
        if (r->container || r->deferred)
            continue; /* reported as its resources, or by its patient's run */
        if (r->same_as && r->same_as->rc != MV_OK && r->rc == MV_OK) {
            /* The same content earlier in this put was not stored after all: neither is this. */
            r->rc = r->same_as->rc;
            P->st->unchanged--;
            P->st->failed++;
            if (P->first_err == MV_OK)
                P->first_err = r->rc;
        } else if (r->same_as) {
            memcpy(r->id, r->same_as->id, 16);
        }
        if (P->fn) {
            mv_put_result res = {.path = r->path, .rc = r->rc, .kind = r->r.kind, .bytes = r->bytes,
                                 .blocks = r->r.n_blocks, .outcome = r->outcome, .version = r->version,
                                 .fhir_type = r->facts ? r->facts->type : "", .fhir_id = r->facts ? r->facts->id : ""};
            memcpy(res.id, r->id, 16);
            P->fn(P->fn_ctx, &res);
        }
        if (mvc_put_index_note(P, r) != MV_OK && P->first_err == MV_OK)
            P->first_err = MV_ERR_IO;
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
        mvc_put_report(P, r);
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
mv_err mvc_put_commit(struct put *P, struct batch *B)
{
    mv_client *c = P->c;
    mv_err rc = MV_OK;
    if (B->n_blks) {
        if ((rc = make_unique(B)) != MV_OK || (rc = mvc_put_derive_keys(P, B)) != MV_OK ||
            (rc = mvc_parallel(c->opt.threads, B->n_u, task_encrypt, B)) != MV_OK || (rc = mvc_put_get_tokens(P, B)) != MV_OK ||
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
    mvc_put_batch_free(B);
    return rc;
}
