/* mv_storage.h - the storage server (`medvault storage run`): the untrusted cloud that keeps
 * MLE ciphertext blocks once whatever the department, per-department dedup tokens, and
 * record envelopes behind an ACL (DESIGN section 4).
 *
 * Every endpoint (docs/api.md, "Storage server") requires a signed request (mv_auth.h)
 * whose credential the hospital key verifies, but POST /v1/groups/{g}/ops: a group member's
 * anonymous operation, authorised by a ring signature over the group's current roster, which
 * the server fetches from hospital_url (docs/groups.md). The server never sees plaintext or keys:
 * it checks tag = SHA-256(C) on every upload, so nobody can poison a tag, and adds a
 * reference to a block it already holds only after a proof of ownership (a fresh,
 * stateless challenge n, response HMAC-SHA-256(n, C); docs/decisions/0004).
 *
 * State directory layout:
 *   store/          the storage engine (mv_store.h): LMDB index and pack files
 *   pow.key (0600)  32 random bytes keying the proof-of-ownership challenges; created on
 *                   first start. Replacing it only invalidates outstanding challenges.
 *   storage.conf    optional settings (mv_config format): threads, skew_seconds,
 *                   max_body, gc_interval_seconds, claim_ttl_seconds, hospital_url,
 *                   revocation_poll_seconds, and the guard's decoy_url, identity,
 *                   profile_floor, profile_factor, profile_denials
 *   honeytokens     the honeytoken set (JSON, written atomically; docs/guard.md)
 *   profiles        each principal's baseline of reads per hour (JSON, written atomically)
 *   pre/            the re-encryption proxy's delegations (docs/pre.md 7.3), with --identity
 *   groups/G/ID     a group record's history: every version's ring signature and signed
 *                   message (MVGH, written atomically; docs/groups.md)
 *
 * The guard (docs/guard.md) routes suspicious requests to the decoy cloud: authentication
 * failures (unauthenticated, forged, revoked, long-expired), and principals over their access
 * profile who do not complete step-up; it answers honeytoken reads and raises alerts. */
#ifndef MV_STORAGE_H
#define MV_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_err.h"
#include "medvault/mv_revocation_poller.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol caps (docs/api.md). */
#define MV_STORAGE_MAX_TOKENS 100000          /* tokens per dupcheck */
#define MV_STORAGE_MAX_BLOCK ((size_t)8 << 20) /* ciphertext bytes per uploaded block */
#define MV_STORAGE_MAX_GET 4096               /* tags or ids per batched get */
#define MV_STORAGE_MAX_ENVELOPE ((size_t)1 << 20)
#define MV_STORAGE_CHALLENGE_TTL 300          /* seconds a dupcheck challenge stays valid */
#define MV_STORAGE_PATH_MAX 1024              /* cap on configured directory paths */

/* Which cloud this process is: the primary (records, blocks), the decoy cloud, which only
 * answers requests the primary forwards to it (issue 5), or the second cloud's re-encryption
 * proxy, which serves only the /v1/pre routes (docs/pre.md 7.3; the primary is proxy 1 itself). */
typedef enum mv_storage_role { MV_STORAGE_PRIMARY = 0, MV_STORAGE_DECOY = 1, MV_STORAGE_PROXY = 2 } mv_storage_role;

