/* mv_auth.h - signed requests (DESIGN section 3 "Requests").
 *
 * A request is signed by its caller and carries the caller's hospital-issued credential
 * (mv_credential.h). Every request carries seven headers:
 *
 *   MV-Key            lowercase hex of the caller's Ed25519 public key (64 characters)
 *   MV-Date           unix seconds, decimal ASCII without sign or leading zeros
 *   MV-Nonce          lowercase hex of 16 random bytes (32 characters)
 *   MV-Target         the origin of the service the request is meant for (mv_auth_origin:
 *                     "http://127.0.0.1:41001"), so that it is valid at exactly one service
 *   MV-Content-SHA256 lowercase hex of SHA-256(body) (64 characters): lets a server check the
 *                     signature from the headers alone, before it accepts a large body
 *   MV-Credential     base64 (RFC 4648 section 4, padded) of the binary credential below
 *   MV-Signature      lowercase hex of the Ed25519 signature (128 characters) over
 *                     "medvault-req-v2\n" TARGET "\n" METHOD "\n" PATH_AND_QUERY "\n" DATE "\n"
 *                     NONCE "\n" hex(SHA-256(body))
 *
 * where TARGET, DATE and NONCE are the header texts exactly as sent and hex() is lowercase.
 * Verifiers accept either case in hex headers (the signed text is the header as sent). A
 * verifier knows its own origins (mv_auth_verifier_add_target); a correctly signed request
 * for another origin is refused with MV_ERR_MISDIRECTED, so a service (an untrusted cloud
 * among them) cannot replay a user's request to another service. docs/api.md, "Signed
 * requests", is the byte-level description. */
#ifndef MV_AUTH_H
#define MV_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"
#include "medvault/mv_credential.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cap on the path-and-query of a signed request. */
#define MV_AUTH_MAX_PATH 8192
/* Cap on the method of a signed request (an HTTP token of upper-case letters). */
#define MV_AUTH_MAX_METHOD 16
/* Cap on an origin ("https://" host ":" port) and on the targets one verifier accepts. */
#define MV_AUTH_MAX_TARGET 255
#define MV_AUTH_MAX_TARGETS 8

/* Writes the canonical origin of an http(s) URL into out[0..cap): lowercase scheme, "://",
 * lowercase host (a DNS name, an IPv4 address, or an IPv6 address in brackets), ":", and the
 * port in decimal without leading zeros (80 / 443 when the URL names none). Path, query and
 * fragment are dropped. "HTTP://LocalHost/x" and "http://localhost:80" both give
 * "http://localhost:80". Errors: MV_ERR_INVAL (NULL, cap 0), MV_ERR_PARSE (not http(s), user
 * info, empty or malformed host, port outside 1..65535), MV_ERR_TOO_LARGE (longer than cap-1
 * or MV_AUTH_MAX_TARGET). */
MV_API mv_err mv_auth_origin(const char *url, char *out, size_t cap) __attribute__((warn_unused_result));

/* 1 if m is a request method as signed requests allow it (1 to MV_AUTH_MAX_METHOD upper-case
 * ASCII letters), else 0 (also for NULL). Shared by the signer, the verifier and the client. */
MV_API int mv_auth_method_ok(const char *m);

/* The MV-Key, MV-Date, MV-Nonce, MV-Target, MV-Content-SHA256 and MV-Signature header values
 * (NUL-terminated). */
typedef struct mv_signed_headers {
    char key[65];
    char date[21];
    char nonce[33];
    char target[MV_AUTH_MAX_TARGET + 1];
    char body_sha256[65];
    char signature[129];
} mv_signed_headers;

/* Signs a request for the service at origin `target` (canonical, as mv_auth_origin writes it)
 * with a fresh random nonce. method is an upper-case token ("GET"), path_and_query starts with
 * '/' and is printable ASCII without spaces (as sent on the request line), body may be NULL
 * when body_len is 0. sk must be the secret key of pk.
 * Errors: MV_ERR_INVAL (NULL or malformed method/path, path longer than MV_AUTH_MAX_PATH,
 * target not canonical, sk not matching pk), MV_ERR_NOMEM, MV_ERR_CRYPTO. *out is zeroed on
 * failure. */
MV_API mv_err mv_auth_sign_request(mv_signed_headers *out, const uint8_t pk[static 32], const uint8_t sk[static 64],
                                   const char *target, const char *method, const char *path_and_query,
                                   const uint8_t *body, size_t body_len,
                                   uint64_t now) __attribute__((warn_unused_result));

/* A received request: the method and path-and-query from the request line, the body, and
 * the header values (NUL-terminated; any may be NULL = header missing). body_sha256 (the
 * MV-Content-SHA256 header) is optional on mv_auth_verify, where the body itself is hashed,
 * and required by mv_auth_preverify. Nothing is owned: all pointers are borrowed for the
 * duration of the call. */
