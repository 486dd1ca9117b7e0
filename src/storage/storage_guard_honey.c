/* storage_guard_honey.c - honeytokens (docs/guard.md): POST /v1/honeytokens plants records
 * nobody can open, stored like any other and known only to the guard, so that reading one
 * raises an alert; GET /v1/honeytokens lists them for the hospital admin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_box.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "storage_guard.h"

static int dept_name_ok(const char *d, size_t n)
{
    if (n == 0 || n > MV_CRED_MAX_DEPT_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* A plausible random shape for a new honeytoken: a patient record of one or two blocks
 * sealed to two throwaway reader keys (nobody can open it). */
static mv_err honey_shape(mv_decoy_shape *sh, const char *dept, const uint8_t owner[32], uint64_t now)
{
    uint8_t box_sk[MV_BOX_SECRET_BYTES];
    mv_err rc = MV_OK;
    mv_decoy_shape_init(sh);
    /* Shaped as real ids are (time first), or the shape alone would tell a honeytoken. */
    if ((rc = mv_record_id_new(sh->id)) != MV_OK)
        return rc;
    snprintf(sh->department, sizeof sh->department, "%s", dept);
    sh->created = now;
    memcpy(sh->owner, owner, 32);
    randombytes_buf(sh->patient, 32);
    randombytes_buf(sh->episode, 16);
    sh->n_readers = 2;
    for (size_t i = 0; rc == MV_OK && i < sh->n_readers; i++)
        rc = mv_box_keypair(sh->readers[i], box_sk);
    mv_wipe(box_sk, sizeof box_sk);
    if (rc != MV_OK)
        return rc;
    sh->n_blocks = 1 + randombytes_uniform(2);
    if (!(sh->block_len = mv_mallocarray(sh->n_blocks, sizeof(uint32_t))))
        return MV_ERR_NOMEM;
    for (uint32_t i = 0; i < sh->n_blocks; i++)
        sh->block_len[i] = 400 + randombytes_uniform(2600);
    sh->env_len = 33 + 112 * sh->n_readers + 160 + 64 * sh->n_blocks + randombytes_uniform(200);
    return MV_OK;
}

/* Stores one generated honeytoken record (blocks then record) owned by owner. */
static mv_err honey_store(storage_srv *s, const mv_decoy_shape *sh, const mv_decoy_record *rec,
                          const uint8_t owner[32], uint64_t now)
{
    mv_store_block_in *bin = NULL;
    uint8_t *tags = NULL;
    mv_err rc = MV_ERR_NOMEM, result = MV_OK;
    if (!(bin = mv_calloc(rec->n_blocks, sizeof *bin)) || !(tags = mv_mallocarray(rec->n_blocks, 32)))
        goto out;
    for (size_t i = 0; i < rec->n_blocks; i++) {
        bin[i].dept = sh->department;
        randombytes_buf(bin[i].token, sizeof bin[i].token);
        memcpy(bin[i].tag, rec->blocks[i].tag, 32);
        bin[i].data = rec->blocks[i].c;
        bin[i].len = rec->blocks[i].len;
        memcpy(bin[i].claimant, owner, 32);
        memcpy(tags + 32 * i, rec->blocks[i].tag, 32);
    }
    if ((rc = mv_store_put_blocks(s->store, bin, rec->n_blocks, NULL)) != MV_OK)
        goto out;
    mv_store_record_in in;
    memset(&in, 0, sizeof in);
    memcpy(in.id, sh->id, 16);
    in.dept = sh->department;
    memcpy(in.owner, owner, 32);
    memcpy(in.patient, sh->patient, 32);
    memcpy(in.episode, sh->episode, 16);
    in.tags = tags;
    in.n_tags = rec->n_blocks;
    in.envelope = rec->env;
    in.envelope_len = rec->env_len;
    if ((rc = mv_store_put_records(s->store, &in, 1, &result, now)) == MV_OK)
        rc = result;
out:
    mv_free(bin);
    mv_free(tags);
    return rc;
}