typedef struct mv_storage_config {
    const char *dir;           /* state directory (created if missing) */
    const char *listen;        /* "a.b.c.d:PORT" (PORT 0 = any free port) */
    uint8_t hospital_pk[32];   /* verifies every credential */
    unsigned threads;          /* HTTP worker threads; default 4 */
    uint64_t skew_seconds;     /* accepted request date skew; default 300 */
    size_t max_body;           /* request body cap; default 256 MiB (larger bodies get 413) */
    double gc_interval_s;      /* background gc period; default 600; 0 = never */
    uint64_t claim_ttl_s;      /* how long an upload or a proof lets its maker reference the
                                  block in a record, and keeps it from gc; default 3600 */
    const char *port_file;     /* if set, the bound port is written there once listening */
    char hospital_url[MV_REVOCATION_URL_MAX]; /* "" = no revocation polling; else the
                                                 hospital's base URL (mv_revocation.h) */
    unsigned revocation_poll_s; /* seconds between revocation list fetches; default 10 */
    char public_urls[MV_AUTH_PUBLIC_URLS_MAX + 1]; /* "" or comma-separated URLs clients use
                                  besides the listen address (signed requests name them) */
    mv_storage_role role;      /* MV_STORAGE_PRIMARY (default), MV_STORAGE_DECOY (mv_decoy.h,
                                  docs/decoy.md) or MV_STORAGE_PROXY (docs/pre.md) */
    unsigned proxy_index;      /* the re-encryption proxy's index in the deployment file: the
                                  primary is 1 (when it has an identity), the proxy role 2..16
                                  (set by the caller; 0 = default: 1 for the primary) */
    uint8_t primary_pk[32];    /* decoy role: the primary storage server's Ed25519 identity key,
                                  the only signer /v1/decoy and /v1/decoy/shapes accept */
    /* The guard (docs/guard.md). */
    char identity_dir[MV_STORAGE_PATH_MAX]; /* storage-role identity (key + credential) signing
                                  requests to the decoy cloud and alerts to the hospital; "" =
                                  none (no forwarding, alerts only logged) */
    char decoy_url[MV_REVOCATION_URL_MAX]; /* "" = no decoy cloud: suspicious requests get 401 */
    uint64_t profile_floor;    /* reads per hour always allowed; default 300 */
    double profile_factor;     /* burst = reads in the last hour > max(floor, factor x baseline);
                                  default 5 (1..1000) */
    uint64_t profile_denials;  /* ACL refusals per hour that demand step-up; default 10 */
} mv_storage_config;

/* Fills cfg with the defaults above (dir = dir, listen and port_file NULL, hospital_pk
 * zero) and reads dir/storage.conf if it exists (dir may be NULL: defaults only); the
 * caller sets listen and hospital_pk and may override any field afterwards.
 * Errors: MV_ERR_INVAL (cfg NULL), MV_ERR_PARSE (malformed file, an unknown key or a value
 * out of range; *err_line, if not NULL, receives the 1-based line, 0 if not tied to one),
 * MV_ERR_TOO_LARGE, MV_ERR_IO, MV_ERR_NOMEM (from reading the file). A hospital_url that
 * mv_revocation_url_ok refuses is MV_ERR_PARSE; revocation_poll_seconds is 1..3600. Logs
 * the bad key's name, never a value. decoy_url is checked like hospital_url; profile_floor
 * is 1..10^9, profile_factor a decimal in 1..1000, profile_denials 1..10^6; identity is a
 * directory path shorter than MV_STORAGE_PATH_MAX. */
MV_API mv_err mv_storage_config_defaults(mv_storage_config *cfg, const char *dir, size_t *err_line)
    __attribute__((warn_unused_result));

/* Parses a profile factor: a decimal number in 1..1000 ("5", "2.5"), nothing else.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_PARSE. */
MV_API mv_err mv_storage_parse_factor(const char *text, double *out) __attribute__((warn_unused_result));

/* Runs the server: creates dir if needed, loads or creates dir/pow.key, opens the store at
 * dir/store (exclusively), listens, writes the port file, then serves until SIGTERM or
 * SIGINT (which it blocks in every thread and waits for on the calling thread; call it
 * before starting other threads). Every gc_interval_s it runs a garbage collection pass on
 * the calling thread while requests continue to be served. On a signal it stops
 * accepting, finishes in-flight requests, closes the store and returns MV_OK.
 * With a hospital_url it polls the hospital's signed revocation list (mv_revocation.h)
 * every revocation_poll_s seconds, the first time before it starts serving, and refuses
 * requests from revoked subjects (401).
 * Errors (before serving): MV_ERR_INVAL (NULL cfg, dir or listen, threads 0, skew 0,
 * max_body 0, claim_ttl_s 0, negative gc_interval_s, a malformed hospital_url,
 * revocation_poll_s outside 1..3600 with a hospital_url), MV_ERR_BUSY (another process holds the store),
 * MV_ERR_AUTH (pow.key readable by group or others), MV_ERR_PARSE (pow.key malformed),
 * MV_ERR_NET (cannot listen), MV_ERR_IO, MV_ERR_NOMEM, or what opening the store returns.
 * Disables core dumps for the process (the pow key is a secret). */
MV_API mv_err mv_storage_run(const mv_storage_config *cfg) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
