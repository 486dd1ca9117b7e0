/* storage_blocks.c - DupCheck and FileStore: a block is accepted only if SHA-256(C) is its
 * tag, and a reference to a block already held is granted only on a fresh proof of
 * ownership; a batch with any bad item stores nothing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "net/frames.h"
#include "record_meta.h"
#include "storage_internal.h"

#define POW_DOMAIN "medvault-pow-v1"
#define POW_NONCE_BYTES MV_FRAME_NONCE_BYTES

/* The frames module carries the server's own caps (docs/api.md). */
_Static_assert(MV_STORAGE_MAX_BLOCK == MV_FRAME_MAX_BLOCK, "MVB1 block cap");
_Static_assert(MV_STORAGE_MAX_GET == MV_FRAME_MAX_GET, "MVG1/MVQ1 count cap");
_Static_assert(MV_STORAGE_MAX_ENVELOPE == MV_FRAME_MAX_ENVELOPE, "envelope cap");
_Static_assert(MV_STORAGE_MAX_TOKENS == MV_FRAME_MAX_TOKENS, "dupcheck token cap");

/* n = HMAC-SHA-256(pow_key, "medvault-pow-v1" || pk || u8 len(D) || D || token || u64le T ||
 * nonce): a challenge the server can recompute from the proof alone, bound to the caller,
 * the department, the token and the time it was issued (docs/decisions/0004). */
static mv_err pow_challenge(const storage_srv *s, const uint8_t pk[32], const char *dept, const uint8_t token[32],
                            uint64_t issued, const uint8_t nonce[POW_NONCE_BYTES], uint8_t n[32])
{
    uint8_t msg[sizeof POW_DOMAIN - 1 + 32 + 1 + MV_CRED_MAX_DEPT_LEN + 32 + 8 + POW_NONCE_BYTES];
    size_t off = 0, dl = strlen(dept);
    if (dl == 0 || dl > MV_CRED_MAX_DEPT_LEN)
        return MV_ERR_INVAL;
    memcpy(msg, POW_DOMAIN, sizeof POW_DOMAIN - 1);
    off += sizeof POW_DOMAIN - 1;
    memcpy(msg + off, pk, 32);
    off += 32;
    msg[off++] = (uint8_t)dl;
    memcpy(msg + off, dept, dl);
    off += dl;
    memcpy(msg + off, token, 32);
    off += 32;
    for (int i = 0; i < 8; i++)
        msg[off++] = (uint8_t)(issued >> (8 * i));
    memcpy(msg + off, nonce, POW_NONCE_BYTES);
    off += POW_NONCE_BYTES;
    mv_err rc = mv_hmac_sha256(n, s->pow_key, STORAGE_POW_KEY_BYTES, msg, off);
    mv_wipe(msg, sizeof msg);
    return rc;
}

/* ---------- POST /v1/dupcheck ---------- */

