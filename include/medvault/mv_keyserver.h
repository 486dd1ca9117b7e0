/* mv_keyserver.h - the threshold VOPRF key server (`medvault keyserver ...`).
 *
 * A key server holds one Shamir share k_i of the OPRF key k (never k itself), in locked
 * memory, and answers signed, rate-limited BlindEvaluate requests with a batched DLEQ
 * proof against its public share pk_i = k_i*G. Shares come from a distributed key
 * generation among the n servers (Joint-Feldman with complaints, every participant must
 * qualify), are renewed by proactive refresh (sharings of zero: k and every OPRF output
 * unchanged), or are restored from a backup with import-share. The HTTP API is in
 * docs/api.md. State directory layout:
 *   keys, public.json, credential  the server's own identity (mv_identity.h), for DKG messages
 *   share.json (0600)              index, threshold, epoch, share, all public shares
 *   peers.json                     the other key servers (index, url, server_key) for DKG/refresh
 *   ratelimit/                     LMDB token buckets
 *   keyserver.conf                 optional settings (mv_config format) */
#ifndef MV_KEYSERVER_H
#define MV_KEYSERVER_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_err.h"
#include "medvault/mv_revocation_poller.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_KS_MAX_SERVERS 16

/* The persisted share of one server. */
typedef struct mv_ks_share {
    uint32_t index;
    uint32_t threshold;
    uint32_t n;
    uint64_t epoch;
    uint8_t share[32];                          /* secret */
    uint8_t public_shares[MV_KS_MAX_SERVERS][32];
    uint8_t group_pk[32];
} mv_ks_share;

/* Loads dir/share.json. MV_ERR_NOT_FOUND if absent, MV_ERR_PARSE if malformed,
 * MV_ERR_VERIFY if share*G != its public share or the public shares are inconsistent,
 * MV_ERR_AUTH if the file is readable by group/others. out->share must be wiped by the caller. */
MV_API mv_err mv_ks_share_load(const char *dir, mv_ks_share *out) __attribute__((warn_unused_result));
/* Writes dir/share.json atomically with mode 0600 (computing group_pk from the public shares). */
MV_API mv_err mv_ks_share_save(const char *dir, mv_ks_share *s) __attribute__((warn_unused_result));

/* Restores a share from a backup: checks share*G equals public_shares[index-1] and that the
 * n public shares are consistent with one degree-(t-1) polynomial, then saves it (epoch 0
 * unless given). MV_ERR_VERIFY if a check fails (nothing written), MV_ERR_EXISTS if dir
 * already has a share and !overwrite. */
MV_API mv_err mv_keyserver_import_share(const char *dir, uint32_t index, uint32_t threshold, const uint8_t share[32],
                                        const uint8_t *public_shares, size_t n, uint64_t epoch, int overwrite)
    __attribute__((warn_unused_result));

typedef struct mv_keyserver_config {
    const char *dir;
    const char *listen;         /* "127.0.0.1:PORT" */
    uint8_t hospital_pk[32];
    double rate_per_sec;        /* token refill per client (elements/s); default 100 */
    double rate_burst;          /* bucket capacity (elements); default 10000 */
    unsigned threads;           /* HTTP worker threads; default 2 */
    uint64_t skew_seconds;      /* request date skew; default 300 */
    double dkg_timeout_s;       /* DKG/refresh deadline; default 120 */
    const char *port_file;      /* if set, the bound port is written there once listening */
    char hospital_url[MV_REVOCATION_URL_MAX]; /* "" = no revocation polling; else the
                                                 hospital's base URL (mv_revocation.h) */
    unsigned revocation_poll_s; /* seconds between revocation list fetches; default 10 */
    char public_urls[MV_AUTH_PUBLIC_URLS_MAX + 1]; /* "" or comma-separated URLs clients use
                                  besides the listen address (signed requests name them) */
} mv_keyserver_config;

/* Fills defaults (the numbers above) and reads dir/keyserver.conf if present (keys
 * rate_per_sec, rate_burst, threads, skew_seconds, dkg_timeout_seconds, hospital_url,
 * revocation_poll_seconds 1..3600); flags set afterwards by the caller override it.
 * MV_ERR_PARSE (also for a hospital_url that mv_revocation_url_ok refuses) names the bad
 * line through err_line. */
MV_API mv_err mv_keyserver_config_defaults(mv_keyserver_config *cfg, const char *dir, size_t *err_line)
    __attribute__((warn_unused_result));

/* Runs the server until SIGTERM or SIGINT (which it blocks and waits for), then shuts down
 * cleanly: stops accepting, finishes in-flight requests, syncs state, wipes the share.
 * With a hospital_url it polls the hospital's signed revocation list (mv_revocation.h)
 * every revocation_poll_s seconds, the first time before it starts serving, and refuses
 * requests from revoked subjects (401); MV_ERR_INVAL if hospital_url is malformed or
 * revocation_poll_s is outside 1..3600.
 * If dir has no share.json, it runs the DKG with the peers in dir/peers.json first (the
 * evaluate endpoint answers 503 until the key exists). Disables core dumps for the process. */
MV_API mv_err mv_keyserver_run(const mv_keyserver_config *cfg) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
