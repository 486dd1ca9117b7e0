/* pre_proxy.h - the re-encryption proxy of one cloud (docs/pre.md 7.3): the delegation store
 * and the five /v1/pre routes, mounted in the storage server (proxy 1) and run alone by
 * `medvault storage run --role proxy` (the second cloud). Internal to libmedvault.
 *
 * State: DIR/pre/VERSION ("1\n") and DIR/pre/<hash hex>.mvpu, one file per delegation holding
 * the MVPU upload exactly as received (the sealed kfrag stays sealed), written atomically
 * (tmp, fsync, rename, fsync of the directory) before the 201; a revocation unlinks it and
 * fsyncs the directory before the 200. An in-memory index, rebuilt from the files at start
 * and sorted by recipient, answers the policy checks without touching the disk. */
#ifndef MV_PRE_PROXY_H
#define MV_PRE_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_credential.h"
#include "medvault/mv_err.h"
#include "medvault/mv_http.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_pre.h"

#define PRE_PROXY_COMPONENT "pre-proxy"
/* Delegations one proxy holds at most (an upload past it is 503). */
#define PRE_PROXY_MAX_DELEGATIONS 100000u
/* The largest request body of a /v1/pre route: an MVPU upload of the largest delegation. */
#define PRE_PROXY_MAX_BODY ((size_t)MV_PRE_DELEGATION_MAX_BYTES + 128u)
/* Active delegations one owner may have at one proxy (an upload past it is 429): one account
 * cannot fill the proxy's cap for every owner. */
#define PRE_PROXY_MAX_PER_OWNER 1000u
/* The longest window a delegation may have (expires_at - issued_at; longer is 400). */
#define PRE_PROXY_MAX_LIFETIME (366u * 86400u)
/* Seconds a delegation's issued_at may lie ahead of the proxy's clock (clock skew). */
#define PRE_PROXY_SKEW 300u

typedef struct pre_proxy pre_proxy;

/* Opens the proxy of index (1..16) over dir/pre (created 0700), holding a copy of the identity
 * at identity_dir's X25519 key pair in locked memory (its sealed kfrags are opened with it);
 * counts into metrics (borrowed, may be NULL). threads is the HTTP server's thread count: at most
 * half of them (at least one) re-encrypt at once, and one recipient has at most one running, so
 * re-encryptions never hold every thread of the server they share (more get 503 or 429). Rebuilds the index from the files; a file that
 * does not parse is logged and left alone, leftovers of interrupted writes are removed.
 * Errors: MV_ERR_INVAL, MV_ERR_PARSE (DIR/pre/VERSION of another version), MV_ERR_IO,
 * MV_ERR_NOMEM, what mv_identity_load returns. */
mv_err pre_proxy_open(const char *dir, unsigned index, const char *identity_dir, unsigned threads,
                      mv_metrics *metrics, pre_proxy **out) __attribute__((warn_unused_result));
/* Frees p (wiping its key). Accepts NULL. No request may be in progress. */
void pre_proxy_close(pre_proxy *p);

/* 1 if path is one of the proxy's routes (/v1/pre/...). */
int pre_proxy_is_path(const char *path);
/* The body gate's answer for a /v1/pre request at header time: 0 (refuse with 413) unless it
 * announces a Content-Length of at most PRE_PROXY_MAX_BODY, so an over-cap body is never
 * read; 1 if it does (the caller then checks the signature as for any request). */
int pre_proxy_body_ok(const mv_http_request *req);
/* Answers a /v1/pre request whose signature verified (cred). */
void pre_proxy_handle(pre_proxy *p, const mv_credential *cred, const mv_http_request *req, mv_http_response *resp);

/* 1 if cred's subject is the recipient of an active delegation held by p whose policy cred
 * meets at now, covering a record of owner or patient (either may be NULL) with episode
 * (NULL: none), id and kid (the keyset id of an MVE2 envelope; NULL for another envelope):
 * owner or patient is the delegation's owner, the label is the episode (kind 1) or the id
 * (kind 2), and an entry of the delegation names the record (a record entry for id, or a
 * keyset entry for kid). A lookup in the index by recipient (docs/pre.md 7.4). */
int pre_proxy_may_read(pre_proxy *p, const mv_credential *cred, uint64_t now, const uint8_t *owner,
                       const uint8_t *patient, const uint8_t *episode, const uint8_t id[16], const uint8_t *kid);
/* The distinct owners (at most cap, 32 bytes each, into owners) of the active delegations
 * cred's subject receives and whose policy cred meets at now: whose records a listing for
 * it must look through. Returns how many. */
size_t pre_proxy_owners_for(pre_proxy *p, const mv_credential *cred, uint64_t now, uint8_t (*owners)[32], size_t cap);

#endif
