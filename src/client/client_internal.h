/* client_internal.h - state shared by the client library's files (not installed). */
#ifndef MV_CLIENT_INTERNAL_H
#define MV_CLIENT_INTERNAL_H

#include <stdarg.h>
#include "medvault/mv_client.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "net/frames.h"

typedef struct mvc_cache mvc_cache;
typedef struct mvc_keysets mvc_keysets;
typedef struct mvc_findex mvc_findex;
typedef struct mvc_pre mvc_pre;

struct mv_client {
    mv_deployment dep;
    mv_identity *id;
    char dept[64];
    mv_fhir_profiles *profiles;
    mv_client_options opt;
    mvc_cache *cache;
    mvc_keysets *keysets; /* keyset.c: loaded on first use */
    mvc_findex *findex;   /* findex.c: the local FHIR index, opened on first use */
    mvc_pre *pre;         /* pre_share.c: delegations received, loaded on first use */
    char err[256];
    char user_dir[4096];
    char stepup_hdr[16 + 160]; /* "MV-Step-Up: <grant>" while a valid grant is held, else "" */
    int stepup_pending;        /* stepup.pending exists (or a storage server just asked) */
    int stepup_demanded;       /* a storage answer in this session said "MV-Step-Up: required" */
};

/* ---- stepup.c ---- */
#define MVC_STEPUP_MSG                                                                                          \
    "step-up required: run `medvault stepup --device-key DIR` or `medvault stepup --request`"
/* Loads DIR/stepup.grant (kept only if it verifies for this user now) and DIR/stepup.pending. */
void mvc_stepup_load(mv_client *c);
/* A storage server answered 401 with "MV-Step-Up: required": writes DIR/stepup.pending and
 * drops the grant. */
void mvc_stepup_demanded(mv_client *c);
/* 1 if (method, url) is a read from the storage server at storage_url. */
int mvc_stepup_is_read(const char *method, const char *url, const char *storage_url);

