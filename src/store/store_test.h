/* store_test.h - internal test hooks of the storage engine, defined in store_test.c and linked
 * only into the test-only library medvault_test (tests link it; libmedvault holds none). */
#ifndef MV_STORE_TEST_H
#define MV_STORE_TEST_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_store.h"

/* Fault injection: after n more successful mutating I/O steps (pack write, fdatasync/fsync,
 * truncate, unlink, pack creation, index put/delete/commit), every further step fails with an I/O error
 * until reset with n = SIZE_MAX. Process-wide, like mv_mem_fail_after. */
void mv_store_test_fail_io_after(size_t n);
/* Mutating I/O steps performed since the process started (counts only while unarmed too). */
uint64_t mv_store_test_io_steps(void);

/* Pack syncs (fdatasync) issued by mv_store_put_blocks group commits of this handle. */
uint64_t mv_store_test_fsyncs(mv_store *s);
/* Group commits (leader rounds) of this handle and the put_blocks calls they served. */
uint64_t mv_store_test_commits(mv_store *s);
uint64_t mv_store_test_batches(mv_store *s);
/* The id of the pack uploads currently append to. */
uint32_t mv_store_test_current_pack(mv_store *s);

#endif