typedef struct mv_auth_request {
    const char *method;
    const char *path_and_query;
    const uint8_t *body;
    size_t body_len;
    const char *key;
    const char *date;
    const char *nonce;
    const char *target;
    const char *body_sha256;
    const char *credential;
    const char *signature;
} mv_auth_request;

/* A verifier holds the hospital key and the replay cache. It may be shared by any number of
 * threads (an internal mutex guards the cache; signatures are checked outside it). */
typedef struct mv_auth_verifier mv_auth_verifier;

/* Creates a verifier accepting requests dated within skew_seconds of `now` and remembering
 * up to max_nonces nonces (each for 2 * skew_seconds). The cache is allocated up front
 * (about 80 bytes per nonce). Errors: MV_ERR_INVAL (NULL, max_nonces 0 or > 2^31,
 * skew_seconds 0 or > 1 day), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_auth_verifier_new(const uint8_t hospital_pk[static 32], uint64_t skew_seconds, size_t max_nonces,
                                   mv_auth_verifier **out) __attribute__((warn_unused_result));
/* Frees a verifier (accepts NULL). No call on it may be in progress. */
MV_API void mv_auth_verifier_free(mv_auth_verifier *v);

/* Adds origin (canonical, as mv_auth_origin writes it) to the targets this verifier accepts:
 * the origins under which its service is reached. A verifier with no target refuses every
 * request (MV_ERR_MISDIRECTED). Errors: MV_ERR_INVAL (NULL, not canonical), MV_ERR_TOO_LARGE
 * (already MV_AUTH_MAX_TARGETS targets). Adding a target twice is a no-op. Thread-safe. */
MV_API mv_err mv_auth_verifier_add_target(mv_auth_verifier *v, const char *origin) __attribute__((warn_unused_result));
/* Adds the origins of a server that listens on `listen` ("a.b.c.d:port", as daemons take it;
 * its port is ignored) and was bound to `port`: "http://a.b.c.d:PORT", plus
 * "http://127.0.0.1:PORT" and "http://localhost:PORT" when the address is 127.0.0.1 or the
 * wildcard one (every URL a client on this machine may use; another 127/8 address gets no
 * alias, so two services on 127.0.0.1:P and 127.0.0.2:P never share a name). A server behind a TLS front or
 * reached under a DNS name adds those origins too (mv_auth_verifier_add_target; the daemons'
 * `public_url` setting). port 0 means the port listen names: a daemon with a fixed port calls
 * it before it starts serving, so that peers who already know its URL (key servers in a DKG)
 * are never refused; with "a.b.c.d:0" that adds nothing, and the daemon calls it again with the
 * bound port before it publishes it. Errors as mv_auth_verifier_add_target; MV_ERR_INVAL for
 * a malformed address. */
MV_API mv_err mv_auth_verifier_add_listen(mv_auth_verifier *v, const char *listen, uint16_t port)
    __attribute__((warn_unused_result));

/* Cap on a daemon's `public_url` setting: comma-separated http(s) URLs. */
#define MV_AUTH_PUBLIC_URLS_MAX 1024
/* Adds the origin of every URL in urls, a comma-separated list (no spaces) of http(s) URLs
 * (a daemon's `public_url` setting: the names under which clients reach it through a TLS
 * front or DNS). v may be NULL to only check the list. "" adds nothing.
 * Errors: MV_ERR_INVAL (NULL urls), MV_ERR_PARSE (a URL mv_auth_origin refuses, an empty
 * element), MV_ERR_TOO_LARGE (over MV_AUTH_PUBLIC_URLS_MAX, or more targets than the verifier
 * holds). */
MV_API mv_err mv_auth_verifier_add_urls(mv_auth_verifier *v, const char *urls) __attribute__((warn_unused_result));

/* Authenticates request r at time now. Checks, in this order (every check after the
 * signature concerns a key proven to have signed this request, so a refusal for an expired,
 * revoked or replayed request can be attributed to that key):
 *   1. every header present and well-formed, method and path well-formed -> MV_ERR_AUTH
 *      (MV-Target alone missing is judged after step 3: MV_ERR_PROTOCOL, a v1 client)
 *   2. the credential decodes and is signed by the hospital key           -> MV_ERR_AUTH
 *   3. MV-Key equals the credential's subject                              -> MV_ERR_AUTH
 *   4. MV-Signature verifies over the v2 string (with MV-Content-SHA256 if sent, else the
 *      body's digest)                                                      -> MV_ERR_AUTH
 *   5. MV-Content-SHA256, if sent, is the body's digest                    -> MV_ERR_VERIFY
 *   6. MV-Target is one of the verifier's targets                          -> MV_ERR_MISDIRECTED
 *   7. the credential is within its validity window                        -> MV_ERR_EXPIRED
 *   8. |now - MV-Date| <= skew                                             -> MV_ERR_EXPIRED
 *   9. the subject is not on the installed revocation list                 -> MV_ERR_AUTH
 *  10. the nonce was not seen for this key within 2 * skew                 -> MV_ERR_REPLAY
 *      (recorded only now). If the cache is full of unexpired nonces the request is refused
 *      with MV_ERR_BUSY rather than forgetting one.
 * On MV_OK, *out_cred (if not NULL) receives the verified credential; on error it is zeroed.
 * Other errors: MV_ERR_INVAL (v or r NULL, r->body NULL with body_len > 0), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO. Thread-safe. */
