/* mv_group_op.c - test helper: sends hand-made group operations (POST /v1/groups/{g}/ops) to
 * the storage server the way a misbehaving member or an outsider would, and prints what the
 * server answered, so test_group_files.sh can check every refusal through the real daemons.
 *
 * usage: mv_group_op DEPLOYMENT USER_DIR GROUP MODE [ARG]
 *   list          a valid list operation
 *   flip BIT      a list operation whose signature has bit BIT flipped
 *   epoch E       a list operation signed under the roster of epoch E (a stale one)
 *   skew S        a list operation stamped S seconds in the past
 *   replay        the same valid list operation twice
 *   delete ID [V] a delete (as version V, default 2) of record ID with a link proof of random
 *                 bytes (not the owner's)
 *   ref           a put whose one block is a reference to a block the group does not hold
 *   big           an operation announcing a body one byte over the cap
 *   burst N       N malformed operations at once from this address
 *   unknown N     a valid list operation sent N times at once to a random group id (the
 *                 server must ask the hospital about it once); prints the id first
 * Output: one line per request sent: "STATUS BODY". Exit 0 if every request got an answer, 1
 * otherwise, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_groups.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "net/group_frames.h"

static int send_body(const char *url, const uint8_t *body, size_t len, size_t n_copies)
{
    static const char *const headers[] = {"Content-Type: application/octet-stream", NULL};
    mv_httpc_call calls[64];
    int ok = 1;
    if (n_copies > 64)
        n_copies = 64;
    for (size_t i = 0; i < n_copies; i++) {
        mv_httpc_call_init(&calls[i]);
        calls[i].method = "POST";
        calls[i].url = url;
        calls[i].headers = headers;
        calls[i].body = body;
        calls[i].body_len = len;
    }
    if (mv_httpc_run(calls, n_copies) != MV_OK)
        ok = 0;
    for (size_t i = 0; i < n_copies; i++) {
        if (calls[i].rc != MV_OK)
            ok = 0;
        printf("%ld %s\n", calls[i].status, calls[i].response.ptr ? (const char *)calls[i].response.ptr : "");
        mv_httpc_call_clear(&calls[i]);
    }
    return ok;
}

/* Builds a signed operation under the roster of epoch (0: current) into body. */
static mv_err build(mv_client *c, const mv_identity *id, const char *group, const uint8_t g[16], uint64_t epoch,
                    uint8_t op, const uint8_t rid[16], uint64_t version, uint64_t ts, const uint8_t *link,
                    const mv_buf *payload, mv_buf *body)
{
    mv_roster r;
    mv_ring ring;
    uint8_t sk[32], pk[32], h[32], msg[MV_GROUP_OP_MSG_BYTES];
    mv_buf sig;
    mv_buf_init(&sig, MV_RING_SIG_MAX_BYTES);
    mv_err rc = mv_client_group_roster(c, group, epoch, &r, NULL);
    if (rc != MV_OK)
        return rc;
    mv_group_op_frame f = {.op = op, .epoch = r.epoch, .version = version, .timestamp = ts, .link = link,
                           .payload = payload ? payload->ptr : NULL, .payload_len = payload ? payload->len : 0};
    memcpy(f.record_id, rid, 16);
    if ((rc = mv_roster_ring(&r, &ring)) == MV_OK &&
        (rc = mv_ring_derive_key(mv_identity_box_sk(id), g, sk, pk)) == MV_OK &&
        (rc = mv_random_bytes(f.nonce, sizeof f.nonce)) == MV_OK &&
        (rc = mv_sha256(h, f.payload_len ? f.payload : (const uint8_t *)"", f.payload_len)) == MV_OK) {
        mv_group_op_msg(g, r.epoch, (enum mv_group_op)op, rid, version, ts, f.nonce, h, msg);
        if ((rc = mv_ring_sign(&ring, sk, msg, sizeof msg, NULL, &sig)) == MV_OK) {
            f.sig = sig.ptr;
            f.sig_len = sig.len;
            rc = mv_group_op_encode(&f, body);
        }
    }
    mv_roster_clear(&r);
    mv_buf_clear(&sig);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: mv_group_op DEPLOYMENT USER_DIR GROUP MODE [ARG]\n");
        return 2;
    }
    const char *mode = argv[4], *arg = argc > 5 ? argv[5] : "0";
    mv_client *c = NULL;
    mv_identity *id = NULL;
    mv_deployment dep;
    uint8_t g[16], rid[16] = {0}, link[MV_RING_LINK_BYTES];
    char url[1024], ghex[33];
    mv_buf body;
    int ok = 0;
    uint64_t now = (uint64_t)time(NULL), n = strtoull(arg, NULL, 10);
    mv_buf_init(&body, MV_GROUP_OPS_MAX_BODY + 2);
    if (mv_deployment_load(argv[1], &dep) != MV_OK || mv_client_open(argv[1], argv[2], NULL, &c) != MV_OK ||
        mv_identity_load(argv[2], &id) != MV_OK || mv_client_group_id(c, argv[3], g) != MV_OK ||
        mv_hex_encode(ghex, sizeof ghex, g, 16) != MV_OK) {
        fprintf(stderr, "mv_group_op: cannot open the client or the group\n");
        goto out;
    }
    snprintf(url, sizeof url, "%s/v1/groups/%s/ops", dep.storage_url, ghex);
    mv_err rc = MV_OK;
    if (!strcmp(mode, "list") || !strcmp(mode, "replay")) {
        rc = build(c, id, argv[3], g, 0, MV_GROUP_OP_LIST, rid, 0, now, NULL, NULL, &body);
        ok = rc == MV_OK && send_body(url, body.ptr, body.len, 1) &&
             (strcmp(mode, "replay") || send_body(url, body.ptr, body.len, 1));
    } else if (!strcmp(mode, "flip")) {
        rc = build(c, id, argv[3], g, 0, MV_GROUP_OP_LIST, rid, 0, now, NULL, NULL, &body);
        size_t at = MV_GROUP_OP_HEADER_BYTES * 8 + n; /* a bit of the signature */
        if (rc == MV_OK && at / 8 < body.len - 1) {
            body.ptr[at / 8] ^= (uint8_t)(1u << (at % 8));
            ok = send_body(url, body.ptr, body.len, 1);
        }
    } else if (!strcmp(mode, "epoch")) {
        rc = build(c, id, argv[3], g, n, MV_GROUP_OP_LIST, rid, 0, now, NULL, NULL, &body);
        ok = rc == MV_OK && send_body(url, body.ptr, body.len, 1);
    } else if (!strcmp(mode, "skew")) {
        rc = build(c, id, argv[3], g, 0, MV_GROUP_OP_LIST, rid, 0, now - n, NULL, NULL, &body);
        ok = rc == MV_OK && send_body(url, body.ptr, body.len, 1);
    } else if (!strcmp(mode, "delete")) {
        /* A current member who did not sign version 1 cannot make a link proof: random bytes
         * stand in for one. The delete is the record's version NEXT (argument 6, default 2). */
        uint64_t next = argc > 6 ? strtoull(argv[6], NULL, 10) : 2;
        if (mv_hex_decode_exact(rid, 16, arg, strlen(arg)) != MV_OK || mv_random_bytes(link, sizeof link) != MV_OK)
            goto out;
        rc = build(c, id, argv[3], g, 0, MV_GROUP_OP_DELETE, rid, next, now, link, NULL, &body);
        ok = rc == MV_OK && send_body(url, body.ptr, body.len, 1);
    } else if (!strcmp(mode, "ref")) {
        uint8_t tt[64], env[32];
        mv_buf payload;
        mv_buf_init(&payload, 4096);
        if (mv_random_bytes(tt, sizeof tt) != MV_OK || mv_random_bytes(env, sizeof env) != MV_OK ||
            mv_random_bytes(rid, sizeof rid) != MV_OK || mv_group_content_begin(&payload, env, sizeof env, 1) != MV_OK ||
            mv_group_content_block(&payload, tt, tt + 32, NULL, 0) != MV_OK) {
            mv_buf_clear(&payload);
            goto out;
        }
        rc = build(c, id, argv[3], g, 0, MV_GROUP_OP_PUT, rid, 1, now, NULL, &payload, &body);
        ok = rc == MV_OK && send_body(url, body.ptr, body.len, 1);
        mv_buf_clear(&payload);
    } else if (!strcmp(mode, "big")) {
        if (mv_buf_reserve(&body, MV_GROUP_OPS_MAX_BODY + 1) == MV_OK) {
            memset(body.ptr, 'x', MV_GROUP_OPS_MAX_BODY + 1);
            body.len = MV_GROUP_OPS_MAX_BODY + 1;
            ok = send_body(url, body.ptr, body.len, 1);
        }
    } else if (!strcmp(mode, "unknown")) {
        uint8_t other[16];
        char ohex[33];
        rc = build(c, id, argv[3], g, 0, MV_GROUP_OP_LIST, rid, 0, now, NULL, NULL, &body);
        if (rc == MV_OK && mv_random_bytes(other, sizeof other) == MV_OK &&
            mv_hex_encode(ohex, sizeof ohex, other, 16) == MV_OK) {
            snprintf(url, sizeof url, "%s/v1/groups/%s/ops", dep.storage_url, ohex);
            printf("%s\n", ohex);
            ok = send_body(url, body.ptr, body.len, (size_t)n);
        }
    } else if (!strcmp(mode, "burst")) {
        ok = send_body(url, (const uint8_t *)"nonsense", 8, (size_t)n);
    } else {
        fprintf(stderr, "mv_group_op: unknown mode %s\n", mode);
        ok = 0;
    }
    if (rc != MV_OK)
        fprintf(stderr, "mv_group_op: %s (%s)\n", mv_strerror(rc), mv_client_last_error(c));
out:
    mv_buf_clear(&body);
    mv_identity_free(id);
    mv_client_close(c);
    return ok ? 0 : 1;
}