void storage_handle_dupcheck(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                             mv_http_response *resp)
{
    mv_frame_dupcheck dc;
    mv_frame_fault fault;
    mv_buf b;
    uint8_t tag[32], n[32], nonce[POW_NONCE_BYTES];
    uint64_t exists = 0, absent = 0;
    mv_err rc = MV_OK;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);

    if ((rc = mv_frame_dupcheck_decode(req->body, req->body_len, &dc, &fault)) != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        goto out;
    }
    const char *dept = dc.dept;
    if (!mv_credential_has_department(cred, dept)) {
        mv_http_respond_json_error(resp, 403, "department not in your credential");
        goto out;
    }
    uint64_t now = (uint64_t)time(NULL);
    mv_jw w;
    storage_results_open(&w, &b);
    rc = MV_OK;
    for (size_t i = 0; rc == MV_OK && i < dc.n_tokens; i++) {
        const uint8_t *token = dc.tokens + 32 * i;
        mv_err lrc = mv_store_token_lookup(s->store, dept, token, tag);
        if (lrc == MV_ERR_NOT_FOUND) {
            absent++;
            storage_result_absent(&w);
            continue;
        }
        if (lrc != MV_OK) {
            storage_respond_store_error(resp, lrc, "token lookup");
            goto out;
        }
        exists++;
        randombytes_buf(nonce, sizeof nonce);
        if ((rc = pow_challenge(s, cred->subject, dept, token, now, nonce, n)) != MV_OK)
            break;
        mv_jw_obj(&w);
        mv_jw_kbool(&w, "exists", 1);
        mv_jw_ku64(&w, "issued", now);
        mv_jw_khex(&w, "nonce", nonce, sizeof nonce);
        mv_jw_khex(&w, "challenge", n, sizeof n);
        mv_jw_obj_end(&w);
    }
    if (rc == MV_OK)
        rc = storage_results_close(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    if (rc == MV_OK) {
        storage_count(s, "medvault_storage_dupcheck_tokens_total", "Tokens checked, by answer", "result=\"exists\"",
                      exists);
        storage_count(s, "medvault_storage_dupcheck_tokens_total", "Tokens checked, by answer", "result=\"absent\"",
                      absent);
    }
out:
    mv_wipe(n, sizeof n);
    mv_wipe(tag, sizeof tag);
    mv_frame_dupcheck_clear(&dc);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/blocks ---------- */

/* Checks one proof: fresh, issued by this server to this caller for this token, the token
 * maps to the tag in dept, and response = HMAC-SHA-256(n, C). 0 if it holds. */
static int proof_ok(storage_srv *s, const mv_credential *cred, const char *dept, const mv_frame_block *it,
                    uint64_t now, mv_buf *c, mv_err *store_err)
{
    uint8_t n[32], tag[32];
    int ok = 0;
    if (it->issued > now + MV_STORAGE_CHALLENGE_TTL || now > it->issued + MV_STORAGE_CHALLENGE_TTL)
        goto out;
    if (pow_challenge(s, cred->subject, dept, it->token, it->issued, it->nonce, n) != MV_OK)
        goto out;
    mv_err rc = mv_store_token_lookup(s->store, dept, it->token, tag);
    if (rc != MV_OK) {
        if (rc != MV_ERR_NOT_FOUND)
            *store_err = rc;
        goto out;
    }
    if (!mv_ct_eq(tag, it->tag, 32))
        goto out;
    mv_buf_reset(c);
    rc = mv_store_block_read(s->store, it->tag, c);
    if (rc != MV_OK) {
        if (rc != MV_ERR_NOT_FOUND)
            *store_err = rc;
        goto out;
    }
    ok = mv_hmac_sha256_verify(it->response, n, sizeof n, c->ptr, c->len) == MV_OK;
out:
    mv_wipe(n, sizeof n);
    return ok ? 0 : -1;
}

void storage_handle_blocks_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                               mv_http_response *resp)
{
    mv_store_block_in *in = NULL;
    mv_store_block_out *outs = NULL;
    mv_frame_blocks fb;
    mv_frame_iter it;
    mv_frame_block item;
    mv_frame_fault fault;
    mv_buf c, b;
    char dept[MV_CRED_MAX_DEPT_LEN + 1], msg[128];
    uint32_t count = 0, i = 0;
    mv_buf_init(&c, MV_STORAGE_MAX_BLOCK);
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);

    /* The whole frame is checked before any of it is acted on. */
    mv_err frc = mv_frame_blocks_decode(req->body, req->body_len, &fb, &fault);
    if (frc != MV_OK) {
        mv_frame_respond_fault(resp, frc, &fault);
        goto out;
    }
    count = fb.count;
    memcpy(dept, fb.dept, fb.dept_len); /* 1..63 bytes without NUL (the decoder checked) */
    dept[fb.dept_len] = 0;
    if (!mv_credential_has_department(cred, dept)) {
        mv_http_respond_json_error(resp, 403, "department not in your credential");
        goto out;
    }
    /* Every upload must hash to its tag: then nobody can poison a tag. */
    mv_frame_blocks_iter(&fb, &it);
    for (i = 0; mv_frame_blocks_next(&it, &item); i++) {
        uint8_t h[32];
        if (item.kind != MV_FRAME_UPLOAD)
            continue;
        if (mv_sha256(h, item.data, item.len) != MV_OK) {
            mv_http_respond_json_error(resp, 500, "internal error");
            goto out;
        }
        if (memcmp(h, item.tag, 32) != 0) {
            snprintf(msg, sizeof msg, "tag does not match ciphertext (item %u); nothing stored", (unsigned)i);
            mv_http_respond_json_error(resp, 400, msg);
            storage_count(s, "medvault_storage_tag_mismatches_total", "Uploads whose tag is not SHA-256 of the data",
                          NULL, 1);
            goto out;
        }
    }
    /* Every proof must hold before anything is stored. */
    uint64_t now = (uint64_t)time(NULL);
    mv_frame_blocks_iter(&fb, &it);
    for (i = 0; mv_frame_blocks_next(&it, &item); i++) {
        mv_err serr = MV_OK;
        if (item.kind != MV_FRAME_PROOF)
            continue;
        if (proof_ok(s, cred, dept, &item, now, &c, &serr)) {
            if (serr != MV_OK) {
                storage_respond_store_error(resp, serr, "proof check");
                goto out;
            }
            snprintf(msg, sizeof msg, "proof of ownership failed for item %u; nothing stored", (unsigned)i);
            mv_http_respond_json_error(resp, 403, msg);
            storage_count(s, "medvault_storage_proofs_failed_total", "Proofs of ownership refused", NULL, 1);
            goto out;
        }
    }
    mv_buf_clear(&c);
    /* count <= body / 69 bytes (the decoder's bound): these arrays stay in proportion to the body. */
    in = mv_calloc(count, sizeof *in);
    outs = mv_calloc(count, sizeof *outs);
    if (!in || !outs) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    mv_frame_blocks_iter(&fb, &it);
    for (i = 0; i < count && mv_frame_blocks_next(&it, &item); i++) {
        in[i].dept = dept;
        memcpy(in[i].token, item.token, 32);
        memcpy(in[i].tag, item.tag, 32);
        in[i].data = item.kind == MV_FRAME_UPLOAD ? item.data : NULL;
        in[i].len = item.kind == MV_FRAME_UPLOAD ? item.len : 0;
        in[i].tag_checked = 1; /* every upload was hashed against its tag above: once is enough */
        memcpy(in[i].claimant, cred->subject, 32);
    }
    mv_err rc = mv_store_put_blocks(s->store, in, count, outs);
    switch (rc) {
    case MV_OK: break;
    case MV_ERR_VERIFY:
        mv_http_respond_json_error(resp, 409, "a token already maps to a different tag in this department; nothing stored");
        goto out;
    case MV_ERR_NOT_FOUND:
        mv_http_respond_json_error(resp, 409, "a claimed block is no longer stored: upload it; nothing stored");
        goto out;
    case MV_ERR_INVAL:
        mv_http_respond_json_error(resp, 400, "invalid department name");
        goto out;
    case MV_ERR_TOO_LARGE:
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "store index is full");
        mv_http_respond_json_error(resp, 507, "storage full");
        goto out;
    case MV_ERR_NOMEM: case MV_ERR_AUTH: case MV_ERR_PARSE: case MV_ERR_IO: case MV_ERR_CRYPTO:
    case MV_ERR_BUSY: case MV_ERR_BAD_STATE: case MV_ERR_RATE_LIMITED: case MV_ERR_NET: case MV_ERR_TIMEOUT:
    case MV_ERR_IDENTITY: case MV_ERR_EXPIRED: case MV_ERR_REPLAY: case MV_ERR_FORBIDDEN: case MV_ERR_EXISTS:
    case MV_ERR_PROTOCOL: case MV_ERR_UNAVAILABLE: case MV_ERR_HTTP: case MV_ERR_MISDIRECTED:
        storage_respond_store_error(resp, rc, "block store");
        goto out;
    }
    uint64_t stored = 0, dup = 0, claimed = 0, bytes = 0;
    mv_jw w;
    storage_results_open(&w, &b);
    for (i = 0; i < count; i++) {
        const char *st = "claimed";
        if (in[i].data) {
            st = outs[i].new_copy ? "stored" : "duplicate";
            if (outs[i].new_copy) {
                stored++;
                bytes += in[i].len;
            } else {
                dup++;
            }
        } else {
            claimed++;
        }
        storage_result_status(&w, NULL, st);
    }
    rc = storage_results_close(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    storage_count(s, "medvault_storage_blocks_total", "Blocks accepted, by outcome", "result=\"stored\"", stored);
    storage_count(s, "medvault_storage_blocks_total", "Blocks accepted, by outcome", "result=\"duplicate\"", dup);
    storage_count(s, "medvault_storage_blocks_total", "Blocks accepted, by outcome", "result=\"claimed\"", claimed);
    storage_count(s, "medvault_storage_stored_bytes_total", "Ciphertext bytes written as new copies", NULL, bytes);
    storage_update_gauges(s);
out:
    mv_free(in);
    mv_free(outs);
    mv_buf_clear(&c);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/blocks/get, GET /v1/blocks/{tag} ---------- */

void storage_answer_blocks_get(const uint8_t *body, size_t body_len, storage_block_reader read, void *ctx,
                               mv_http_response *resp)
{
    mv_frame_ids ids;
    mv_frame_fault fault;
    mv_frame_writer w;
    mv_err rc = mv_frame_blocks_get_decode(body, body_len, &ids, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_buf_reset(&resp->body);
    mv_frame_blocks_answer_begin(&w, &resp->body);
    for (uint32_t i = 0; i < ids.count && w.rc == MV_OK; i++) {
        /* The block is read straight into the answer: a 32 MiB batch is never copied. */
        mv_frame_answer_open(&w);
        if (w.rc != MV_OK)
            break;
        mv_err brc = read(ctx, ids.v + 32 * (size_t)i, &resp->body);
        if (brc == MV_ERR_NOT_FOUND)
            mv_frame_answer_close(&w, MV_FRAME_BLOCK_ABSENT);
        else if (brc != MV_OK)
            mv_frame_answer_fail(&w, brc);
        else
            mv_frame_answer_close(&w, MV_FRAME_BLOCK_FOUND);
    }
    rc = mv_frame_end(&w);
    storage_respond_octets(resp, rc, "the answer would exceed 256 MiB: ask for fewer blocks", "block read");
}

/* Blocks for a batched answer are sent as the packs hold them, not hashed here: every
 * client checks each block against its tag (SHA-256) and its GCM tag before using it
 * (get.c), so a second hash on the server protects nobody and costs a pass over every byte
 * served. A corrupted block then fails only the records that use it, at the client, instead
 * of failing the whole answer; `medvault storage check` still hashes every entry. */
static mv_err store_block_read(void *ctx, const uint8_t tag[32], mv_buf *out)
{
    return mv_store_block_read_unverified(((storage_srv *)ctx)->store, tag, out);
}

void storage_handle_blocks_get(storage_srv *s, const mv_http_request *req, mv_http_response *resp)
{
    mv_frame_ids ids;
    uint64_t bytes = 0, len = 0;
    /* Room for the whole answer at once (the blocks' stored lengths, each item's status and
     * length, the header), so that it is read in place instead of grown by doubling, which
     * copies and wipes everything read so far at each step. A request that does not decode
     * or names absent blocks is answered as before; the room is only a hint. */
    if (mv_frame_blocks_get_decode(req->body, req->body_len, &ids, NULL) == MV_OK) {
        for (uint32_t i = 0; i < ids.count; i++)
            if (mv_store_block_info(s->store, ids.v + 32 * (size_t)i, &len, NULL) == MV_OK)
                bytes += len + 8;
        if (bytes && bytes + 64 <= resp->body.max)
            (void)!mv_buf_reserve(&resp->body, (size_t)bytes + 64);
    }
    storage_answer_blocks_get(req->body, req->body_len, store_block_read, s, resp);
}

void storage_handle_block_get(storage_srv *s, const char *hex, mv_http_response *resp)
{
    uint8_t tag[32];
    if (mv_hex_decode_exact(tag, sizeof tag, hex, strlen(hex)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 64-hex-digit tag");
        return;
    }
    mv_buf_reset(&resp->body);
    mv_err rc = mv_store_block_read(s->store, tag, &resp->body);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such block");
        return;
    }
    storage_respond_octets(resp, rc, NULL, "block read");
}
