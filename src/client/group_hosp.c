/* group_hosp.c - the client's calls to the hospital, the group manager (mv_groups.h,
 * docs/groups.md). The opener key dk is drawn, split and sealed here and wiped before the call
 * returns: the hospital only ever sees EK, the public shares and shares sealed to their
 * openers. The ring key is derived from the user's X25519 secret each time it is needed and
 * wiped after use; group keys are kept in locked memory. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_box.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_groups.h"
#include "medvault/mv_http.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_ringsig.h"
#include "medvault/mv_shamir.h"

#define HOSP "the hospital"
#define MAX_TAGS 100000u /* = MV_HOSPITAL_MAX_TAGS */
#define TOKEN_BYTES 32   /* = MV_TOKEN_BYTES: HMAC-SHA-256 */
#define SEALED_SHARE_BYTES (32 + MV_BOX_SEAL_BYTES)

struct mv_group_keys {
    size_t n;
    uint64_t *first, *last; /* per range */
    uint8_t *keys;          /* n * 32, secure memory: K_last of each range */
    uint8_t *dedup;         /* 32, secure memory: the group's dedup secret */
    uint64_t dedup_gen;     /* its generation */
};

/* ---------- plumbing ---------- */

/* 1 if group may be put in a path: a group name (1-64 of [A-Za-z0-9_.-]) or an id. */
static int group_arg_ok(mv_client *c, const char *group)
{
    size_t n = group ? strlen(group) : 0;
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = group[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
             ch == '.' || ch == '-';
    }
    if (!ok)
        mvc_seterr(c, "a group is named by 1-64 characters of [A-Za-z0-9_.-] or by its id (32 hex digits)");
    return ok;
}

/* One signed call to the hospital at /v1/groups/{group}{suffix} (group NULL: /v1/groups):
 * the answer is appended to resp; any status but 200 and 201 is mapped to an error (409 to
 * MV_ERR_BAD_STATE: the group's state refuses it), with last_error set. */
static mv_err call(mv_client *c, const char *method, const char *group, const char *suffix, const mv_buf *body,
                   mv_buf *resp)
{
    char path[256];
    long status = 0;
    if (group && !group_arg_ok(c, group))
        return MV_ERR_INVAL;
    int l = snprintf(path, sizeof path, "/v1/groups%s%s%s", group ? "/" : "", group ? group : "", suffix ? suffix : "");
    if (l < 0 || (size_t)l >= sizeof path)
        return MV_ERR_INVAL;
    mv_err rc = mvc_simple(c, c->dep.hospital_url, method, path, body ? body->ptr : NULL, body ? body->len : 0,
                           body ? "application/json" : NULL, &status, resp);
    if (rc == MV_OK && status != 200 && status != 201) {
        rc = mvc_status_err(c, HOSP, status, resp);
        if (status == 409)
            rc = MV_ERR_BAD_STATE;
    }
    return rc;
}

/* call() without a signature, for the hospital's public endpoints: a member's anonymous
 * operation fetches the roster this way, so the hospital cannot tell who asked. */
static mv_err call_public(mv_client *c, const char *group, const char *suffix, mv_buf *resp)
{
    char path[256], url[MV_HTTPC_MAX_URL];
    mv_httpc_call hc;
    if (!group_arg_ok(c, group))
        return MV_ERR_INVAL;
    int l = snprintf(path, sizeof path, "/v1/groups/%s%s", group, suffix);
    if (l < 0 || (size_t)l >= sizeof path)
        return MV_ERR_INVAL;
    mv_httpc_call_init(&hc);
    mv_err rc = mvc_call_setup(&hc, url, sizeof url, c->dep.hospital_url, path, "GET", NULL, 0, NULL);
    if (rc == MV_OK && (rc = mv_httpc_run(&hc, 1)) == MV_OK && (rc = hc.rc) != MV_OK)
        mvc_seterr(c, "no answer from the hospital (%s)", mv_strerror(rc));
    if (rc == MV_OK && hc.status != 200) {
        rc = mvc_status_err(c, HOSP, hc.status, &hc.response);
        if (hc.status == 409)
            rc = MV_ERR_BAD_STATE;
    }
    if (rc == MV_OK)
        rc = mv_buf_append(resp, hc.response.ptr, hc.response.len);
    mv_httpc_call_clear(&hc);
    return rc;
}

