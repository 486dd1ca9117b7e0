/* mv_client.h - the record pipeline on the user's machine: put, get, list, delete, stats.
 *
 * put: FHIR JSON is canonicalised and split into an envelope and content blocks (mv_fhir),
 * anything else is cut with FastCDC (mv_cdc); every block is compressed (zstd), its MLE key
 * comes from the threshold VOPRF (mv_toprf) on its fingerprint, it is encrypted (mv_mle),
 * the hospital turns its tag into the department's dedup token, and the storage server is
 * asked whether the token exists: new blocks are uploaded, existing ones proven (proof of
 * ownership) instead. The record (block list, keys, skeleton) is sealed in an envelope for
 * its readers and stored with its ACL. Everything is batched: one round trip per service
 * and batch, never per record. No service sees a plaintext block or a key.
 *
 * A local cache (USER_DIR/cache, LMDB, entries encrypted under a key derived from the
 * user's secret key) remembers fingerprint -> MLE key, so content this user already
 * stored costs no OPRF evaluation.
 *
 * A client handle is not thread-safe (it uses worker threads internally). */
#ifndef MV_CLIENT_H
#define MV_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_CLIENT_ID_BYTES 16

typedef struct mv_client mv_client;

typedef void (*mv_client_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct mv_client_options {
    const char *department;    /* which of the user's departments records belong to; NULL = the first */
    const char *profiles_path; /* FHIR split profiles; NULL = the built-in data file */
    size_t batch_blocks;       /* blocks per batch (default 1024) */
    size_t batch_bytes;        /* plaintext bytes per batch (default 64 MiB) */
    size_t cdc_min, cdc_avg, cdc_max; /* attachment chunking; 0 = 256 KiB / 1 MiB / 4 MiB */
    int no_cache;              /* 1: do not use the local OPRF cache */
    unsigned threads;          /* CPU workers for compression and encryption; 0 = online CPUs */
    mv_client_progress_fn progress; /* called with bytes done / total during put and get */
    void *progress_ctx;
    const char *patient;       /* put: the patient's MRN the records are written for (NULL = none) */
    const char *appointment;   /* put: the episode (32 hex) when patient is set; NULL = the delegation's */
} mv_client_options;

/* Opens a client for the user in user_dir (keys + credential) and the services in the
 * deployment file. opt may be NULL. Renews the credential first (docs/revocation.md) when it
 * has expired or less than half its lifetime remains: POST /v1/credentials at the hospital,
 * signed with the user's key; the new credential (checked against the deployment's
 * hospital key and the user's key) replaces user_dir/credential atomically. A renewal that
 * fails while the old credential is still valid is retried at the next open.
 * Errors: MV_ERR_NOT_FOUND / MV_ERR_PARSE / MV_ERR_VERIFY (deployment or identity),
 * MV_ERR_AUTH (no credential; the hospital refused to renew it (403: suspended or revoked)
 * or does not know the key (404) while it has expired), MV_ERR_NET / MV_ERR_TIMEOUT /
 * MV_ERR_HTTP (the credential has expired and the hospital could not renew it),
 * MV_ERR_PROTOCOL (the hospital's new credential does not verify), MV_ERR_BAD_STATE (the
 * deployment has no hospital_url or storage_url), MV_ERR_FORBIDDEN (department not in the
 * credential, or the credential names none), MV_ERR_NOMEM, MV_ERR_IO (cache, saving). */
MV_API mv_err mv_client_open(const char *deployment_path, const char *user_dir, const mv_client_options *opt,
                             mv_client **out) __attribute__((warn_unused_result));
/* As mv_client_open; on failure a short description of why (what mv_client_last_error
 * would say, e.g. "the hospital refused to renew this user's credential (suspended or
 * revoked)") is copied, NUL-terminated, into err[0..err_cap) ("" when there is none).
 * err may be NULL. */
MV_API mv_err mv_client_open_msg(const char *deployment_path, const char *user_dir, const mv_client_options *opt,
                                 mv_client **out, char *err, size_t err_cap) __attribute__((warn_unused_result));
MV_API void mv_client_close(mv_client *c);

/* A short description of the last error (which service, which step); never patient data.
 * Valid until the next call on c. */
MV_API const char *mv_client_last_error(const mv_client *c);

typedef struct mv_put_result {
    const char *path;        /* the input file (borrowed, valid during the callback) */
    mv_err rc;               /* MV_OK if stored */
    uint8_t id[MV_CLIENT_ID_BYTES];
    int kind;                /* MV_RECORD_FHIR or MV_RECORD_ATTACHMENT */
    uint64_t bytes;          /* input size */
    size_t blocks;           /* blocks the record references */
    /* FHIR resources (mv_fhirstore.h): */
    int outcome;             /* mv_fhir_outcome: created, updated (a new version) or unchanged (id: the existing version) */
    uint32_t version;        /* meta.versionId given (0: no logical id) */
    const char *fhir_type;   /* resourceType and id ("" when none; borrowed) */
    const char *fhir_id;
} mv_put_result;
typedef void (*mv_put_fn)(void *ctx, const mv_put_result *r);

typedef struct mv_put_stats {
    uint64_t records, failed, bytes_in, blocks, unique_blocks, uploaded_blocks, proven_blocks;
    uint64_t uploaded_bytes, envelope_bytes, oprf_evaluations, cache_hits, round_trips;
    /* X25519 operations: wrapping a new reader set's key once per reader, or opening a
     * stored one; none per record (decision 0010). */
    uint64_t public_key_ops;
    uint64_t unchanged;    /* resources whose content equals their latest version: nothing stored */
    uint64_t new_versions; /* records that are a new version of a stored logical id */
    double seconds;
} mv_put_stats;

/* Stores every file named in paths[0..n) (directories are walked recursively, in name
 * order; symlinks are not followed). An NDJSON file (.ndjson, .jsonl) is one record per
 * line, and a Bundle of type transaction, batch, collection or searchset one record per
 * entry; a FHIR resource with an id is versioned (mv_fhirstore.h, docs/fhir.md). A resource
 * about a registered patient (by a "Patient/MRN-..." reference, or a reference to a Patient
 * whose identifier carries the hospital's MRN) is written for that patient when the
 * hospital handed this user her delegation, and fails otherwise. fn (may be NULL) is called
 * once per resource or file, in input order (those of each registered patient after the
 * others, in input order), when its record is stored, unchanged or has failed. A bad input (a missing path, an unreadable file or
 * directory, invalid JSON that looks like FHIR, a bad NDJSON line) fails alone, with its path in
 * fn (MV_ERR_NOT_FOUND for a missing one) and counted in stats->failed; a service failure fails
 * the batch it hit and stops.
 * Returns MV_OK if every file was stored, else the first error (see fn for which). */
MV_API mv_err mv_client_put(mv_client *c, const char *const *paths, size_t n, mv_put_fn fn, void *ctx,
                            mv_put_stats *stats)
    __attribute__((warn_unused_result));

/* Fetches record id and writes its content to out (appending): the canonical JSON for FHIR
 * records (byte-identical for every reader), the original bytes for attachments. kind and
 * name (the original file name, NUL-terminated, cap name_cap) may be NULL.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN (not a reader), MV_ERR_VERIFY (tampered
 * envelope or block), MV_ERR_NET/MV_ERR_HTTP, MV_ERR_TOO_LARGE (out->max). */
MV_API mv_err mv_client_get(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], mv_buf *out, int *kind,
                            char *name, size_t name_cap) __attribute__((warn_unused_result));

