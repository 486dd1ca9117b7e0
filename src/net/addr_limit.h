/* addr_limit.h - a rate limit per source address for the daemons' unauthenticated endpoints
 * (internal to libmedvault; the hospital's POST /v1/register and misuse alerts, the storage
 * server's anonymous group operations): a token bucket of `burst` requests
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
#ifndef MV_NET_ADDR_LIMIT_H
#define MV_NET_ADDR_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_err.h"

#define NET_ADDR_LIMIT_ADDR_MAX 47 /* bytes of an address kept; longer ones are cut */

typedef struct net_addr_limit net_addr_limit;

/* A limiter of `slots` addresses (1..1<<20), each allowed `burst` requests (1..1<<20) at once
 * and one more every interval_ms (1..86400000). Errors: MV_ERR_INVAL, MV_ERR_NOMEM. */
mv_err net_addr_limit_new(size_t slots, uint64_t burst, uint64_t interval_ms, net_addr_limit **out)
    __attribute__((warn_unused_result));

/* Frees l. Accepts NULL. No call on l may be in progress. */
void net_addr_limit_free(net_addr_limit *l);

/* 1 if addr (NUL-terminated; NULL counts as "") may make a request at now_ms (a monotonic
 * clock in milliseconds), and counts it; 0 if its bucket is empty, with *retry_after_s (if not
 * NULL) the whole seconds until it may (at least 1). Refusals are not counted, so a caller
 * who keeps asking is not locked out longer. Returns 0 if l is NULL. */
int net_addr_limit_take(net_addr_limit *l, const char *addr, uint64_t now_ms, uint64_t *retry_after_s);

/* Milliseconds of CLOCK_MONOTONIC, for now_ms. */
uint64_t net_addr_limit_now_ms(void);

#endif
