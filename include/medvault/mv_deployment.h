/* mv_deployment.h - the deployment file: where a client finds the services it talks to.
 *
 * JSON (documented in docs/deployment.md):
 *   {"version":1, "hospital_public_key":HEX, "suite":"ristretto255-SHA512",
 *    "threshold":T, "epoch":E, "group_public_key":HEX,
 *    "keyservers":[{"index":I, "url":"http://127.0.0.1:PORT", "public_share":HEX}, ...],
 *    "hospital_url":URL, "storage_url":URL,   (both optional)
 *    "proxies":[{"index":I, "url":URL, "box_public_key":HEX}, ...], "proxy_threshold":T}
 *                                             (optional together: the re-encryption proxies, docs/pre.md 7.2)
 * A client pins every key server's public share from this file and verifies each proof
 * against it. Loading checks that the public shares are consistent: they lie on one
 * polynomial of degree T-1 "in the exponent" whose value at 0 is the group public key. */
#ifndef MV_DEPLOYMENT_H
#define MV_DEPLOYMENT_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_DEPLOY_MAX_SERVERS 16
#define MV_DEPLOY_URL_MAX 255
#define MV_DEPLOY_MAX_PROXIES 16
#define MV_DEPLOY_FILE_MAX ((size_t)1 << 20) /* a deployment file is at most 1 MiB */
/* What a client tells its user when mv_deployment_load_for_user answers MV_ERR_AUTH. */
#define MV_DEPLOY_PIN_MSG                                                                                       \
    "the deployment file's hospital key is not the one this user registered with (hospital.pin in "            \
    "the user directory, or the issuer of its credential): refusing it; get the hospital's genuine file"

typedef struct mv_keyserver_entry {
    uint32_t index;                     /* Shamir id, 1..n */
    char url[MV_DEPLOY_URL_MAX + 1];    /* base URL, no trailing slash */
    uint8_t public_share[32];           /* pk_i = k_i * G */
} mv_keyserver_entry;

/* One re-encryption proxy (docs/pre.md 7.2): proxy 1 is the storage cloud, 2 the second cloud. */
typedef struct mv_proxy_entry {
    uint32_t index;                  /* the kfrag index i, 1..n */
    char url[MV_DEPLOY_URL_MAX + 1]; /* base URL, no trailing slash */
    uint8_t box_pk[32];              /* its service identity's X25519 key: kfrag i is sealed to it */
} mv_proxy_entry;

typedef struct mv_deployment {
    uint8_t hospital_pk[32];
    uint32_t threshold;
    uint64_t epoch; /* key-share epoch: 0 after the DKG, +1 per proactive refresh */
    uint8_t group_pk[32];
    size_t n_servers;
    mv_keyserver_entry servers[MV_DEPLOY_MAX_SERVERS]; /* sorted by index */
    char hospital_url[MV_DEPLOY_URL_MAX + 1]; /* optional ("" if absent): token service, registry */
    char storage_url[MV_DEPLOY_URL_MAX + 1];  /* optional ("" if absent): the primary storage server */
    /* Optional (n_proxies 0 if absent: sharing through the clouds is unavailable). */
    size_t n_proxies;
    uint32_t proxy_threshold; /* 1..n_proxies when n_proxies > 0, else 0 */
    mv_proxy_entry proxies[MV_DEPLOY_MAX_PROXIES]; /* sorted by index */
} mv_deployment;

/* Parses a deployment document. MV_ERR_PARSE for malformed JSON or fields (missing field,
 * bad hex, index out of 1..n or repeated, threshold not in 1..n, URL not http(s)://; the
 * same for "proxies" and "proxy_threshold", which come together or not at all, and an
 * all-zero proxy box key),
 * MV_ERR_VERIFY if the public shares are inconsistent with the group key. */
MV_API mv_err mv_deployment_parse(const char *text, size_t len, mv_deployment *out)
    __attribute__((warn_unused_result));
/* Reads and parses a file (cap 1 MiB). Also MV_ERR_NOT_FOUND / MV_ERR_IO. */
MV_API mv_err mv_deployment_load(const char *path, mv_deployment *out) __attribute__((warn_unused_result));
/* Loads the deployment at path for the user whose directory is user_dir: mv_deployment_load,
 * then mv_identity_check_hospital(user_dir, its hospital key), so that a deployment file
 * whose hospital key was altered is refused before anything is sent. A first use that
 * wrote the pin sets *pinned_now to 1 (may be NULL) and logs it. out is zeroed on failure.
 * Errors: those of mv_deployment_load; MV_ERR_AUTH (the hospital key is not the one this
 * user registered with: it differs from user_dir's pin, or did not sign its credential),
 * and the others of mv_identity_check_hospital. */
MV_API mv_err mv_deployment_load_for_user(const char *path, const char *user_dir, mv_deployment *out, int *pinned_now)
    __attribute__((warn_unused_result));
/* mv_deployment_load (user_dir NULL) or mv_deployment_load_for_user (user_dir given), with
 * the same results, that also describes a failure in err[0..err_cap) (NUL-terminated, "" on
 * success; err may be NULL): which file (the deployment file or the user directory) and what
 * is wrong with it: "no such file", "is a directory", "cannot read it (Permission denied)",
 * "larger than 1 MiB", which field does not parse, shares inconsistent with the group key,
 * or the hospital key pin. A directory or other non-regular file is MV_ERR_IO. No key or
 * other secret is ever part of the message (the file holds none). */
MV_API mv_err mv_deployment_load_msg(const char *path, const char *user_dir, mv_deployment *out, int *pinned_now,
                                     char *err, size_t err_cap) __attribute__((warn_unused_result));
/* Serialises d as JSON (pretty enough for humans: one key server per line). */
MV_API mv_err mv_deployment_write(const mv_deployment *d, mv_buf *out) __attribute__((warn_unused_result));
/* Writes d to path atomically (0644). */
MV_API mv_err mv_deployment_save(const mv_deployment *d, const char *path) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
