/* addr_limit.h - a rate limit per source address for the hospital's unauthenticated endpoints
 * (internal to src/hospital; used by POST /v1/register): a token bucket of `burst` requests
 * that refills one request per `interval_ms`, kept as one timestamp per address (GCRA, the
 * generic cell rate algorithm: the same decisions as a token bucket, with no refill loop).
 *
 * Memory is a fixed table of `slots` addresses, whatever the number of callers. An address
 * whose bucket is full again needs no entry, so its slot is reused; when every slot holds a
 * bucket still refilling, the one closest to full is reused, which can only forgive a caller
 * once more than `slots` addresses are being limited at the same time (the registry's caps on
 * pending registrations still hold then).
 *
 * Thread-safety: every function but _new and _free may be called from any thread at once. */
#ifndef MV_HOSPITAL_ADDR_LIMIT_H
#define MV_HOSPITAL_ADDR_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_err.h"

#define HOSP_ADDR_LIMIT_ADDR_MAX 47 /* bytes of an address kept; longer ones are cut */

typedef struct hosp_addr_limit hosp_addr_limit;

/* A limiter of `slots` addresses (1..1<<20), each allowed `burst` requests (1..1<<20) at once
 * and one more every interval_ms (1..86400000). Errors: MV_ERR_INVAL, MV_ERR_NOMEM. */
mv_err hosp_addr_limit_new(size_t slots, uint64_t burst, uint64_t interval_ms, hosp_addr_limit **out)
    __attribute__((warn_unused_result));

/* Frees l. Accepts NULL. No call on l may be in progress. */
void hosp_addr_limit_free(hosp_addr_limit *l);

/* 1 if addr (NUL-terminated; NULL counts as "") may make a request at now_ms (a monotonic
 * clock in milliseconds), and counts it; 0 if its bucket is empty, with *retry_after_s (if not
 * NULL) the whole seconds until it may (at least 1). Refusals are not counted, so a caller
 * who keeps asking is not locked out longer. Returns 0 if l is NULL. */
int hosp_addr_limit_take(hosp_addr_limit *l, const char *addr, uint64_t now_ms, uint64_t *retry_after_s);

/* Milliseconds of CLOCK_MONOTONIC, for now_ms. */
uint64_t hosp_addr_limit_now_ms(void);

#endif
