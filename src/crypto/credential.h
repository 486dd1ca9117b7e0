/* credential.h - the two halves of mv_credential_verify, for the request verifier (net/auth.c),
 * which judges a request's credential in two steps: its authenticity before the request
 * signature, its window after (so a stale credential is reported as expired, not forged). */
#ifndef MV_CRYPTO_CREDENTIAL_H
#define MV_CRYPTO_CREDENTIAL_H

#include <stdint.h>
#include "medvault/mv_credential.h"

/* MV_OK if c is issued by hospital_pk and its signature holds; MV_ERR_AUTH if not (also for
 * fields that cannot be encoded), MV_ERR_CRYPTO. c and hospital_pk must not be NULL. */
mv_err mv_credential_authentic(const mv_credential *c, const uint8_t hospital_pk[static 32])
    __attribute__((warn_unused_result));

/* MV_OK if now (unix seconds) is inside c's window as mv_credential_verify judges it, else
 * MV_ERR_EXPIRED. c must not be NULL. */
mv_err mv_credential_in_window(const mv_credential *c, uint64_t now) __attribute__((warn_unused_result));

#endif