/* Fetches records ids[0..n) (16 bytes each) in batches and calls fn once per record, in
 * order, with its outcome and, on success, its kind, original name (not NUL-terminated) and
 * content (all borrowed for the duration of the call). A record that is absent, not
 * readable by this user or fails its checks is reported through fn's rc; the run goes on.
 * Returns MV_OK unless a service failure stopped the run (records not yet reported then got
 * no call). */
typedef void (*mv_get_fn)(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                          const uint8_t *data, size_t len);
MV_API mv_err mv_client_get_many(mv_client *c, const uint8_t *ids, size_t n, mv_get_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Where attachments can be written as they are decrypted, instead of being held whole and
 * handed to mv_get_fn: a 16 MiB image then never sits in memory, and each block is written
 * while it is still in the CPU's cache. All three are called with the ctx given to
 * mv_client_get_many_to.
 * open: called on the calling thread, in list order, for an attachment whose envelope opened
 *   and whose blocks all arrived with the sizes it declares, before any of its content. size
 *   is the length it declares. Returns 0 with *h set (the sink's own handle), or non-zero to
 *   have this record delivered to mv_get_fn instead.
 * write: the record's bytes [off, off + len) (one block's plaintext), from worker threads:
 *   the blocks of one record in any order and several at once (their ranges never
 *   overlap; pwrite suits), and several records at once. Each call's bytes come from a block
 *   already checked against its tag and decrypted under GCM: nothing unauthenticated
 *   reaches the sink. data is borrowed for the call. Returns 0, or non-zero when it could
 *   not write (the record then fails with MV_ERR_IO).
 * close: called on the calling thread, in list order, once for every h that open gave, after
 *   every write to it and just before mv_get_fn reports the record. rc is MV_OK when every
 *   byte [0, size) was written; otherwise (a block failed its checks, or a write failed) the
 *   sink must discard what it got. */
typedef struct mv_get_sink {
    int (*open)(void *ctx, const uint8_t *id, const char *name, size_t name_len, uint64_t size, void **h);
    int (*write)(void *ctx, void *h, uint64_t off, const uint8_t *data, size_t len);
    void (*close)(void *ctx, void *h, mv_err rc);
} mv_get_sink;

/* As mv_client_get_many; attachments that sink (may be NULL: none) takes are streamed to it
 * (see mv_get_sink), and fn then reports them with data NULL and len 0 (rc as usual: MV_OK
 * when the sink has every byte). */
MV_API mv_err mv_client_get_many_to(mv_client *c, const uint8_t *ids, size_t n, mv_get_fn fn, const mv_get_sink *sink,
                                    void *ctx) __attribute__((warn_unused_result));

/* The storage server's list of records this user may read, as its JSON (appended to out). */
MV_API mv_err mv_client_list_json(mv_client *c, mv_buf *out) __attribute__((warn_unused_result));
/* Deletes a record (owner or admin). MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN. */
MV_API mv_err mv_client_delete(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES])
    __attribute__((warn_unused_result));
