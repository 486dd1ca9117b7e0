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
#include "storage_internal.h"

#define POW_DOMAIN "medvault-pow-v1"
#define POW_NONCE_BYTES 16
/* Smallest item of an MVB1 frame: kind, token, tag, a u32 length (a proof is larger). */
#define MVB1_MIN_ITEM (1 + 32 + 32 + 4)

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
    mv_json *root = NULL;
    mv_buf b;
    char dept[MV_CRED_MAX_DEPT_LEN + 1], msg[128];
    uint8_t token[32], tag[32], n[32], nonce[POW_NONCE_BYTES];
    uint64_t exists = 0, absent = 0;
    mv_err rc = MV_OK;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);

    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL) != MV_OK ||
        mv_json_type_of(root) != MV_JSON_OBJECT) {
        mv_http_respond_json_error(resp, 400, "malformed JSON body");
        goto out;
    }
    size_t dl = 0;
    const char *d = mv_json_get_str(root, "department", &dl);
    if (!d || storage_dept_copy(dept, (const uint8_t *)d, dl)) {
        mv_http_respond_json_error(resp, 400, "\"department\" must be a department name");
        goto out;
    }
    const mv_json *arr = mv_json_get(root, "tokens");
    size_t count = mv_json_len(arr);
    if (mv_json_type_of(arr) != MV_JSON_ARRAY) {
        mv_http_respond_json_error(resp, 400, "\"tokens\" must be an array of 64-hex-digit tokens");
        goto out;
    }
    if (count > MV_STORAGE_MAX_TOKENS) {
        snprintf(msg, sizeof msg, "too many tokens: %zu (at most %d per request)", count, MV_STORAGE_MAX_TOKENS);
        mv_http_respond_json_error(resp, 400, msg);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        size_t sl = 0;
        const char *t = mv_json_str(mv_json_at(arr, i), &sl);
        if (!t || mv_hex_decode_exact(token, 32, t, sl) != MV_OK) {
            snprintf(msg, sizeof msg, "token %zu is not 32 bytes of hex", i);
            mv_http_respond_json_error(resp, 400, msg);
            goto out;
        }
    }
    if (!mv_credential_has_department(cred, dept)) {
        mv_http_respond_json_error(resp, 403, "department not in your credential");
        goto out;
    }
    uint64_t now = (uint64_t)time(NULL);
    rc = mv_buf_puts(&b, "{\"results\":[");
    for (size_t i = 0; rc == MV_OK && i < count; i++) {
        size_t sl = 0;
        const char *t = mv_json_str(mv_json_at(arr, i), &sl);
        if ((rc = mv_hex_decode_exact(token, 32, t, sl)) != MV_OK)
            break;
        if (i && (rc = mv_buf_puts(&b, ",")) != MV_OK)
            break;
        mv_err lrc = mv_store_token_lookup(s->store, dept, token, tag);
        if (lrc == MV_ERR_NOT_FOUND) {
            absent++;
            rc = mv_buf_puts(&b, "{\"exists\":false}");
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
        rc = mv_buf_printf(&b, "{\"exists\":true,\"issued\":%llu,\"nonce\":", (unsigned long long)now);
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, nonce, sizeof nonce);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"challenge\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, n, sizeof n);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, "}");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    mv_http_respond_built(resp, rc, 200, &b);
    if (rc == MV_OK) {
        storage_count(s, "medvault_storage_dupcheck_tokens_total", "Tokens checked, by answer", "result=\"exists\"",
                      exists);
        storage_count(s, "medvault_storage_dupcheck_tokens_total", "Tokens checked, by answer", "result=\"absent\"",
                      absent);
    }
out:
    mv_wipe(n, sizeof n);
    mv_wipe(token, sizeof token);
    mv_wipe(tag, sizeof tag);
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/blocks ---------- */

enum { KIND_UPLOAD = 1, KIND_PROOF = 2 };

struct item {
    uint8_t kind;
    const uint8_t *token, *tag;
    const uint8_t *data; /* upload */
    uint32_t len;
    uint64_t issued;     /* proof */
    const uint8_t *nonce, *response;
};

/* Checks one proof: fresh, issued by this server to this caller for this token, the token
 * maps to the tag in dept, and response = HMAC-SHA-256(n, C). 0 if it holds. */
