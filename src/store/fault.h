/* fault.h - internal: the storage path's I/O fault-injection point (see store_test.h). */
#ifndef MV_STORE_FAULT_H
#define MV_STORE_FAULT_H

/* Called before every mutating I/O step of the storage path (write, fdatasync/fsync, truncate,
 * unlink, file creation, index put/delete/commit). Returns 1 if the step must fail (test hook armed and
 * exhausted), 0 otherwise. Thread-safe. */
int mv_store_fault_hit(void);

#endif
