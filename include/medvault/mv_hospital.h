/* mv_hospital.h - the hospital service (`medvault hospital run`): the group manager that
 * registers users and issues their credentials, and the token service of authorized
 * deduplication (TokenGen / ShareTokenGen, DESIGN section 3).
 *
 * The hospital holds one privilege key per department, created on demand and kept in
 * DIR/privileges/ (one file per department, mode 0600, name = hex of the department name).
 * A dedup token is HMAC(k_dept, tag): HMAC-SHA-256 by default, or HMAC-SHA-1 (zero-padded
 * to 32 bytes) when the deployment selects it for compatibility with the original scheme.
 * The storage server therefore sees tokens that only match within one department.
 *
 * It also keeps the registry (users, departments, appointments, delegations, the formulary)
 * and publishes the signed revocation list of suspended and revoked users. Every signed
 * request it serves must come from a user the registry lists as active.
 *
 * Directory layout (DIR is the hospital identity made by `medvault hospital init`):
 *   keys, public.json       the hospital's signing key (it signs every credential)
 *   privileges/<hex>.key    privilege keys (0600)
 *   registry.db             the registry (SQLite, WAL; schema in db/migrations, applied on open)
 *   users/<signpk hex>.json registrations of deployments older than the registry: imported
 *                           into registry.db on its first open, then left alone
 *   hospital.conf           optional settings (mv_config format):
 *                             threads (4), skew_seconds (300), token_hmac = sha256 | sha1,
 *                             credential_minutes (60, 1..10080): lifetime of every credential,
 *                             revocation_poll_seconds (10, 1..3600): next_update of the
 *                               revocation list, and the polling period services use,
 *                             storage_url: the storage server (the dashboard's savings page),
 *                             webhook_url: alerts are POSTed there (JSON, once each),
 *                             syslog (0, 0..1): alerts also go to syslog (LOG_AUTH|LOG_WARNING),
 *                             alert_window_seconds (600, 1..86400): repeats of an alert
 *                               within it add to its count instead of a new alert,
 *                             stepup_grant_seconds (900, 60..86400): step-up grant lifetime,
 *                             credential_days: still accepted, no longer used
 * The HTTP API is in docs/api.md. */
#ifndef MV_HOSPITAL_H
#define MV_HOSPITAL_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_TOKEN_BYTES 32
#define MV_HOSPITAL_MAX_TAGS 100000 /* per /v1/tokens request */

typedef enum mv_token_alg { MV_TOKEN_HMAC_SHA256 = 0, MV_TOKEN_HMAC_SHA1 = 1 } mv_token_alg;

/* token = HMAC(key, tag) with the chosen hash; SHA-1's 20 bytes are followed by 12 zero
 * bytes. MV_ERR_INVAL on NULL or an unknown alg. */
MV_API mv_err mv_token_compute(mv_token_alg alg, const uint8_t key[static 32], const uint8_t tag[static 32],
                               uint8_t token[static MV_TOKEN_BYTES]) __attribute__((warn_unused_result));

typedef struct mv_hospital_config {
    const char *dir;
    const char *listen;       /* "127.0.0.1:PORT" */
    unsigned threads;         /* default 4 */
    uint64_t skew_seconds;    /* default 300 */
    uint64_t credential_days; /* accepted for old hospital.conf files; not used (default 365) */
    uint64_t credential_minutes;      /* lifetime of credentials it issues; default 60 */
    uint64_t revocation_poll_seconds; /* revocation list next_update - issued_at; default 10 */
    char storage_url[256];            /* "" unless set (http:// or https://) */
    char webhook_url[512];            /* "" = no webhook (http:// or https://); docs/alerts.md */
    char public_urls[MV_AUTH_PUBLIC_URLS_MAX + 1]; /* "" or comma-separated URLs clients use
                                         besides the listen address (signed requests name them) */
    int syslog;                       /* 1: alerts also go to syslog; default 0 */
    uint64_t alert_window_seconds;    /* aggregation window; default 600 */
    uint64_t stepup_grant_seconds;    /* step-up grant lifetime; default 900 (MV_STEPUP_LIFETIME) */
    mv_token_alg token_alg;   /* default MV_TOKEN_HMAC_SHA256 */
    const char *port_file;    /* if set, the bound port is written there once listening */
    const char *deployment;   /* optional deployment file: the dashboard reads its storage_url
                                 when storage_url is unset (`medvault up` writes it last) */
} mv_hospital_config;

/* Fills the defaults and reads DIR/hospital.conf if present (unknown keys and bad values,
 * including a storage_url or webhook_url that is not an http(s) URL under its field's size, are MV_ERR_PARSE with
 * *err_line set). cfg->dir borrows dir. */
MV_API mv_err mv_hospital_config_defaults(mv_hospital_config *cfg, const char *dir, size_t *err_line)
    __attribute__((warn_unused_result));

/* Registers an active user directly in DIR/registry.db (no server needed, and safe while the
 * service runs: `medvault up` uses it for the first admin) and issues its credential (base64
 * into cred_b64[0..cap), cap >= MV_CRED_B64_MAX + 1 suffices), valid for hospital.conf's
 * credential_minutes; `days` is ignored (kept for compatibility). role is doctor, patient or
 * admin; a doctor needs at least one department (created if missing); a patient gets a fresh
 * random MRN. Errors: MV_ERR_EXISTS (signing key already registered), MV_ERR_INVAL (bad fields),
 * MV_ERR_PARSE (hospital.conf), MV_ERR_NOT_FOUND / MV_ERR_AUTH (hospital identity),
 * MV_ERR_BAD_STATE (registry newer than this binary), MV_ERR_IO, MV_ERR_BUSY, MV_ERR_NOMEM.
 * On error cred_b64 is wiped. */
MV_API mv_err mv_hospital_register(const char *dir, const char *name, const char *role, const char *const *departments,
                                   size_t n_departments, const uint8_t sign_pk[static 32],
                                   const uint8_t box_pk[static 32], uint64_t days, char *cred_b64,
                                   size_t cap) __attribute__((warn_unused_result));

/* Serves until SIGTERM/SIGINT, then shuts down cleanly (in-flight requests finish,
 * privilege keys wiped). */
MV_API mv_err mv_hospital_run(const mv_hospital_config *cfg) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