MV_API mv_err mv_auth_verify(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred)
    __attribute__((warn_unused_result));

/* Why mv_auth_verify_ex refused a request, finer than its mv_err: lets a server tell an
 * attack (no or forged authentication, a revoked or long-expired credential) from an honest
 * client's trouble (a bad clock, a retried request). */
typedef enum mv_auth_failure {
    MV_AUTH_FAIL_NONE = 0,  /* accepted, or refused for a reason below none of which applies
                               (MV_ERR_INVAL, MV_ERR_NOMEM, MV_ERR_CRYPTO, MV_ERR_BUSY) */
    MV_AUTH_FAIL_MISSING,   /* not one MV-* header: an unauthenticated request */
    MV_AUTH_FAIL_MALFORMED, /* some MV-* headers missing or malformed, an undecodable credential */
    MV_AUTH_FAIL_FORGED,    /* a credential not signed by the hospital, MV-Key not its subject,
                               or a bad request signature */
    MV_AUTH_FAIL_EXPIRED,   /* an authentic credential outside its validity window */
    MV_AUTH_FAIL_SKEW,      /* MV-Date outside the allowed skew */
    MV_AUTH_FAIL_REVOKED,   /* a correctly signed request whose subject is revoked */
    MV_AUTH_FAIL_REPLAY,    /* a correctly signed request whose nonce was seen before */
    MV_AUTH_FAIL_TARGET,    /* a correctly signed request meant for another service */
    MV_AUTH_FAIL_BODY,      /* a correctly signed MV-Content-SHA256 the body does not match */
    MV_AUTH_FAIL_VERSION,   /* no MV-Target, with an authentic credential of MV-Key: a client of
                               signed requests v1, not a forger (its signature is not checked) */
} mv_auth_failure;

/* As mv_auth_verify (same checks, same order, same errors), and *why (required) receives the
 * reason of a refusal (MV_AUTH_FAIL_NONE on MV_OK). Thread-safe. */
MV_API mv_err mv_auth_verify_ex(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred,
                                mv_auth_failure *why) __attribute__((warn_unused_result));

/* As mv_auth_verify, but for a request that proves possession of a key rather than a
 * credential (the hospital's credential renewal, where the registry, not a credential, says
 * who the key belongs to): MV-Credential is ignored (it may be absent or expired), and
 * steps 2, 3, 7 and 9 are skipped. On MV_OK the caller's Ed25519 key is copied to key_out.
 * Errors as for mv_auth_verify. */
MV_API mv_err mv_auth_verify_key(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now,
                                 uint8_t key_out[static 32])
    __attribute__((warn_unused_result));

/* Checks a request from its headers alone, before its body has arrived: steps 1 to 4 and 6
 * to 10 of mv_auth_verify, with the signature checked over the digest MV-Content-SHA256 claims
 * (required) and the nonce looked up but not recorded (a replay gets MV_ERR_REPLAY here too). A server calls it to decide whether
 * a large body may be buffered at all; it must still call mv_auth_verify on the whole
 * request. With need_cred 0 it checks as mv_auth_verify_key does. r->body is ignored.
 * Errors: as mv_auth_verify (MV_ERR_AUTH also for a missing or malformed MV-Content-SHA256). */
MV_API mv_err mv_auth_preverify(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, int need_cred)
    __attribute__((warn_unused_result));

struct mv_revocation_list;
/* Installs a copy of a verified revocation list (mv_revocation.h): from then on
 * mv_auth_verify refuses (MV_ERR_AUTH, after the signature checks) every credential whose
 * subject is on it. A list with a lower serial than the installed one is refused with
 * MV_ERR_BAD_STATE (a replayed old list must not un-revoke anyone); an equal serial replaces.
 * l is borrowed (copied). Errors: MV_ERR_INVAL (NULL, keys NULL with n > 0, n over
 * MV_REVOCATION_MAX), MV_ERR_AUTH (l->issuer is not this verifier's hospital key),
 * MV_ERR_BAD_STATE, MV_ERR_NOMEM. Thread-safe. */
MV_API mv_err mv_auth_verifier_set_revocations(mv_auth_verifier *v, const struct mv_revocation_list *l)
    __attribute__((warn_unused_result));
/* Serial of the installed revocation list (0 = none yet). Thread-safe. */
MV_API uint64_t mv_auth_verifier_revocation_serial(mv_auth_verifier *v);

#ifdef __cplusplus
}
#endif
#endif