/* call() whose answer is a JSON object: *root (caller frees). */
static mv_err call_json(mv_client *c, const char *method, const char *group, const char *suffix, const mv_buf *body,
                        mv_json **root)
{
    mv_buf resp;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    *root = NULL;
    mv_err rc = call(c, method, group, suffix, body, &resp);
    if (rc == MV_OK && (mv_json_parse((const char *)resp.ptr, resp.len, NULL, root, NULL) != MV_OK ||
                        mv_json_type_of(*root) != MV_JSON_OBJECT)) {
        mvc_seterr(c, "the hospital sent a malformed answer");
        rc = MV_ERR_PROTOCOL;
    }
    mv_buf_clear(&resp);
    return rc;
}

/* Ends the JSON body being written by w; MV_OK or the writer's error. */
static mv_err body_end(mv_jw *w)
{
    mv_jw_obj_end(w);
    return mv_jw_finish(w);
}

/* The summary of group: its id and the caller's status ("" if none) into status[0..cap). */
static mv_err group_summary(mv_client *c, const char *group, uint8_t id[16], char *status, size_t cap)
{
    mv_json *root = NULL;
    mv_err rc = call_json(c, "GET", group, NULL, NULL, &root);
    if (rc == MV_OK && mv_json_get_hex(root, "id", id, 16) != MV_OK) {
        mvc_seterr(c, "the hospital sent a group without an id");
        rc = MV_ERR_PROTOCOL;
    }
    if (rc == MV_OK && status) {
        size_t l = 0;
        const char *s = mv_json_get_str(root, "status", &l);
        snprintf(status, cap, "%.*s", s ? (int)l : 0, s ? s : "");
    }
    mv_json_free(root);
    return rc;
}

/* ---------- what is kept in the user's directory ----------
 * A group's name and id, and the hospital's answer to GET /v1/groups/{g}/key, are kept in the
 * user's directory so that her anonymous operations at the storage server make no signed call
 * to the hospital at the same moment (a manager matching the times of his log with the storage
 * history would learn who wrote what). The key answer is kept as the hospital sent it: its keys
 * are sealed to her X25519 key, so nothing is secret at rest beyond what her identity already
 * protects. Both files are versioned by their first line and rewritten atomically (0600); a
 * file that does not parse is ignored and fetched again. */
#define NAMES_FILE "group-names"
#define NAMES_HEADER "medvault group names v1\n"
#define NAMES_MAX ((size_t)1 << 20)
#define KEYS_HEADER "medvault group keys v1\n"

/* Path of the user's file name (for keys: group-<id>.keys) in path[0..4096). */
static mv_err kept_path(mv_client *c, const uint8_t *gid, char path[4096])
{
    char name[64], hex[33];
    if (!gid)
        return mv_path_join(path, 4096, c->user_dir, NAMES_FILE);
    mv_err rc = mv_hex_encode(hex, sizeof hex, gid, 16);
    snprintf(name, sizeof name, "group-%s.keys", hex);
    return rc == MV_OK ? mv_path_join(path, 4096, c->user_dir, name) : rc;
}

/* The id kept for group's name: 1 and id filled if found. The file is lines "NAME HEX". */
static int name_lookup(const mv_buf *f, const char *group, uint8_t id[16])
{
    size_t hl = sizeof NAMES_HEADER - 1, gl = strlen(group);
    if (f->len < hl || memcmp(f->ptr, NAMES_HEADER, hl) != 0)
        return 0;
    for (size_t off = hl; off < f->len;) {
        const char *line = (const char *)f->ptr + off, *nl = memchr(line, '\n', f->len - off);
        size_t ll = nl ? (size_t)(nl - line) : f->len - off;
        if (ll == gl + 1 + 32 && memcmp(line, group, gl) == 0 && line[gl] == ' ' &&
            mv_hex_decode_exact(id, 16, line + gl + 1, 32) == MV_OK)
            return 1;
        off += ll + 1;
    }
    return 0;
}

