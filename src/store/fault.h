/* fault.h - internal: the storage path's I/O fault-injection point (see store_test.h). */
#ifndef MV_STORE_FAULT_H
#define MV_STORE_FAULT_H

#include <stddef.h>
#include <stdint.h>

/* Called before every mutating I/O step of the storage path (write, fdatasync/fsync, truncate,
 * unlink, file creation, index put/delete/commit). Returns 1 if the step must fail (test hook armed and
 * exhausted), 0 otherwise. Thread-safe. */
int mv_store_fault_hit(void);

/* What the test hooks of store_test.c stand on (nothing else calls them): arm makes every step
 * after n more successful ones fail (n = SIZE_MAX disarms); steps counts the steps so far. */
void mv_store_fault_arm(size_t n);
uint64_t mv_store_fault_steps(void);

#endif