/* The storage server's statistics, as its JSON (appended to out). */
MV_API mv_err mv_client_stats_json(mv_client *c, mv_buf *out) __attribute__((warn_unused_result));

/* Grants (grant = 1) or revokes (grant = 0) read access to record id for the user whose
 * Ed25519 key is target_sign_pk: looks the target's X25519 key up at the hospital, rewraps
 * the record key locally (mv_envelope_add_reader / mv_envelope_remove_reader) and replaces
 * the record's readers at the storage server. Allowed to the record's owner and its patient.
 * Revoking removes the ACL entry at once; key material the target already fetched is out of
 * anyone's hands. Errors: MV_ERR_NOT_FOUND (record or user), MV_ERR_FORBIDDEN (caller is not
 * the owner or patient; or revoking the owner/patient), MV_ERR_VERIFY (envelope does not open),
 * network errors. */
MV_API mv_err mv_client_share(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES],
                              const uint8_t target_sign_pk[static 32], int grant) __attribute__((warn_unused_result));

/* mv_client_share for every record of episode appointment_hex (32 hex) the caller may share;
 * *n_changed (may be NULL) receives how many records changed. */
MV_API mv_err mv_client_share_episode(mv_client *c, const char *appointment_hex, const uint8_t target_sign_pk[static 32],
                                      int grant, size_t *n_changed) __attribute__((warn_unused_result));

/* ---- sharing through the clouds (docs/pre.md): a delegation the owner signs once ---- */

/* The recipient key B of the user whose Ed25519 key is sign_pk, from the hospital directory
 * (GET /v1/users/{hex}), after checking her signature over it (the directory is trusted for
 * nothing else). dept (may be NULL) receives her first department ("" if none), NUL-terminated
 * in dept_cap bytes. Errors: MV_ERR_NOT_FOUND (no such user, or she has published no key:
 * she runs any command once), MV_ERR_VERIFY (the signature does not verify), network/HTTP. */
MV_API mv_err mv_client_pre_key(mv_client *c, const uint8_t sign_pk[static 32], uint8_t B[static 32], char *dept,
                                size_t dept_cap) __attribute__((warn_unused_result));

/* What a delegation's recipient must show each cloud, and for how long. */
typedef struct mv_client_pre_policy {
    uint8_t role;           /* mv_role bit; 0: doctor */
    const char *department; /* NULL: the recipient's first department at the hospital */
    uint64_t seconds;       /* validity from now; 0: 30 days */
} mv_client_pre_policy;