mv_err mv_client_group_id(mv_client *c, const char *group, uint8_t id[static MV_GROUP_ID_BYTES])
{
    char path[4096], hex[33];
    mv_buf f;
    if (!c || !group || !id)
        return MV_ERR_INVAL;
    if (mv_is_lower_hex(group, 32))
        return mv_hex_decode_exact(id, 16, group, 32);
    if (!group_arg_ok(c, group))
        return MV_ERR_INVAL;
    mv_buf_init(&f, NAMES_MAX);
    mv_err rc = kept_path(c, NULL, path);
    if (rc == MV_OK && mv_file_read(path, NAMES_MAX, &f) == MV_OK && name_lookup(&f, group, id))
        goto out;
    if (rc != MV_OK || (rc = group_summary(c, group, id, NULL, 0)) != MV_OK)
        goto out;
    /* Best effort: a name that cannot be kept is asked again next time. */
    if (f.len < sizeof NAMES_HEADER - 1 || memcmp(f.ptr, NAMES_HEADER, sizeof NAMES_HEADER - 1) != 0) {
        mv_buf_reset(&f);
        if (mv_buf_append(&f, NAMES_HEADER, sizeof NAMES_HEADER - 1) != MV_OK)
            goto out;
    }
    if (mv_hex_encode(hex, sizeof hex, id, 16) == MV_OK && mv_buf_append(&f, group, strlen(group)) == MV_OK &&
        mv_buf_append(&f, " ", 1) == MV_OK && mv_buf_append(&f, hex, 32) == MV_OK && mv_buf_append(&f, "\n", 1) == MV_OK)
        if (mv_file_write_atomic(path, f.ptr, f.len, 0600) != MV_OK)
            mv_log(MV_LOG_WARN, "client", "cannot keep a group's id in the user's directory");
out:
    mv_buf_clear(&f);
    return rc;
}

mv_err mv_client_user_resolve(mv_client *c, const char *user, uint8_t sign_pk[static 32])
{
    mv_buf path, resp;
    mv_json *root = NULL;
    long status = 0;
    size_t found = 0;
    if (!c || !user || !sign_pk)
        return MV_ERR_INVAL;
    if (mv_is_lower_hex(user, 64))
        return mv_hex_decode_exact(sign_pk, 32, user, 64);
    if (user[0] == 0 || strlen(user) > 128) {
        mvc_seterr(c, "a user is named by her name (1-128 bytes) or her sign key (64 hex digits)");
        return MV_ERR_INVAL;
    }
    mv_buf_init(&path, 1024);
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    mv_err rc = mv_buf_append(&path, "/v1/directory", 13);
    if (rc == MV_OK && (rc = mv_http_query_add(&path, "q", user)) == MV_OK &&
        (rc = mv_http_query_add(&path, "limit", "500")) == MV_OK && (rc = mv_buf_append(&path, "", 1)) == MV_OK)
        rc = mvc_simple(c, c->dep.hospital_url, "GET", (const char *)path.ptr, NULL, 0, NULL, &status, &resp);
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, HOSP, status, &resp);
    if (rc == MV_OK && mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL) != MV_OK) {
        mvc_seterr(c, "the hospital sent a malformed directory");
        rc = MV_ERR_PROTOCOL;
    }
    const mv_json *arr = rc == MV_OK ? mv_json_get(root, "users") : NULL;
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(arr); i++) {
        const mv_json *u = mv_json_at(arr, i);
        const char *name = mv_json_get_str(u, "name", NULL);
        if (!name || strcmp(name, user) != 0)
            continue;
        if (mv_json_get_hex(u, "sign_public_key", sign_pk, 32) != MV_OK) {
            mvc_seterr(c, "the hospital sent a user without a sign key");
            rc = MV_ERR_PROTOCOL;
        }
        found++;
    }
    if (rc == MV_OK && found == 0) {
        mvc_seterr(c, "no user is named \"%.64s\"", user);
        rc = MV_ERR_NOT_FOUND;
    } else if (rc == MV_OK && found > 1) {
        mvc_seterr(c, "%zu users are named \"%.64s\": name her by her sign key", found, user);
        rc = MV_ERR_EXISTS;
    }
    mv_json_free(root);
    mv_buf_clear(&path);
    mv_buf_clear(&resp);
    return rc;
}