void storage_guard_honeytokens_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                   mv_http_response *resp)
{
    storage_guard *g = s->guard;
    mv_json *j = NULL;
    mv_buf b;
    uint64_t count = 0, now = (uint64_t)time(NULL);
    size_t dl = 0, planted = 0;
    uint8_t seed[MV_DECOY_SEED_BYTES];
    honeytoken *fresh = NULL;
    mv_err rc;
    mv_buf_init(&b, 1 << 16);
    if (!mv_credential_has_role(cred, MV_ROLE_ADMIN)) {
        mv_http_respond_json_error(resp, 403, "honeytokens are for admins");
        goto out;
    }
    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &j, NULL) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the body must be {\"department\":D,\"count\":N}");
        goto out;
    }
    const char *dept = mv_json_get_str(j, "department", &dl);
    if (!dept || strlen(dept) != dl || !dept_name_ok(dept, dl) || mv_json_get_u64(j, "count", &count) != MV_OK ||
        count == 0 || count > GUARD_PLANT_MAX) {
        mv_http_respond_json_error(resp, 400, "department must be a department name and count 1..100");
        goto out;
    }
    if (!(fresh = mv_calloc((size_t)count, sizeof *fresh))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    randombytes_buf(seed, sizeof seed);
    for (size_t i = 0; i < count; i++) {
        mv_decoy_shape sh;
        mv_decoy_record rec;
        mv_decoy_record_init(&rec);
        rc = honey_shape(&sh, dept, cred->subject, now);
        if (rc == MV_OK)
            rc = mv_decoy_generate(seed, &sh, &rec);
        if (rc == MV_OK) {
            /* The set is written before the record exists: a crash in between leaves an
             * id in the set that nothing stores (harmless), never an unflagged fake. */
            pthread_mutex_lock(&g->lock);
            if (g->n_ht == GUARD_MAX_HONEYTOKENS) {
                rc = MV_ERR_TOO_LARGE;
            } else {
                honeytoken *nv = mv_realloc(g->ht, (g->n_ht + 1) * sizeof *nv);
                rc = nv ? MV_OK : MV_ERR_NOMEM;
                if (nv) {
                    g->ht = nv;
                    memcpy(g->ht[g->n_ht].id, sh.id, 16);
                    snprintf(g->ht[g->n_ht].dept, sizeof g->ht[0].dept, "%s", dept);
                    g->ht[g->n_ht].created = now;
                    g->n_ht++;
                    qsort(g->ht, g->n_ht, sizeof *g->ht, cmp_id16);
                    rc = guard_save_honeytokens(g);
                }
            }
            pthread_mutex_unlock(&g->lock);
        }
        if (rc == MV_OK)
            rc = honey_store(s, &sh, &rec, cred->subject, now);
        if (rc == MV_OK) {
            memcpy(fresh[planted].id, sh.id, 16);
            snprintf(fresh[planted].dept, sizeof fresh[0].dept, "%s", dept);
            fresh[planted].created = now;
            planted++;
            storage_guard_shapes_changed(s, sh.id, 1);
        }
        mv_decoy_record_clear(&rec);
        mv_decoy_shape_clear(&sh);
        if (rc != MV_OK) {
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "planting a honeytoken failed: %s", mv_strerror(rc));
            break;
        }
    }
    if (planted)
        storage_update_gauges(s);
    if (planted == 0) {
        mv_http_respond_json_error(resp, 500, "no honeytoken could be planted");
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "planted", planted);
    mv_jw_key(&w, "honeytokens");
    guard_honeytokens_jw(&w, fresh, planted);
    mv_jw_obj_end(&w);
    rc = mv_jw_finish(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_log(MV_LOG_INFO, STORAGE_COMPONENT, "%zu honeytokens planted", planted);
out:
    mv_wipe(seed, sizeof seed);
    mv_free(fresh);
    mv_json_free(j);
    mv_buf_clear(&b);
}

void storage_guard_honeytokens_get(storage_srv *s, const mv_credential *cred, mv_http_response *resp)
{
    storage_guard *g = s->guard;
    mv_buf b;
    if (!mv_credential_has_role(cred, MV_ROLE_ADMIN)) {
        mv_http_respond_json_error(resp, 403, "honeytokens are for admins");
        return;
    }
    mv_buf_init(&b, GUARD_STATE_MAX);
    pthread_mutex_lock(&g->lock);
    mv_err rc = guard_write_honeytokens(g, &b);
    pthread_mutex_unlock(&g->lock);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}