/* Delegates label (an appointment id with kind MV_PRE_LABEL_EPISODE, or a record id with
 * MV_PRE_LABEL_RECORD) to the user `to` through every proxy of the deployment: one capsule per
 * keyset of the episode (K) and per record outside a keyset (R) among the records the caller
 * owns or that name her as patient, kfrags for the recipient's key (t of n proxies), the
 * signed MVPD and each proxy's sealed kfrag uploaded to it. An active delegation of the same
 * (label, recipient) is revoked and replaced (a re-grant after new records). If a proxy
 * refuses, the delegation is withdrawn from those that accepted and last_error names the one
 * that refused. hash (may be NULL) receives the delegation's hash, *n_entries (may be NULL) its
 * capsule count. Errors: MV_ERR_BAD_STATE (the deployment names no proxies), MV_ERR_NOT_FOUND
 * (nothing to delegate, or the recipient or her key), MV_ERR_VERIFY (her key's signature),
 * MV_ERR_INVAL (policy), MV_ERR_TOO_LARGE (over MV_PRE_MAX_CAPSULES capsules), a proxy's HTTP
 * error, network errors. */
MV_API mv_err mv_client_pre_grant(mv_client *c, int kind, const uint8_t label[static 16], const uint8_t to[static 32],
                                  const mv_client_pre_policy *policy, uint8_t hash[32], size_t *n_entries)
    __attribute__((warn_unused_result));

/* Revokes every active delegation of (kind, label) to `to` the caller gave, at every proxy
 * (POST /v1/pre/revoke). MV_OK only when every proxy confirmed; otherwise last_error names the
 * proxy that did not (the others have deleted theirs). *n_revoked (may be NULL): how many.
 * Errors: MV_ERR_BAD_STATE (no proxies), MV_ERR_NOT_FOUND (no such delegation), network/HTTP. */
MV_API mv_err mv_client_pre_revoke(mv_client *c, int kind, const uint8_t label[static 16], const uint8_t to[static 32],
                                   size_t *n_revoked) __attribute__((warn_unused_result));

/* The active delegations the caller gave or received, as proxy 1 lists them (docs/pre.md
 * 7.3), appended to out as {"given":[...],"received":[...]}. Errors: MV_ERR_BAD_STATE (no
 * proxies), network/HTTP errors, MV_ERR_PROTOCOL. */
MV_API mv_err mv_client_pre_delegations_json(mv_client *c, mv_buf *out) __attribute__((warn_unused_result));

/* Asks every proxy separately to re-encrypt the delegation named by hash for the caller (its
 * recipient) and checks each answer's proofs: appends {"delegation","keys_open","clouds":[{"proxy",
 * "url","ok","error"?}]} to out, "error" saying what that cloud answered (its HTTP status and
 * reason, no answer, a bad proof), keys_open whether t good answers opened every capsule. A diagnosis: MV_OK whatever the clouds answered. Errors:
 * MV_ERR_BAD_STATE (no proxies), MV_ERR_NOMEM, MV_ERR_TOO_LARGE (out). */
MV_API mv_err mv_client_pre_check_json(mv_client *c, const uint8_t hash[static 32], mv_buf *out)
    __attribute__((warn_unused_result));

/* The owner of a legacy record (written with no patient) names its patient once registered:
 * looks the MRN up (GET /v1/patients/MRN), wraps the record key for the patient and sets the
 * record's patient at the storage server. Errors: MV_ERR_NOT_FOUND (record or MRN),
 * MV_ERR_FORBIDDEN (not the owner), MV_ERR_EXISTS (the record already has a patient). */
MV_API mv_err mv_client_grant_patient(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], const char *mrn)
    __attribute__((warn_unused_result));

/* One signed request to the hospital service (its JSON API, docs/api.md): method "GET",
 * "POST", "PUT" or "DELETE", path with query, body (may be NULL when len is 0) sent as
 * application/json. On MV_OK *status holds the HTTP status and the answer is appended to out
 * (whatever the status: callers map errors themselves, mv_client_last_error is set for
 * statuses >= 400). Errors: MV_ERR_NET / MV_ERR_TIMEOUT (no answer), MV_ERR_TOO_LARGE
 * (out's cap), MV_ERR_INVAL (NULL). */