/* ---------- create, add, remove, join ---------- */

mv_err mv_client_group_create(mv_client *c, const char *name, const uint8_t *openers, size_t n_openers, uint8_t *id)
{
    uint8_t dk[32], shares[MV_GROUP_OPENERS * 32], ek[32], eki[MV_GROUP_OPENERS][32], box[32];
    uint8_t sealed[MV_GROUP_OPENERS][SEALED_SHARE_BYTES], opener_pks[MV_GROUP_OPENERS][32];
    mv_json *root = NULL;
    mv_buf body;
    mv_jw w;
    mv_err rc = MV_OK;
    if (!c || !name || (n_openers != 0 && n_openers != MV_GROUP_OPENERS) || (n_openers && !openers))
        return MV_ERR_INVAL;
    if (!group_arg_ok(c, name) || mv_is_lower_hex(name, 32))
        return MV_ERR_INVAL;
    size_t n = n_openers ? MV_GROUP_OPENERS : 1, t = n_openers ? 2 : 1;
    mv_buf_init(&body, 1 << 14);
    mv_r255_scalar_random(dk);
    if (n == 1) {
        memcpy(shares, dk, 32);
        memcpy(opener_pks[0], mv_identity_sign_pk(c->id), 32);
    } else {
        rc = mv_shamir_split(dk, t, n, NULL, shares);
        memcpy(opener_pks, openers, 32 * n);
    }
    if (rc == MV_OK)
        rc = mv_r255_smul_base(ek, dk);
    for (size_t i = 0; rc == MV_OK && i < n; i++) {
        if ((rc = mv_r255_smul_base(eki[i], shares + 32 * i)) != MV_OK)
            break;
        if (n == 1)
            memcpy(box, mv_identity_box_pk(c->id), 32);
        else if ((rc = mvc_user_box_key(c, opener_pks[i], box)) != MV_OK)
            break;
        rc = mv_box_seal(sealed[i], shares + 32 * i, 32, box);
    }
    mv_wipe(dk, sizeof dk);
    mv_wipe(shares, sizeof shares);
    if (rc != MV_OK)
        goto out;
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "name", name);
    mv_jw_khex(&w, "ek", ek, 32);
    mv_jw_ku64(&w, "t", t);
    mv_jw_ku64(&w, "n", n);
    mv_jw_key(&w, "ek_shares");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        mv_jw_hex(&w, eki[i], 32);
    mv_jw_arr_end(&w);
    mv_jw_key(&w, "openers");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        mv_jw_obj(&w);
        mv_jw_khex(&w, "user", opener_pks[i], 32);
        mv_jw_khex(&w, "sealed", sealed[i], SEALED_SHARE_BYTES);
        mv_jw_obj_end(&w);
    }
    mv_jw_arr_end(&w);
    if ((rc = body_end(&w)) == MV_OK && (rc = call_json(c, "POST", NULL, NULL, &body, &root)) == MV_OK && id &&
        mv_json_get_hex(root, "id", id, 16) != MV_OK) {
        mvc_seterr(c, "the hospital sent no group id");
        rc = MV_ERR_PROTOCOL;
    }
out:
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