static int proof_ok(storage_srv *s, const mv_credential *cred, const char *dept, const struct item *it,
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
    struct item *items = NULL;
    mv_store_block_in *in = NULL;
    mv_store_block_out *outs = NULL;
    mv_buf c, b;
    char dept[MV_CRED_MAX_DEPT_LEN + 1], msg[128];
    storage_rd r;
    const uint8_t *p = NULL;
    uint8_t dlen = 0;
    uint32_t count = 0;
    mv_buf_init(&c, MV_STORAGE_MAX_BLOCK);
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);

    /* Parse the whole frame before acting on any of it. */
    storage_rd_init(&r, req->body, req->body_len);
    if (storage_rd_bytes(&r, 4, &p) || memcmp(p, "MVB1", 4) != 0) {
        mv_http_respond_json_error(resp, 400, "not an MVB1 frame (bad magic)");
        goto out;
    }
    if (storage_rd_u8(&r, &dlen) || storage_rd_bytes(&r, dlen, &p) || storage_dept_copy(dept, p, dlen)) {
        mv_http_respond_json_error(resp, 400, "malformed department in the frame");
        goto out;
    }
    if (storage_rd_u32(&r, &count)) {
        mv_http_respond_json_error(resp, 400, "frame truncated before the item count");
        goto out;
    }
    if (count == 0) {
        mv_http_respond_json_error(resp, 400, "the frame holds no items");
        goto out;
    }
    if (count > storage_rd_left(&r) / MVB1_MIN_ITEM) {
        mv_http_respond_json_error(resp, 400, "item count larger than the body");
        goto out;
    }
    if (!(items = mv_calloc(count, sizeof *items))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        struct item *it = &items[i];
        if (storage_rd_u8(&r, &it->kind) || storage_rd_bytes(&r, 32, &it->token) ||
            storage_rd_bytes(&r, 32, &it->tag)) {
            snprintf(msg, sizeof msg, "frame truncated in item %u", (unsigned)i);
            mv_http_respond_json_error(resp, 400, msg);
            goto out;
        }
        if (it->kind == KIND_UPLOAD) {
            if (storage_rd_u32(&r, &it->len)) {
                snprintf(msg, sizeof msg, "frame truncated in item %u", (unsigned)i);
                mv_http_respond_json_error(resp, 400, msg);
                goto out;
            }
            if (it->len > MV_STORAGE_MAX_BLOCK) {
                snprintf(msg, sizeof msg, "item %u: block larger than %zu bytes", (unsigned)i, MV_STORAGE_MAX_BLOCK);
                mv_http_respond_json_error(resp, 413, msg);
                goto out;
            }
            if (it->len == 0) {
                snprintf(msg, sizeof msg, "item %u: empty block", (unsigned)i);
                mv_http_respond_json_error(resp, 400, msg);
                goto out;
            }
            if (storage_rd_bytes(&r, it->len, &it->data)) {
                snprintf(msg, sizeof msg, "frame truncated in item %u", (unsigned)i);
                mv_http_respond_json_error(resp, 400, msg);
                goto out;
            }
        } else if (it->kind == KIND_PROOF) {
            if (storage_rd_u64(&r, &it->issued) || storage_rd_bytes(&r, POW_NONCE_BYTES, &it->nonce) ||
                storage_rd_bytes(&r, 32, &it->response)) {
                snprintf(msg, sizeof msg, "frame truncated in item %u", (unsigned)i);
                mv_http_respond_json_error(resp, 400, msg);
                goto out;
            }
        } else {
            snprintf(msg, sizeof msg, "item %u has an unknown kind", (unsigned)i);
            mv_http_respond_json_error(resp, 400, msg);
            goto out;
        }
    }
    if (storage_rd_left(&r) != 0) {
        mv_http_respond_json_error(resp, 400, "trailing bytes after the last item");
        goto out;
    }
    if (!mv_credential_has_department(cred, dept)) {
        mv_http_respond_json_error(resp, 403, "department not in your credential");
        goto out;
    }
    /* Every upload must hash to its tag: then nobody can poison a tag. */
    for (uint32_t i = 0; i < count; i++) {
        uint8_t h[32];
        if (items[i].kind != KIND_UPLOAD)
            continue;
        if (mv_sha256(h, items[i].data, items[i].len) != MV_OK) {
            mv_http_respond_json_error(resp, 500, "internal error");
            goto out;
        }
        if (memcmp(h, items[i].tag, 32) != 0) {
            snprintf(msg, sizeof msg, "tag does not match ciphertext (item %u); nothing stored", (unsigned)i);
            mv_http_respond_json_error(resp, 400, msg);
            storage_count(s, "medvault_storage_tag_mismatches_total", "Uploads whose tag is not SHA-256 of the data",
                          NULL, 1);
            goto out;
        }
    }
    /* Every proof must hold before anything is stored. */
    uint64_t now = (uint64_t)time(NULL);
    for (uint32_t i = 0; i < count; i++) {
        mv_err serr = MV_OK;
        if (items[i].kind != KIND_PROOF)
            continue;
        if (proof_ok(s, cred, dept, &items[i], now, &c, &serr)) {
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
    in = mv_calloc(count, sizeof *in);
    outs = mv_calloc(count, sizeof *outs);
    if (!in || !outs) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        in[i].dept = dept;
        memcpy(in[i].token, items[i].token, 32);
        memcpy(in[i].tag, items[i].tag, 32);
        in[i].data = items[i].kind == KIND_UPLOAD ? items[i].data : NULL;
        in[i].len = items[i].kind == KIND_UPLOAD ? items[i].len : 0;
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
    rc = mv_buf_puts(&b, "{\"results\":[");
    for (uint32_t i = 0; rc == MV_OK && i < count; i++) {
        const char *st = "claimed";
        if (items[i].kind == KIND_UPLOAD) {
            st = outs[i].new_copy ? "stored" : "duplicate";
            if (outs[i].new_copy) {
                stored++;
                bytes += items[i].len;
            } else {
                dup++;
            }
        } else {
            claimed++;
        }
        rc = mv_buf_printf(&b, "%s{\"status\":\"%s\"}", i ? "," : "", st);
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    mv_http_respond_built(resp, rc, 200, &b);
    storage_count(s, "medvault_storage_blocks_total", "Blocks accepted, by outcome", "result=\"stored\"", stored);
    storage_count(s, "medvault_storage_blocks_total", "Blocks accepted, by outcome", "result=\"duplicate\"", dup);
    storage_count(s, "medvault_storage_blocks_total", "Blocks accepted, by outcome", "result=\"claimed\"", claimed);
    storage_count(s, "medvault_storage_stored_bytes_total", "Ciphertext bytes written as new copies", NULL, bytes);
    storage_update_gauges(s);
out:
    mv_free(items);
    mv_free(in);
    mv_free(outs);
    mv_buf_clear(&c);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/blocks/get, GET /v1/blocks/{tag} ---------- */

void storage_answer_blocks_get(const uint8_t *body, size_t body_len, storage_block_reader read, void *ctx,
                               mv_http_response *resp)
{
    storage_rd r;
    const uint8_t *p = NULL;
    uint32_t count = 0;
    mv_buf *out = &resp->body;
    storage_rd_init(&r, body, body_len);
    if (storage_rd_bytes(&r, 4, &p) || memcmp(p, "MVG1", 4) != 0) {
        mv_http_respond_json_error(resp, 400, "not an MVG1 frame (bad magic)");
        return;
    }
    if (storage_rd_u32(&r, &count) || count == 0 || count > MV_STORAGE_MAX_GET) {
        mv_http_respond_json_error(resp, 400, "the tag count must be 1 to 4096");
        return;
    }
    if (storage_rd_left(&r) != (size_t)count * 32) {
        mv_http_respond_json_error(resp, 400, "the tag count does not match the body");
        return;
    }
    mv_buf_reset(out);
    mv_err rc = mv_buf_append(out, "MVG1", 4);
    if (rc == MV_OK)
        rc = storage_put_u32(out, count);
    for (uint32_t i = 0; rc == MV_OK && i < count; i++) {
        const uint8_t *tag = NULL;
        (void)storage_rd_bytes(&r, 32, &tag); /* length checked above */
        size_t at = out->len;
        static const uint8_t head[5] = {1, 0, 0, 0, 0};
        if ((rc = mv_buf_append(out, head, sizeof head)) != MV_OK)
            break;
        mv_err brc = read(ctx, tag, out);
        if (brc == MV_ERR_NOT_FOUND) {
            out->ptr[at] = 0;
            continue;
        }
        if (brc != MV_OK) {
            rc = brc;
            break;
        }
        uint32_t n = (uint32_t)(out->len - at - sizeof head);
        for (int k = 0; k < 4; k++)
            out->ptr[at + 1 + (size_t)k] = (uint8_t)(n >> (8 * k));
    }
    if (rc == MV_ERR_TOO_LARGE) {
        mv_http_respond_json_error(resp, 413, "the answer would exceed 256 MiB: ask for fewer blocks");
        return;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "block read");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
}

static mv_err store_block_read(void *ctx, const uint8_t tag[32], mv_buf *out)
{
    return mv_store_block_read(((storage_srv *)ctx)->store, tag, out);
}

void storage_handle_blocks_get(storage_srv *s, const mv_http_request *req, mv_http_response *resp)
{
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
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "block read");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
}
