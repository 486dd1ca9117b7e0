/* store_test.c - the storage engine's test hooks (store_test.h): counters and state of a
 * handle that only tests read. */
#include "store_test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "store_internal.h"

uint64_t mv_store_test_fsyncs(mv_store *s) { return atomic_load(&s->n_fsyncs); }
uint64_t mv_store_test_commits(mv_store *s) { return atomic_load(&s->n_commits); }
uint64_t mv_store_test_batches(mv_store *s) { return atomic_load(&s->n_batches); }

uint32_t mv_store_test_current_pack(mv_store *s)
{
    pthread_mutex_lock(&s->write_mu);
    uint32_t p = s->cur_pack;
    pthread_mutex_unlock(&s->write_mu);
    return p;
}