mv_err mv_client_group_add(mv_client *c, const char *group, const uint8_t *users, size_t n, int history, size_t *added)
{
    mv_json *root = NULL;
    mv_buf body;
    mv_jw w;
    uint64_t a = 0;
    if (!c || !group || !users || n == 0 || n > 256)
        return MV_ERR_INVAL;
    mv_buf_init(&body, 1 << 16);
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_key(&w, "users");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        mv_jw_hex(&w, users + 32 * i, 32);
    mv_jw_arr_end(&w);
    /* Without "history" the hospital decides: with it for a new member, without it for one
     * removed and added again. */
    if (history >= 0)
        mv_jw_kbool(&w, "history", history != 0);
    mv_err rc = body_end(&w);
    if (rc == MV_OK)
        rc = call_json(c, "POST", group, "/members", &body, &root);
    if (rc == MV_OK && mv_json_get_u64(root, "added", &a) != MV_OK) {
        mvc_seterr(c, "the hospital sent a malformed answer");
        rc = MV_ERR_PROTOCOL;
    }
    if (added)
        *added = rc == MV_OK ? (size_t)a : 0;
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

/* *epoch (may be NULL) = the answer's "epoch". */
static mv_err answer_epoch(mv_client *c, const mv_json *root, uint64_t *epoch)
{
    uint64_t e = 0;
    if (mv_json_get_u64(root, "epoch", &e) != MV_OK) {
        mvc_seterr(c, "the hospital sent no epoch");
        return MV_ERR_PROTOCOL;
    }
    if (epoch)
        *epoch = e;
    return MV_OK;
}

mv_err mv_client_group_remove(mv_client *c, const char *group, const uint8_t user[static 32], uint64_t *epoch)
{
    char suffix[96], hex[65];
    mv_json *root = NULL;
    if (!c || !group || !user)
        return MV_ERR_INVAL;
    mv_err rc = mv_hex_encode(hex, sizeof hex, user, 32);
    snprintf(suffix, sizeof suffix, "/members/%s", hex);
    if (rc == MV_OK && (rc = call_json(c, "DELETE", group, suffix, NULL, &root)) == MV_OK)
        rc = answer_epoch(c, root, epoch);
    mv_json_free(root);
    return rc;
}

mv_err mv_client_group_join(mv_client *c, const char *group, int *joined, uint64_t *epoch)
{
    uint8_t gid[16], sk[32], pk[32], ctx[16 + 32], proof[MV_RING_POP_BYTES];
    char status[16];
    mv_json *root = NULL;
    mv_buf body;
    mv_jw w;
    if (joined)
        *joined = 0;
    if (epoch)
        *epoch = 0;
    if (!c || !group)
        return MV_ERR_INVAL;
    mv_buf_init(&body, 1 << 12);
    mv_err rc = group_summary(c, group, gid, status, sizeof status);
    if (rc == MV_OK && !strcmp(status, "active"))
        goto out; /* already a member: nothing to do */
    if (rc == MV_OK && strcmp(status, "invited") != 0) {
        mvc_seterr(c, "%s", status[0] ? "you were removed from this group" : "you are not invited to this group");
        rc = MV_ERR_FORBIDDEN;
        goto out;
    }
    memcpy(ctx, gid, 16);
    memcpy(ctx + 16, mv_identity_sign_pk(c->id), 32);
    if (rc == MV_OK && (rc = mv_ring_derive_key(mv_identity_box_sk(c->id), gid, sk, pk)) == MV_OK)
        rc = mv_ring_pop_prove(sk, pk, ctx, sizeof ctx, proof);
    mv_wipe(sk, sizeof sk);
    if (rc != MV_OK)
        goto out;
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "ring_public_key", pk, 32);
    mv_jw_khex(&w, "proof", proof, sizeof proof);
    if ((rc = body_end(&w)) == MV_OK && (rc = call_json(c, "POST", group, "/join", &body, &root)) == MV_OK &&
        (rc = answer_epoch(c, root, epoch)) == MV_OK && joined)
        *joined = 1;
out:
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

/* ---------- listings and the roster ---------- */

mv_err mv_client_group_ls(mv_client *c, mv_buf *out)
{
    if (!c || !out)
        return MV_ERR_INVAL;
    return call(c, "GET", NULL, NULL, NULL, out);
}

mv_err mv_client_group_info(mv_client *c, const char *group, mv_buf *out)
{
    if (!c || !group || !out)
        return MV_ERR_INVAL;
    return call(c, "GET", group, NULL, NULL, out);
}

mv_err mv_client_group_roster(mv_client *c, const char *group, uint64_t epoch, mv_roster *out, mv_buf *raw)
{
    char suffix[48];
    uint8_t gid[16];
    mv_buf resp;
    if (!c || !group || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    mv_buf_init(&resp, (size_t)1 << 20);
    if (epoch)
        snprintf(suffix, sizeof suffix, "/roster?epoch=%llu", (unsigned long long)epoch);
    else
        snprintf(suffix, sizeof suffix, "/roster");
    /* The roster is public: a name is not resolved first (that needs membership), and it is the
     * hospital that binds a name to an id either way; an id asked for is checked. */
    int by_id = mv_is_lower_hex(group, 32);
    mv_err rc = by_id ? mv_hex_decode_exact(gid, 16, group, 32) : MV_OK;
    if (rc == MV_OK)
        rc = call_public(c, group, suffix, &resp);
    if (rc == MV_OK && (rc = mv_roster_verify(resp.ptr, resp.len, c->dep.hospital_pk, out)) != MV_OK)
        mvc_seterr(c, "the group's roster does not verify under the deployment's hospital key");
    if (rc == MV_OK && ((by_id && memcmp(out->group_id, gid, 16) != 0) || (epoch && out->epoch != epoch))) {
        mvc_seterr(c, "the hospital sent the roster of another group or epoch");
        rc = MV_ERR_VERIFY;
    }
    if (rc == MV_OK && raw)
        rc = mv_buf_append(raw, resp.ptr, resp.len);
    if (rc != MV_OK)
        mv_roster_clear(out);
    mv_buf_clear(&resp);
    return rc;
}

/* ---------- the key chain ---------- */

void mv_group_keys_free(mv_group_keys *k)
{
    if (!k)
        return;
    mv_secure_free(k->keys); /* wipes */
    mv_secure_free(k->dedup);
    mv_free(k->first);
    mv_free(k->last);
    mv_free(k);
}

uint64_t mv_group_keys_epoch(const mv_group_keys *k)
{
    return k && k->n ? k->last[k->n - 1] : 0;
}

uint64_t mv_group_keys_first(const mv_group_keys *k)
{
    return k && k->n ? k->first[0] : 0;
}

mv_err mv_group_keys_dedup_secret(const mv_group_keys *k, uint8_t out[32], uint64_t *generation)
{
    if (!k || !out || !k->dedup)
        return MV_ERR_INVAL;
    memcpy(out, k->dedup, 32);
    if (generation)
        *generation = k->dedup_gen;
    return MV_OK;
}

mv_err mv_group_keys_at(const mv_group_keys *k, uint64_t epoch, uint8_t out[static MV_GROUP_KEY_BYTES])
{
    if (!k || !out)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < k->n; i++)
        if (epoch >= k->first[i] && epoch <= k->last[i])
            return mv_group_key_regress(k->keys + 32 * i, k->last[i], epoch, out);
    return MV_ERR_FORBIDDEN;
}

/* The key ranges of the answer json[0..len) to GET /v1/groups/{g}/key, unsealed with the
 * user's identity: *out (caller frees); gid (may be NULL) receives the answer's group id.
 * MV_ERR_PROTOCOL if it is malformed or does not open. */
static mv_err keys_parse(mv_client *c, const uint8_t *json, size_t len, mv_group_keys **out, uint8_t *gid)
{
    mv_json *root = NULL;
    mv_group_keys *k = NULL;
    uint8_t sealed[MV_GROUP_KEY_BYTES + MV_BOX_SEAL_BYTES];
    mv_err rc = MV_ERR_PROTOCOL;
    if (mv_json_parse((const char *)json, len, NULL, &root, NULL) != MV_OK || mv_json_type_of(root) != MV_JSON_OBJECT)
        goto out;
    const mv_json *arr = mv_json_get(root, "ranges");
    size_t n = mv_json_len(arr);
    if (mv_json_type_of(arr) != MV_JSON_ARRAY || n == 0 || n > 4096 ||
        (gid && mv_json_get_hex(root, "group", gid, 16) != MV_OK))
        goto out;
    if (!(k = mv_calloc(1, sizeof *k)) || !(k->first = mv_mallocarray(n, 8)) || !(k->last = mv_mallocarray(n, 8)) ||
        !(k->keys = mv_secure_alloc(32 * n)) || !(k->dedup = mv_secure_alloc(32))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const mv_json *r = mv_json_at(arr, i);
        if (mv_json_get_u64(r, "first_epoch", &k->first[i]) != MV_OK ||
            mv_json_get_u64(r, "last_epoch", &k->last[i]) != MV_OK || k->first[i] == 0 ||
            k->first[i] > k->last[i] || k->last[i] > MV_GROUP_MAX_EPOCHS || (i && k->first[i] <= k->last[i - 1]) ||
            mv_json_get_hex(r, "sealed", sealed, sizeof sealed) != MV_OK ||
            mv_box_seal_open(k->keys + 32 * i, sealed, sizeof sealed, mv_identity_box_pk(c->id),
                             mv_identity_box_sk(c->id)) != MV_OK)
            goto out;
        k->n++;
    }
    const mv_json *dd = mv_json_get(root, "dedup");
    if (mv_json_get_u64(dd, "generation", &k->dedup_gen) != MV_OK || k->dedup_gen == 0 ||
        mv_json_get_hex(dd, "sealed", sealed, sizeof sealed) != MV_OK ||
        mv_box_seal_open(k->dedup, sealed, sizeof sealed, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id)) !=
            MV_OK)
        goto out;
    rc = MV_OK;
    *out = k;
    k = NULL;
out:
    mv_group_keys_free(k);
    mv_json_free(root);
    return rc;
}

