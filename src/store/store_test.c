/* store_test.c - the storage engine's test hooks (store_test.h): fault injection, and counters
 * and state of a handle that only tests read. Compiled only into the test-only library
 * (medvault_test, see CMakeLists.txt), never into libmedvault, so no release binary carries a
 * way to make its own I/O fail. */
#ifndef MV_TEST_HOOKS
#error "store_test.c belongs to the test-only build (medvault_test), not to libmedvault"
#endif

#include "store_test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "fault.h"
#include "store_internal.h"

void mv_store_test_fail_io_after(size_t n) { mv_store_fault_arm(n); }

uint64_t mv_store_test_io_steps(void) { return mv_store_fault_steps(); }

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
