/* addr_limit.c - per-address GCRA rate limit: a caller at one address gets at most `burst`
 * requests at once and one per interval after that, in bounded memory (a fixed table). */
#include "net/addr_limit.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_mem.h"

#define SLOTS_MAX ((size_t)1 << 20)
#define BURST_MAX ((uint64_t)1 << 20)
#define INTERVAL_MAX_MS ((uint64_t)86400000)

typedef struct entry {
    char addr[NET_ADDR_LIMIT_ADDR_MAX + 1];
    uint64_t tat; /* theoretical arrival time (ms): the bucket is full again at tat */
} entry;

struct net_addr_limit {
    pthread_mutex_t lock;
    uint64_t interval_ms;
    uint64_t tolerance_ms; /* (burst - 1) * interval: how far ahead of now tat may run */
    size_t n;
    entry *slots;
};

mv_err net_addr_limit_new(size_t slots, uint64_t burst, uint64_t interval_ms, net_addr_limit **out)
{
    net_addr_limit *l = NULL;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (slots == 0 || slots > SLOTS_MAX || burst == 0 || burst > BURST_MAX || interval_ms == 0 ||
        interval_ms > INTERVAL_MAX_MS)
        return MV_ERR_INVAL;
    if (!(l = mv_calloc(1, sizeof *l)) || !(l->slots = mv_calloc(slots, sizeof *l->slots))) {
        mv_free(l);
        return MV_ERR_NOMEM;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->n = slots;
    l->interval_ms = interval_ms;
    l->tolerance_ms = (burst - 1) * interval_ms; /* <= 2^20 * 86400000 < 2^57: no overflow */
    *out = l;
    return MV_OK;
}

void net_addr_limit_free(net_addr_limit *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    mv_free(l->slots);
    mv_free(l);
}

/* The entry of key, or the slot to (re)use for it: a free one (its bucket full again) if any,
 * else the one whose bucket fills first. Caller holds l->lock. */
static entry *lookup(net_addr_limit *l, const char *key, uint64_t now_ms)
{
    entry *spare = NULL;
    for (size_t i = 0; i < l->n; i++) {
        entry *e = &l->slots[i];
        if (e->tat > now_ms && !strcmp(e->addr, key))
            return e;
        if (!spare || (spare->tat > now_ms && e->tat < spare->tat))
            spare = e;
    }
    memcpy(spare->addr, key, strlen(key) + 1);
    spare->tat = 0;
    return spare;
}

int net_addr_limit_take(net_addr_limit *l, const char *addr, uint64_t now_ms, uint64_t *retry_after_s)
{
    char key[NET_ADDR_LIMIT_ADDR_MAX + 1];
    int ok;
    if (!l)
        return 0;
    size_t kl = addr ? strnlen(addr, NET_ADDR_LIMIT_ADDR_MAX) : 0;
    memcpy(key, addr ? addr : "", kl);
    key[kl] = 0;
    pthread_mutex_lock(&l->lock);
    entry *e = lookup(l, key, now_ms);
    uint64_t tat = e->tat > now_ms ? e->tat : now_ms;
    ok = tat - now_ms <= l->tolerance_ms;
    if (ok) {
        e->tat = tat + l->interval_ms;
    } else if (retry_after_s) {
        uint64_t wait_ms = tat - now_ms - l->tolerance_ms;
        *retry_after_s = (wait_ms + 999) / 1000;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

uint64_t net_addr_limit_now_ms(void)
{
    return mv_mono_ms();
}