/* Fetches group's key answer (a signed call), unseals it, and keeps it sealed as it came in
 * the user's directory under the group's id (best effort). */
static mv_err keys_fetch(mv_client *c, const char *group, mv_group_keys **out)
{
    char path[4096];
    uint8_t gid[16];
    mv_buf resp, kept;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    mv_buf_init(&kept, MV_HTTPC_RESPONSE_MAX + sizeof KEYS_HEADER);
    mv_err rc = call(c, "GET", group, "/key", NULL, &resp);
    if (rc == MV_OK && (rc = keys_parse(c, resp.ptr, resp.len, out, gid)) == MV_ERR_PROTOCOL)
        mvc_seterr(c, "the hospital sent group keys that do not open");
    if (rc == MV_OK && kept_path(c, gid, path) == MV_OK &&
        mv_buf_append(&kept, KEYS_HEADER, sizeof KEYS_HEADER - 1) == MV_OK &&
        mv_buf_append(&kept, resp.ptr, resp.len) == MV_OK && mv_file_write_atomic(path, kept.ptr, kept.len, 0600) != MV_OK)
        mv_log(MV_LOG_WARN, "client", "cannot keep a group's keys in the user's directory");
    mv_buf_clear(&resp);
    mv_buf_clear(&kept);
    return rc;
}