/* Records a description of the last failure (no patient data). */
void mvc_seterr(mv_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepares call for base + path (url kept in urlbuf[0..cap)) with method and body. */
mv_err mvc_call_setup(mv_httpc_call *call, char *urlbuf, size_t cap, const char *base, const char *path,
                      const char *method, const uint8_t *body, size_t len, const char *const *headers);
/* Signs every call with the user's key and credential, then runs them in parallel.
 * Returns MV_OK if the batch ran (see each call's rc and status). */
mv_err mvc_run(mv_client *c, mv_httpc_call *calls, size_t n);
/* One signed call: the status and body in *status / resp (appended). MV_ERR_NET etc. when
 * no answer arrived, MV_OK otherwise (check *status). */
mv_err mvc_simple(mv_client *c, const char *base, const char *method, const char *path, const uint8_t *body,
                  size_t len, const char *content_type, long *status, mv_buf *resp);
/* Maps an HTTP error status to an mv_err and records what the service said. */
mv_err mvc_status_err(mv_client *c, const char *what, long status, const mv_buf *body);
/* POST /v1/records/get for the n ids of 16 bytes side by side at ids (1 <= n <=
 * MV_FRAME_MAX_GET). The answer is appended to resp; on MV_OK *it yields its n items (status,
 * envelope borrowed from resp), checked and in the order asked. Errors: those of mvc_simple,
 * the storage server's HTTP error (mvc_status_err), MV_ERR_PROTOCOL for a malformed answer. */
mv_err mvc_records_get(mv_client *c, const uint8_t *ids, size_t n, mv_buf *resp, mv_frame_iter *it);

/* A patient as the hospital knows it (GET /v1/patients/{MRN}, share.c). */
typedef struct mvc_patient {
    int registered;         /* 0: the hospital has no patient with this MRN (404) */
    uint8_t sign_pk[32];
    uint8_t box_pk[32];
    int has_delegation;     /* a countersigned delegation naming the caller was handed out */
    mv_delegation d;
} mvc_patient;

/* 1 if mrn may name a patient in a path: 1..31 characters of [A-Za-z0-9-]. */
int mvc_mrn_ok(const char *mrn);
/* Looks mrn up at the hospital. MV_OK with out->registered 0 on a 404; MV_OK with the keys
 * (and the delegation, decoded, if one was given) on 200. Errors: MV_ERR_INVAL (bad MRN),
 * MV_ERR_FORBIDDEN (the hospital refused: not a doctor or admin), MV_ERR_PROTOCOL (malformed
 * answer), network and other HTTP errors (last_error set). */
mv_err mvc_patient_lookup(mv_client *c, const char *mrn, mvc_patient *out);
/* One entry of the storage server's record list (GET /v1/records). */
typedef struct mvc_row {
    uint8_t id[16], episode[16], owner[32], patient[32];
    int has_episode, has_patient;
    uint64_t blocks; /* 0: a keyset record */
} mvc_row;
/* Reads one entry of the list; MV_ERR_PROTOCOL (last_error set) if it is malformed. */
mv_err mvc_record_row(mv_client *c, const mv_json *e, mvc_row *out);
/* 1 if the caller owns the record or is its patient (whose it is to share). */
int mvc_row_is_mine(const mv_client *c, const mvc_row *r);
/* The X25519 key of the user whose Ed25519 key is sign_pk (GET /v1/users/{hex}).
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_PROTOCOL, network/HTTP errors. */
mv_err mvc_user_box_key(mv_client *c, const uint8_t sign_pk[32], uint8_t box_pk[32]);

/* The local OPRF cache: fingerprint -> MLE key, encrypted at rest. */
mv_err mvc_cache_open(const char *user_dir, const uint8_t box_sk[32], const uint8_t group_pk[32], mvc_cache **out);
void mvc_cache_close(mvc_cache *k);
/* 1 and key filled on a hit, 0 on a miss (or an entry that does not decrypt). */
int mvc_cache_get(mvc_cache *k, const uint8_t fp[32], uint8_t key[32]);
mv_err mvc_cache_put(mvc_cache *k, const uint8_t *fps, const uint8_t *keys, size_t n);

/* ---- keyset.c: one key per reader set (decision 0010) ---- */

/* A run's keys by id (keyset ids, record ids) in locked memory, sorted by id. An id names one
 * key: the first one put stays, so a key learnt later from someone else never replaces it. */
typedef struct mvc_keyent {
    uint8_t id[16], key[32];
} mvc_keyent;
typedef struct mvc_keytab {
    mvc_keyent *e;
    size_t n, cap;
} mvc_keytab;
/* Adds (id, key) unless id is there. Errors: MV_ERR_TOO_LARGE (65536 keys), MV_ERR_NOMEM. */
mv_err mvc_keytab_put(mvc_keytab *t, const uint8_t id[16], const uint8_t key[32]);
/* 1 and key filled if id is there, else 0. Read-only: safe from parallel tasks. */
int mvc_keytab_get(const mvc_keytab *t, const uint8_t id[16], uint8_t key[32]);
void mvc_keytab_clear(mvc_keytab *t);

/* A reader set: who reads (their X25519 keys) and the ACL the keyset record gets, which is
 * the ACL of the records it serves (frames.h MVP2). Pointers are borrowed. */
typedef struct mvc_scope {
    const uint8_t *episode;    /* 16 bytes, or NULL: none */
    const uint8_t *box_pks;    /* n_box (1..64) X25519 keys, any order, duplicates folded */
    size_t n_box;
    const uint8_t *patient;    /* Ed25519, or NULL: none */
    const uint8_t *delegation; /* with a patient: her delegation (binary MVD1) */
    size_t delegation_len;
    const uint8_t *readers;    /* Ed25519 keys beyond the owner and the patient */
    size_t n_readers;
} mvc_scope;

/* The keyset (kid, K) for scope s, owned by this user in c->dept: the cached one if the
 * stored keyset still has exactly these readers (checked once per run), else a new one,
 * stored as an MVK1 record before this returns and cached in USER_DIR/keysets (0600, atomic
 * replace; K sealed with AES-256-GCM under a key derived from the user's box secret key).
 * *pk_ops (may be NULL) grows by the X25519 operations done (n_box for a new keyset, else 0).
 * Errors: network/HTTP errors, MV_ERR_FORBIDDEN (the server refused it), MV_ERR_NOMEM. */
mv_err mvc_keyset_for(mv_client *c, const mvc_scope *s, uint8_t kid[16], uint8_t K[32], uint64_t *pk_ops);
/* Fetches the keysets kids[0..n) not yet open in this run (one batched request per 4096)
 * and opens each with the user's box key; those absent or not openable stay unknown.
 * Errors: network/HTTP errors, MV_ERR_PROTOCOL, MV_ERR_NOMEM. */
mv_err mvc_keysets_fetch(mv_client *c, const uint8_t *kids, size_t n, uint64_t *pk_ops);
/* K of keyset kid if it was opened in this run (1), else 0. Read-only: safe from parallel
 * tasks once the fetches are done. */
int mvc_keyset_lookup(mv_client *c, const uint8_t kid[16], uint8_t K[32]);
/* mvc_keyset_lookup, else fetch and open it. MV_ERR_VERIFY if it cannot be opened. */
mv_err mvc_keyset_get(mv_client *c, const uint8_t kid[16], uint8_t K[32], uint64_t *pk_ops);
/* Drops every cached scope that maps to kid (its readers changed): later puts make a new
 * keyset for their reader set. */
void mvc_keyset_forget(mv_client *c, const uint8_t kid[16]);
void mvc_keysets_free(mvc_keysets *k);

/* ---- pre_share.c: sharing through the clouds (docs/pre.md) ---- */
/* Publishes the user's recipient key at the hospital once per user directory (marker file
 * pre.published); a failure is left for the next run and never fails the caller. */
void mvc_pre_publish(mv_client *c);
/* A record the caller opens with none of her own keys: its id and envelope. */
typedef struct mvc_pre_want {
    const uint8_t *id;
    const uint8_t *env;
    size_t env_len;
} mvc_pre_want;
/* Recovers, through the delegations the user received, the record keys of w[0..n) not known
 * yet. A delegation is used for a record only if it covers it (its owner is the record's owner
 * or patient in the storage server's list, and its label the record's episode, kind 1, or its
 * id, kind 2), only the entry for that record's keyset or id is taken, and the key is kept only
 * once it opened the envelope: a delegation from anyone else changes no other record's key.
 * One round of cfrags per delegation per run, every proof checked against the proxy that
 * answered. A record no delegation covers is left alone.
 * Errors (last_error names the cloud): MV_ERR_UNAVAILABLE (fewer than t proxies answered
 * correctly), a proxy's HTTP error, MV_ERR_VERIFY, MV_ERR_NOMEM. */
mv_err mvc_pre_resolve(mv_client *c, const mvc_pre_want *w, size_t n);
/* 1 and R filled if a delegation gave record id's key R (one that opened its envelope) in this
 * run, else 0. Read-only after mvc_pre_resolve: safe from parallel tasks. */
int mvc_pre_record_key(mv_client *c, const uint8_t id[16], uint8_t R[32]);
void mvc_pre_free(mvc_pre *p);

/* ---- group_hosp.c ---- */
typedef struct mv_group_keys mv_group_keys;
/* The caller's keys of group gid covering epoch: the key answer kept in the user's directory
 * (USER_DIR/group-<id>.keys, sealed as the hospital sent it) if its newest epoch is >= epoch,
 * else fetched from the hospital (a signed call) and kept. *out: the caller frees it.
 * Errors: those of mv_client_group_keys. */
mv_err mvc_group_keys_for(mv_client *c, const uint8_t gid[16], uint64_t epoch, mv_group_keys **out);

/* Runs fn(ctx, i) for i in [0, n) on up to `threads` threads. Returns the first error. */
typedef mv_err (*mvc_task_fn)(void *ctx, size_t i);
mv_err mvc_parallel(unsigned threads, size_t n, mvc_task_fn fn, void *ctx);

#endif
