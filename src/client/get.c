/* get.c - reading a record back: the envelope is opened with the reader's own key on this
 * machine, every block is checked against its tag and decrypted with its MLE key, and FHIR
 * records are reassembled into their canonical form. The services only ever serve ciphertext. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"

#define MAX_FETCH_BYTES ((size_t)48 << 20) /* block bytes per /v1/blocks/get request */
#define MAX_FETCH_TAGS 4096

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int ref_slot_cmp(const void *a, const void *b)
{
    const mv_block_ref *x = a, *y = b;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Decrypts C (already checked against ref's tag) into the block's plaintext, appended to out. */
static mv_err open_block(const mv_block_ref *ref, const uint8_t *c, size_t c_len, mv_buf *out)
{
    mv_err rc;
    if (c_len < MV_MLE_OVERHEAD || c_len != ref->cipher_len)
        return MV_ERR_VERIFY;
    uint8_t *p = mv_malloc(c_len);
    if (!p)
        return MV_ERR_NOMEM;
    size_t p_len = 0;
    if ((rc = mv_mle_decrypt(ref->key, c, c_len, p, c_len, &p_len)) == MV_OK) {
        size_t before = out->len;
        rc = mv_zstd_decompress(p, p_len, (size_t)ref->plain_len, out);
        if (rc == MV_OK && out->len - before != ref->plain_len)
            rc = MV_ERR_VERIFY;
    }
    mv_wipe(p, c_len);
    mv_free(p);
    return rc;
}

/* Fetches the record's blocks (deduplicated by tag, in requests of bounded size) and fills
 * plains[i] for every block ref i. */
static mv_err fetch_blocks(mv_client *c, const mv_record *r, mv_buf *plains)
{
    size_t n = r->n_blocks, i = 0;
    mv_err rc = MV_OK;
    static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    while (i < n && rc == MV_OK) {
        /* One request: blocks i..j. */
        size_t j = i, bytes = 0;
        while (j < n && j - i < MAX_FETCH_TAGS && (j == i || bytes + r->blocks[j].cipher_len <= MAX_FETCH_BYTES))
            bytes += r->blocks[j++].cipher_len;
        mv_buf body;
        mv_buf_init(&body, 8 + 32 * (j - i));
        uint8_t h[8] = {'M', 'V', 'G', '1'};
        le32(h + 4, (uint32_t)(j - i));
        rc = mv_buf_append(&body, h, 8);
        for (size_t k = i; k < j && rc == MV_OK; k++)
            rc = mv_buf_append(&body, r->blocks[k].tag, 32);
        char url[MV_DEPLOY_URL_MAX + 32];
        mv_httpc_call call;
        if (rc == MV_OK)
            rc = mvc_call_setup(&call, url, sizeof url, c->dep.storage_url, "/v1/blocks/get", "POST", body.ptr,
                                body.len, hdrs);
        if (rc == MV_OK) {
            call.response.max = MAX_FETCH_BYTES + ((size_t)8 << 20);
            rc = mvc_run(c, &call, 1);
            if (rc == MV_OK && call.rc != MV_OK) {
                rc = call.rc;
                mvc_seterr(c, "no answer from the storage server (%s)", mv_strerror(rc));
            } else if (rc == MV_OK && call.status != 200) {
                rc = mvc_status_err(c, "the storage server", call.status, &call.response);
            }
            /* Parse: "MVG1" | count | (found | len | C)* */
            const uint8_t *p = call.response.ptr;
            size_t left = call.response.len;
            if (rc == MV_OK && (left < 8 || memcmp(p, "MVG1", 4) != 0 || rd32(p + 4) != j - i))
                rc = MV_ERR_PROTOCOL;
            p += 8;
            left -= rc == MV_OK ? 8 : 0;
            for (size_t k = i; k < j && rc == MV_OK; k++) {
                if (left < 5) {
                    rc = MV_ERR_PROTOCOL;
                    break;
                }
                uint8_t found = p[0];
                uint32_t len = rd32(p + 1);
                p += 5;
                left -= 5;
                if (!found) {
                    mvc_seterr(c, "the storage server has lost a block of this record");
                    rc = MV_ERR_NOT_FOUND;
                    break;
                }
                if (len > left) {
                    rc = MV_ERR_PROTOCOL;
                    break;
                }
                if (!mv_mle_tag_ok(p, len, r->blocks[k].tag)) {
                    mvc_seterr(c, "a block from the storage server does not match its tag");
                    rc = MV_ERR_VERIFY;
                    break;
                }
                rc = open_block(&r->blocks[k], p, len, &plains[k]);
                if (rc != MV_OK)
                    mvc_seterr(c, "a block of this record does not decrypt (%s)", mv_strerror(rc));
                p += len;
                left -= len;
            }
            if (rc == MV_ERR_PROTOCOL)
                mvc_seterr(c, "the storage server sent a malformed block answer");
            mv_httpc_call_clear(&call);
        }
        mv_buf_clear(&body);
        i = j;
    }
    return rc;
}

mv_err mv_client_get(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], mv_buf *out, int *kind, char *name,
                     size_t name_cap)
{
    char path[64], hex[33];
    long status = 0;
    mv_buf env;
    mv_record r;
    mv_buf *plains = NULL;
    const uint8_t **ptrs = NULL;
    size_t *lens = NULL;
    uint32_t *slots = NULL;
    mv_err rc;
    if (!c || !id || !out)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    mv_record_init(&r);
    mv_buf_init(&env, (size_t)2 << 20);
    if ((rc = mv_hex_encode(hex, sizeof hex, id, MV_CLIENT_ID_BYTES)) != MV_OK)
        goto out;
    snprintf(path, sizeof path, "/v1/records/%s", hex);
    if ((rc = mvc_simple(c, c->dep.storage_url, "GET", path, NULL, 0, NULL, &status, &env)) != MV_OK)
        goto out;
    if (status != 200) {
        rc = mvc_status_err(c, "the storage server", status, &env);
        goto out;
    }
    rc = mv_envelope_open(id, env.ptr, env.len, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), &r);
    if (rc != MV_OK) {
        mvc_seterr(c, rc == MV_ERR_FORBIDDEN ? "the record is not wrapped for this user"
                                             : "the record's envelope does not open (tampered or not ours)");
        goto out;
    }
    if (r.kind == MV_RECORD_ATTACHMENT && r.n_blocks > 1)
        qsort(r.blocks, r.n_blocks, sizeof *r.blocks, ref_slot_cmp);
    plains = mv_calloc(r.n_blocks ? r.n_blocks : 1, sizeof *plains);
    if (!plains) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < r.n_blocks; i++)
        mv_buf_init(&plains[i], (size_t)r.blocks[i].plain_len + 1);
    if ((rc = fetch_blocks(c, &r, plains)) != MV_OK)
        goto out;
    if (r.kind == MV_RECORD_FHIR) {
        ptrs = mv_calloc(r.n_blocks ? r.n_blocks : 1, sizeof *ptrs);
        lens = mv_calloc(r.n_blocks ? r.n_blocks : 1, sizeof *lens);
        slots = mv_calloc(r.n_blocks ? r.n_blocks : 1, sizeof *slots);
        if (!ptrs || !lens || !slots) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < r.n_blocks; i++) {
            ptrs[i] = plains[i].ptr ? plains[i].ptr : (const uint8_t *)"";
            lens[i] = plains[i].len;
            slots[i] = r.blocks[i].slot;
        }
        rc = mv_fhir_join(r.skeleton, r.skeleton_len, ptrs, lens, slots, r.n_blocks, out);
        if (rc != MV_OK)
            mvc_seterr(c, "the record does not reassemble (%s)", mv_strerror(rc));
    } else {
        for (size_t i = 0; i < r.n_blocks && rc == MV_OK; i++)
            if (plains[i].len)
                rc = mv_buf_append(out, plains[i].ptr, plains[i].len);
    }
    if (rc == MV_OK && kind)
        *kind = (int)r.kind;
    if (rc == MV_OK && name && name_cap) {
        size_t l = r.name_len < name_cap - 1 ? r.name_len : name_cap - 1;
        if (l)
            memcpy(name, r.name, l);
        name[l] = 0;
    }
out:
    for (size_t i = 0; plains && i < r.n_blocks; i++)
        mv_buf_clear(&plains[i]);
    mv_free(plains);
    mv_free(ptrs);
    mv_free(lens);
    mv_free(slots);
    mv_record_clear(&r);
    mv_buf_clear(&env);
    return rc;
}
