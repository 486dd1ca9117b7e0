/* fault.c - I/O fault injection for the storage path, inert unless a test arms it, so every
 * write, sync, truncate, unlink and commit can be failed in turn. The hooks that arm it and
 * read its count are in store_test.c, which only the test build compiles. */
#include "fault.h"

#include <stdatomic.h>

/* SIZE_MAX = disarmed. The one piece of process-wide state, as in mem.c: a test facility. */
static _Atomic size_t countdown = SIZE_MAX;
static _Atomic uint64_t steps;

int mv_store_fault_hit(void)
{
    atomic_fetch_add(&steps, 1);
    size_t c = atomic_load(&countdown);
    for (;;) {
        if (c == SIZE_MAX)
            return 0;
        if (c == 0)
            return 1;
        if (atomic_compare_exchange_weak(&countdown, &c, c - 1))
            return 0;
    }
}

void mv_store_fault_arm(size_t n) { atomic_store(&countdown, n); }

uint64_t mv_store_fault_steps(void) { return atomic_load(&steps); }
