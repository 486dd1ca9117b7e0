/* put_toprf.c - the key round of a put: MLE keys derived through the threshold VOPRF (the
 * key servers see only blinded fingerprints) and department tokens from the hospital. */
#include "put_internal.h"

#include <string.h>
#include <sys/stat.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_toprf.h"

/* MLE keys: the local cache first, the threshold VOPRF for the rest (one batch). */
mv_err mvc_put_derive_keys(struct put *P, struct batch *B)
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

mv_err mvc_put_post_json(struct put *P, const char *base, const char *path, const char *what, const mv_buf *body,
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
mv_err mvc_put_get_tokens(struct put *P, struct batch *B)
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
        rc = mvc_put_post_json(P, c->dep.hospital_url, "/v1/tokens", "the hospital", &body, &root);
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