MV_API mv_err mv_client_hospital(mv_client *c, const char *method, const char *path, const uint8_t *body, size_t len,
                                 long *status, mv_buf *out) __attribute__((warn_unused_result));

/* ---- step-up (docs/stepup.md) ----
 * When the storage server answers 401 with "MV-Step-Up: required", the failing call reports
 * "step-up required: run `medvault stepup --device-key DIR` or `medvault stepup --request`"
 * (MV_ERR_AUTH) and USER_DIR/stepup.pending is written; while it exists the client sends no
 * storage read (same error). A grant obtained below is kept in USER_DIR/stepup.grant (0600)
 * and sent as MV-Step-Up on every storage request while it verifies (hospital key, this
 * user, not expired). */
/* 1 if step-up is pending for this user (and no valid grant is held). */
MV_API int mv_client_stepup_pending(const mv_client *c);
/* Steps up with the device key in device_dir (a `medvault keygen` directory registered by an
 * admin): signs a fresh proof, gets the grant, stores it and removes stepup.pending;
 * *expires (may be NULL) gets its expiry. Errors: MV_ERR_INVAL, MV_ERR_NOT_FOUND /
 * MV_ERR_PARSE / MV_ERR_AUTH (device dir), MV_ERR_FORBIDDEN (the hospital refused the proof),
 * MV_ERR_PROTOCOL (a grant that does not verify), network errors; last_error says which. */
MV_API mv_err mv_client_stepup_device(mv_client *c, const char *device_dir, uint64_t *expires)
    __attribute__((warn_unused_result));
/* Asks for an admin's approval; *request_id gets the request (an existing pending one is
 * reused). Errors: MV_ERR_RATE_LIMITED (too many pending), MV_ERR_PROTOCOL, network errors. */
MV_API mv_err mv_client_stepup_request(mv_client *c, int64_t *request_id) __attribute__((warn_unused_result));
/* Checks request_id: *approved 1 once approved (grant stored as by mv_client_stepup_device),
 * 0 while pending. Errors: MV_ERR_FORBIDDEN (denied), MV_ERR_NOT_FOUND, MV_ERR_HTTP (410:
 * the approved grant expired), MV_ERR_PROTOCOL, network errors. */
MV_API mv_err mv_client_stepup_poll(mv_client *c, int64_t request_id, int *approved, uint64_t *expires)
    __attribute__((warn_unused_result));

/* Appends the hospital's base URL from the deployment (no trailing '/') to out. */
MV_API mv_err mv_client_hospital_url(const mv_client *c, mv_buf *out) __attribute__((warn_unused_result));

/* The user's verified-at-open credential fields (role, departments, subject, expiry) and
 * keys' public halves: copies into *cred; box_pk (may be NULL) receives the X25519 key. */
MV_API void mv_client_whoami(const mv_client *c, mv_credential *cred, uint8_t box_pk[32]);

/* Registers a new user with the hospital as the admin in admin_dir: creates fresh keys in
 * new_dir, sends the public keys, name, role and departments (POST /v1/users), and saves the
 * credential it gets back in new_dir. Everything checkable here (the role is admin, doctor
 * or patient; a doctor has a department; new_dir holds no keys; the admin's directory and
 * deployment load) is checked before anything is created, and a registration the hospital
 * refuses removes what it created in new_dir (new_dir too if it made it), so that a retry
 * starts afresh. Errors: MV_ERR_EXISTS (new_dir holds keys, the key is registered, or the
 * hospital has a doctor or admin of that name), MV_ERR_FORBIDDEN (not an admin),
 * MV_ERR_INVAL (refused fields), those of mv_client_open, network errors. */
MV_API mv_err mv_client_user_add(const char *deployment_path, const char *admin_dir, const char *name, const char *role,
                                 const char *const *departments, size_t n_departments, const char *new_dir)
    __attribute__((warn_unused_result));
/* As mv_client_user_add; on failure a short description of why (which file, or what the
 * hospital answered; never a key) is copied, NUL-terminated, into err[0..err_cap) ("" when
 * there is none). err may be NULL. */
MV_API mv_err mv_client_user_add_msg(const char *deployment_path, const char *admin_dir, const char *name,
                                     const char *role, const char *const *departments, size_t n_departments,
                                     const char *new_dir, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
