/* Builds a format-2 store with the medvault of commit 10ef5a5 (index format 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "medvault/mv_store.h"
#include "medvault/mv_hash.h"

static void die(const char *w, mv_err rc) { fprintf(stderr, "%s: %d\n", w, (int)rc); exit(1); }
static void fill(uint8_t *p, size_t n, unsigned a) { for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(a * 31 + i * 7 + (i >> 3)); }

int main(int argc, char **argv)
{
    mv_store *s = NULL;
    mv_err rc;
    if (argc != 2) return 2;
    mv_store_options o = {0, (size_t)1 << 30, 0};
    if ((rc = mv_store_open(argv[1], &o, &s)) != MV_OK) die("open", rc);
    /* Three blocks of department "er", uploaded by owner 1. */
    uint8_t data[3][200], owner[32], reader[32], patient[32], episode[16];
    fill(owner, 32, 1); fill(reader, 32, 2); fill(patient, 32, 3); fill(episode, 16, 4);
    mv_store_block_in in[3];
    for (int i = 0; i < 3; i++) {
        memset(&in[i], 0, sizeof in[i]);
        fill(data[i], sizeof data[i], 10 + i);
        in[i].dept = "er";
        fill(in[i].token, 32, 20 + i);
        mv_sha256(in[i].tag, data[i], sizeof data[i]);
        in[i].data = data[i];
        in[i].len = sizeof data[i];
        memcpy(in[i].claimant, owner, 32);
    }
    if ((rc = mv_store_put_blocks(s, in, 3, NULL)) != MV_OK) die("blocks", rc);
    /* Records 1..5 in one call: 1 names blocks 0 and 1, 2 block 2 (with a patient and an
     * episode), 3 block 0, 4 blocks 0, 1, 2, 5 no block. */
    uint8_t tags[3 * 32];
    for (int i = 0; i < 3; i++) memcpy(tags + 32 * i, in[i].tag, 32);
    mv_store_record_in r[5];
    mv_err res[5];
    static const char *env[5] = {"envelope one", "envelope two", "envelope three", "envelope four", "envelope five"};
    for (int i = 0; i < 5; i++) {
        memset(&r[i], 0, sizeof r[i]);
        memset(r[i].id, 0, 16);
        r[i].id[0] = 0x01; r[i].id[15] = (uint8_t)(i + 1);
        r[i].dept = "er";
        memcpy(r[i].owner, owner, 32);
        r[i].readers = reader;
        r[i].n_readers = 1;
        r[i].envelope = (const uint8_t *)env[i];
        r[i].envelope_len = strlen(env[i]);
    }
    r[0].tags = tags; r[0].n_tags = 2;
    r[1].tags = tags + 64; r[1].n_tags = 1;
    memcpy(r[1].patient, patient, 32); memcpy(r[1].episode, episode, 16);
    r[2].tags = tags; r[2].n_tags = 1;
    r[3].tags = tags; r[3].n_tags = 3;
    if ((rc = mv_store_put_records(s, r, 5, res, 1700000000)) != MV_OK) die("records", rc);
    for (int i = 0; i < 5; i++) if (res[i] != MV_OK) die("record", res[i]);
    /* Record 3 is deleted (its bytes dead in segment 1); record 4 gets a new envelope (a second
     * segment) and no reader but its owner. */
    if ((rc = mv_store_record_delete(s, r[2].id)) != MV_OK) die("delete", rc);
    if ((rc = mv_store_record_set_readers(s, r[3].id, NULL, 0, (const uint8_t *)"envelope four, again", 20)) != MV_OK) die("set", rc);
    mv_store_check_report rep;
    if ((rc = mv_store_check(s, &rep, NULL, NULL)) != MV_OK) die("check", rc);
    if (rep.bad_entries + rep.missing + rep.orphans + rep.refcount_errors) die("unclean", MV_ERR_PARSE);
    mv_store_close(s);
    return 0;
}