mv_err mv_client_group_keys(mv_client *c, const char *group, mv_group_keys **out)
{
    if (!c || !group || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    return keys_fetch(c, group, out);
}

mv_err mvc_group_keys_for(mv_client *c, const uint8_t gid[16], uint64_t epoch, mv_group_keys **out)
{
    char path[4096], hex[33];
    mv_buf f;
    size_t hl = sizeof KEYS_HEADER - 1;
    *out = NULL;
    mv_buf_init(&f, MV_HTTPC_RESPONSE_MAX + hl);
    mv_err rc = kept_path(c, gid, path);
    if (rc == MV_OK && mv_file_read(path, MV_HTTPC_RESPONSE_MAX + hl, &f) == MV_OK && f.len > hl &&
        memcmp(f.ptr, KEYS_HEADER, hl) == 0 && keys_parse(c, f.ptr + hl, f.len - hl, out, NULL) == MV_OK &&
        mv_group_keys_epoch(*out) >= epoch)
        goto out;
    mv_group_keys_free(*out);
    *out = NULL;
    if (rc == MV_OK && (rc = mv_hex_encode(hex, sizeof hex, gid, 16)) == MV_OK)
        rc = keys_fetch(c, hex, out);
out:
    mv_buf_clear(&f);
    return rc;
}

/* ---------- tokens, openers ---------- */

mv_err mv_client_group_tokens(mv_client *c, const char *group, const uint8_t *tags, size_t n, uint8_t *tokens)
{
    uint8_t gid[16];
    char label[33];
    mv_json *root = NULL;
    mv_buf body;
    mv_jw w;
    if (!c || !group || (n && (!tags || !tokens)) || n > MAX_TAGS)
        return MV_ERR_INVAL;
    mv_buf_init(&body, (size_t)16 << 20);
    mv_err rc = mv_client_group_id(c, group, gid);
    if (rc != MV_OK || (rc = mv_hex_encode(label, sizeof label, gid, 16)) != MV_OK)
        goto out;
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_key(&w, "tags");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        mv_jw_hex(&w, tags + 32 * i, 32);
    mv_jw_arr_end(&w);
    if ((rc = body_end(&w)) != MV_OK || (rc = call_json(c, "POST", group, "/tokens", &body, &root)) != MV_OK)
        goto out;
    const mv_json *arr = mv_json_get(mv_json_get(root, "tokens"), label);
    rc = MV_ERR_PROTOCOL;
    if (mv_json_type_of(arr) != MV_JSON_ARRAY || mv_json_len(arr) != n)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        size_t l = 0;
        const char *s = mv_json_str(mv_json_at(arr, i), &l);
        if (!s || mv_hex_decode_exact(tokens + TOKEN_BYTES * i, TOKEN_BYTES, s, l) != MV_OK)
            goto bad;
    }
    rc = MV_OK;
    goto out;
bad:
    mvc_seterr(c, "the hospital sent malformed group tokens");
out:
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

mv_err mv_client_group_opener_share(mv_client *c, const char *group, unsigned *index, unsigned *t, unsigned *n,
                                    uint8_t share[static 32])
{
    mv_json *root = NULL;
    uint8_t sealed[SEALED_SHARE_BYTES];
    uint64_t i = 0, tt = 0, nn = 0;
    if (!c || !group || !index || !t || !n || !share)
        return MV_ERR_INVAL;
    mv_err rc = call_json(c, "GET", group, "/opener-share", NULL, &root);
    if (rc == MV_OK &&
        (mv_json_get_u64(root, "index", &i) != MV_OK || mv_json_get_u64(root, "t", &tt) != MV_OK ||
         mv_json_get_u64(root, "n", &nn) != MV_OK || nn < 1 || nn > MV_RING_MAX_OPENERS || tt < 1 || tt > nn ||
         i < 1 || i > nn || mv_json_get_hex(root, "sealed", sealed, sizeof sealed) != MV_OK ||
         mv_box_seal_open(share, sealed, sizeof sealed, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id)) !=
             MV_OK)) {
        mvc_seterr(c, "the hospital sent an opener share that does not open");
        mv_wipe(share, 32);
        rc = MV_ERR_PROTOCOL;
    }
    if (rc == MV_OK) {
        *index = (unsigned)i;
        *t = (unsigned)tt;
        *n = (unsigned)nn;
    }
    mv_json_free(root);
    return rc;
}

mv_err mv_client_group_log_opening(mv_client *c, const char *group, const uint8_t record[static 16], uint64_t version,
                                   const uint8_t *signer, const char *note)
{
    mv_json *root = NULL;
    mv_buf body;
    mv_jw w;
    if (!c || !group || !record || (note && strlen(note) > 200))
        return MV_ERR_INVAL;
    mv_buf_init(&body, 1 << 12);
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "record", record, 16);
    mv_jw_ku64(&w, "version", version);
    if (signer)
        mv_jw_khex(&w, "signer", signer, 32);
    if (note)
        mv_jw_kstr(&w, "note", note);
    mv_err rc = body_end(&w);
    if (rc == MV_OK)
        rc = call_json(c, "POST", group, "/openings", &body, &root);
    mv_json_free(root);
    mv_buf_clear(&body);
    return rc;
}

mv_err mv_client_group_whois(mv_client *c, const char *group, const uint8_t ring_pk[static 32], mv_buf *out)
{
    char suffix[96], hex[65];
    if (!c || !group || !ring_pk || !out)
        return MV_ERR_INVAL;
    mv_err rc = mv_hex_encode(hex, sizeof hex, ring_pk, 32);
    snprintf(suffix, sizeof suffix, "/members/%s", hex);
    return rc == MV_OK ? call(c, "GET", group, suffix, NULL, out) : rc;
}
