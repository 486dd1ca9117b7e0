/* test_store.c - the storage engine (mv_store.h, DESIGN section 4): round trip, server-side
 * dedup across departments with partitioned tokens, all-or-nothing uploads, claims, reference
 * counts, gc, check against corruption, recovery of torn tails, stats. Crash safety, fault
 * injection and group commit are in test_store_crash.c. */
#include "storeutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <lmdb.h>
#include <time.h>

#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "store/index.h"
#include "store/store_test.h"

static mv_store *open_store(const char *dir, size_t pack_target)
{
    mv_store_options o = {pack_target, (size_t)1 << 30, 0, 0};
    mv_store *s = NULL;
    assert_int_equal(mv_store_open(dir, &o, &s), MV_OK);
    assert_non_null(s);
    return s;
}

static void put_record(mv_store *s, const uint8_t id[16], const char *dept, uint32_t owner,
                       const uint8_t *tags, size_t n_tags, const char *env, mv_err expect)
{
    mv_store_record_in r;
    mv_err res = MV_ERR_IO;
    memset(&r, 0, sizeof r);
    memcpy(r.id, id, 16);
    r.dept = dept;
    su_key(r.owner, owner);
    r.tags = tags;
    r.n_tags = n_tags;
    r.envelope = (const uint8_t *)env;
    r.envelope_len = env ? strlen(env) : 0;
    assert_int_equal(mv_store_put_records(s, &r, 1, &res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res, expect);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk k[3];
    mv_store_block_in in[3];
    mv_store_block_out out[3];
    uint8_t tags[3 * 32], got[32];
    for (int i = 0; i < 3; i++) {
        su_blk_make(&k[i], "cardiology", 300 + 100 * (size_t)i, 1, (uint32_t)i, 7);
        in[i] = k[i].in;
        memcpy(tags + 32 * i, k[i].in.tag, 32);
    }
    assert_int_equal(mv_store_put_blocks(s, in, 3, out), MV_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].new_copy, 1);
        assert_int_equal(out[i].new_token, 1);
        assert_int_equal(mv_store_token_lookup(s, "cardiology", k[i].in.token, got), MV_OK);
        assert_memory_equal(got, k[i].in.tag, 32);
        su_assert_block(s, k[i].in.tag);
        uint64_t len = 0, refs = 9;
        assert_int_equal(mv_store_block_info(s, k[i].in.tag, &len, &refs), MV_OK);
        assert_int_equal(len, 300 + 100 * i);
        assert_int_equal(refs, 0);
    }
    /* Storing the same again is idempotent: no new copy, no new token. */
    assert_int_equal(mv_store_put_blocks(s, in, 3, out), MV_OK);
    assert_int_equal(out[0].new_copy, 0);
    assert_int_equal(out[0].new_token, 0);

    uint8_t id[16], reader[32];
    su_id(id, 1, 1);
    su_key(reader, 99);
    mv_store_record_in r = {0};
    memcpy(r.id, id, 16);
    r.dept = "cardiology";
    su_key(r.owner, 7);
    r.readers = reader;
    r.n_readers = 1;
    r.tags = tags;
    r.n_tags = 3;
    r.envelope = (const uint8_t *)"envelope-v1";
    r.envelope_len = 11;
    mv_err res;
    assert_int_equal(mv_store_put_records(s, &r, 1, &res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res, MV_OK);

    mv_store_record_info info;
    mv_buf env;
    mv_buf_init(&env, 1 << 20);
    assert_int_equal(mv_store_record_get(s, id, &info, &env), MV_OK);
    assert_int_equal(env.len, 11);
    assert_memory_equal(env.ptr, "envelope-v1", 11);
    assert_int_equal(info.n_readers, 2);
    assert_memory_equal(info.readers[0], r.owner, 32); /* the owner is always a reader */
    assert_memory_equal(info.readers[1], reader, 32);
    assert_int_equal(info.n_tags, 3);
    assert_string_equal(info.dept, "cardiology");
    assert_int_equal(info.logical_bytes, 11 + 300 + 400 + 500);
    size_t n = 0;
    uint8_t back[3 * 32];
    assert_int_equal(mv_store_record_tags(s, id, NULL, 0, &n), MV_ERR_TOO_LARGE);
    assert_int_equal(n, 3);
    assert_int_equal(mv_store_record_tags(s, id, back, 3, &n), MV_OK);
    assert_memory_equal(back, tags, sizeof tags);

    /* ACL replacement with a new envelope; the owner stays. */
    uint8_t other[32];
    su_key(other, 100);
    assert_int_equal(mv_store_record_set_readers(s, id, other, 1, (const uint8_t *)"env2", 4), MV_OK);
    mv_buf_reset(&env);
    assert_int_equal(mv_store_record_get(s, id, &info, &env), MV_OK);
    assert_int_equal(info.n_readers, 2);
    assert_memory_equal(info.readers[1], other, 32);
    assert_int_equal(env.len, 4);
    assert_int_equal(info.logical_bytes, 4 + 1200);
    assert_int_equal(mv_store_record_tags(s, id, back, 3, &n), MV_OK);
    assert_memory_equal(back, tags, sizeof tags);
    mv_buf_clear(&env);

    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.block_bytes, 1200);
    assert_int_equal(st.envelope_bytes, 4);
    /* Blocks, then two envelope segments (36 framing + 4 header + envelope + the blocks'
     * ids, one byte each): the first envelope's bytes stay, dead, until gc. */
    assert_int_equal(st.pack_bytes, 1200 + 3 * 36 + (40 + 11 + 3) + (40 + 4 + 3));
    assert_int_equal(st.logical_bytes, 1204);
    assert_int_equal(st.data_bytes, 1204);
    /* Physical: everything on disk, the index file included. */
    char ipath[4096];
    snprintf(ipath, sizeof ipath, "%s/index/data.mdb", dir);
    assert_true(st.index_bytes > 0);
    assert_int_equal((int64_t)st.index_bytes, su_file_size(ipath));
    assert_int_equal(st.physical_bytes, st.pack_bytes + st.index_bytes);
    assert_int_equal(st.pack_bytes, su_packs_size(dir));
    assert_int_equal(st.n_depts, 1);
    assert_string_equal(st.depts[0].dept, "cardiology");
    assert_int_equal(st.depts[0].records, 1);
    assert_int_equal(st.depts[0].physical_bytes, 1204);
    su_assert_clean(s);
    mv_store_close(s);

    /* Everything survives a reopen. */
    s = open_store(dir, 0);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    for (int i = 0; i < 3; i++)
        su_assert_block(s, k[i].in.tag);
    su_assert_clean(s);
    mv_store_close(s);
    for (int i = 0; i < 3; i++)
        su_blk_free(&k[i]);
    su_rmtree(dir);
}

static void test_dedup_across_departments(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a, b;
    mv_store_block_out out;
    uint8_t got[32];
    su_blk_make(&a, "cardiology", 1000, 5, 5, 1);
    su_blk_make(&b, "oncology", 1000, 5, 5, 2); /* same content, other department */
    su_bytes(b.in.token, 32, 1, 6, 6);          /* its department's own token for it */
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, &out), MV_OK);
    assert_int_equal(out.new_copy, 1);
    assert_int_equal(mv_store_put_blocks(s, &b.in, 1, &out), MV_OK);
    assert_int_equal(out.new_copy, 0); /* one physical copy */
    assert_int_equal(out.new_token, 1);
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.pack_bytes, 1036);
    assert_int_equal(su_packs_size(dir), 1036);
    /* Two partitions: each token resolves only in its own department. */
    assert_int_equal(mv_store_token_lookup(s, "cardiology", a.in.token, got), MV_OK);
    assert_int_equal(mv_store_token_lookup(s, "oncology", b.in.token, got), MV_OK);
    assert_memory_equal(got, a.in.tag, 32);
    assert_int_equal(mv_store_token_lookup(s, "oncology", a.in.token, got), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_store_token_lookup(s, "cardiology", b.in.token, got), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_store_token_lookup(s, "bad/dept", b.in.token, got), MV_ERR_INVAL);

    /* A proof-of-ownership claim (no data) by a third principal is a dedup hit. */
    mv_store_block_in claim = a.in;
    claim.data = NULL;
    su_key(claim.claimant, 3);
    assert_int_equal(mv_store_put_blocks(s, &claim, 1, &out), MV_OK);
    assert_int_equal(out.new_copy, 0);
    assert_int_equal(out.new_token, 0);
    /* Records by both owners count logical bytes twice, physical once. */
    uint8_t id1[16], id2[16];
    su_id(id1, 2, 1);
    su_id(id2, 2, 2);
    put_record(s, id1, "cardiology", 1, a.in.tag, 1, "e1", MV_OK);
    put_record(s, id2, "cardiology", 3, a.in.tag, 1, "e2", MV_OK);
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    assert_int_equal(st.logical_bytes, 2 * 1002);
    assert_int_equal(st.data_bytes, 1000 + 4);
    assert_int_equal(st.physical_bytes, st.pack_bytes + st.index_bytes);
    assert_int_equal(st.n_depts, 2);
    assert_string_equal(st.depts[0].dept, "cardiology");
    assert_int_equal(st.depts[0].dedup_hits, 1);
    assert_int_equal(st.depts[0].physical_bytes, 1004);
    assert_string_equal(st.depts[1].dept, "oncology");
    assert_int_equal(st.depts[1].dedup_hits, 0);
    uint64_t refs = 0;
    assert_int_equal(mv_store_block_info(s, a.in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 2);
    su_assert_clean(s);
    mv_store_close(s);
    su_blk_free(&a);
    su_blk_free(&b);
    su_rmtree(dir);
}

static void test_upload_all_or_nothing(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk good, bad, seed;
    mv_store_block_out out[2];
    uint8_t got[32];
    su_blk_make(&seed, "lab", 200, 9, 0, 1);
    assert_int_equal(mv_store_put_blocks(s, &seed.in, 1, NULL), MV_OK);
    mv_store_stats before, after;
    assert_int_equal(mv_store_get_stats(s, &before), MV_OK);
    uint64_t size_before = su_packs_size(dir);

    su_blk_make(&good, "lab", 300, 9, 1, 1);
    su_blk_make(&bad, "lab", 300, 9, 2, 1);
    bad.data[17] ^= 1; /* the tag no longer matches the bytes */
    mv_store_block_in in[2] = {good.in, bad.in};
    out[0].new_copy = 7;
    assert_int_equal(mv_store_put_blocks(s, in, 2, out), MV_ERR_VERIFY);
    assert_int_equal(out[0].new_copy, 0);
    assert_int_equal(mv_store_token_lookup(s, "lab", good.in.token, got), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_store_block_info(s, good.in.tag, NULL, NULL), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_store_get_stats(s, &after), MV_OK);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(su_packs_size(dir), size_before);

    /* A token already mapping to another tag in the department: refused, nothing stored. */
    mv_store_block_in liar = good.in;
    memcpy(liar.token, seed.in.token, 32);
    in[1] = liar;
    in[0] = good.in;
    su_bytes(in[0].token, 32, 1, 9, 77);
    assert_int_equal(mv_store_put_blocks(s, in, 2, out), MV_ERR_VERIFY);
    assert_int_equal(mv_store_block_info(s, good.in.tag, NULL, NULL), MV_ERR_NOT_FOUND);
    /* Two items of one call mapping one token to two tags. */
    mv_store_block_in twin[2] = {good.in, seed.in};
    memcpy(twin[1].token, twin[0].token, 32);
    assert_int_equal(mv_store_put_blocks(s, twin, 2, out), MV_ERR_VERIFY);
    /* A claim for a block nobody stored. */
    mv_store_block_in ghost = good.in;
    ghost.data = NULL;
    assert_int_equal(mv_store_put_blocks(s, &ghost, 1, out), MV_ERR_NOT_FOUND);
    /* ...unless the same call uploads it. */
    mv_store_block_in pair[2] = {ghost, good.in};
    su_key(pair[0].claimant, 4);
    assert_int_equal(mv_store_put_blocks(s, pair, 2, out), MV_OK);
    assert_int_equal(out[0].new_copy, 0);
    assert_int_equal(out[1].new_copy, 1);
    /* Bad departments. */
    mv_store_block_in d = seed.in;
    d.dept = "";
    assert_int_equal(mv_store_put_blocks(s, &d, 1, out), MV_ERR_INVAL);
    d.dept = "x/y";
    assert_int_equal(mv_store_put_blocks(s, &d, 1, out), MV_ERR_INVAL);
    char long_dept[66];
    memset(long_dept, 'a', 65);
    long_dept[65] = 0;
    d.dept = long_dept;
    assert_int_equal(mv_store_put_blocks(s, &d, 1, out), MV_ERR_INVAL);
    long_dept[64] = 0;
    assert_int_equal(mv_store_put_blocks(s, &d, 1, out), MV_OK); /* 64 is the limit */
    assert_int_equal(mv_store_put_blocks(s, NULL, 0, NULL), MV_OK);
    assert_int_equal(mv_store_put_blocks(s, NULL, 1, NULL), MV_ERR_INVAL);
    su_assert_clean(s);
    mv_store_close(s);
    su_blk_free(&good);
    su_blk_free(&bad);
    su_blk_free(&seed);
    su_rmtree(dir);
}

static void test_oversized_block(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk big;
    su_blk_make(&big, "imaging", MV_STORE_MAX_BLOCK + 1, 3, 3, 1);
    assert_int_equal(mv_store_put_blocks(s, &big.in, 1, NULL), MV_ERR_TOO_LARGE);
    assert_int_equal(su_packs_size(dir), 0);
    su_blk_free(&big);
    /* Exactly the maximum is fine and reads back. */
    su_blk_make(&big, "imaging", MV_STORE_MAX_BLOCK, 3, 4, 1);
    assert_int_equal(mv_store_put_blocks(s, &big.in, 1, NULL), MV_OK);
    su_assert_block(s, big.in.tag);
    mv_buf small;
    mv_buf_init(&small, 1024);
    assert_int_equal(mv_store_block_read(s, big.in.tag, &small), MV_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    mv_buf_clear(&small);
    su_blk_free(&big);
    su_assert_clean(s);
    mv_store_close(s);
    su_rmtree(dir);
}

/* tag_checked: a caller that hashed the bytes itself spares the store a second hash, and
 * nothing else: the item's department, length and token rules still hold, and an item
 * without the flag is still hashed (a bad tag refused) within the same call. */
static void test_tag_checked_by_caller(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk ok, bad, big;
    mv_store_block_out out[2];
    su_blk_make(&ok, "imaging", 700, 5, 1, 1);
    ok.in.tag_checked = 1;
    assert_int_equal(mv_store_put_blocks(s, &ok.in, 1, out), MV_OK);
    assert_int_equal(out[0].new_copy, 1);
    su_assert_block(s, ok.in.tag);
    /* The flag on one item does not vouch for another. */
    su_blk_make(&bad, "imaging", 700, 5, 2, 1);
    bad.data[3] ^= 1;
    mv_store_block_in pair[2] = {ok.in, bad.in};
    assert_int_equal(mv_store_put_blocks(s, pair, 2, out), MV_ERR_VERIFY);
    assert_int_equal(mv_store_block_info(s, bad.in.tag, NULL, NULL), MV_ERR_NOT_FOUND);
    /* Still refused with the flag: a bad department, an oversized block. */
    mv_store_block_in d = ok.in;
    d.dept = "x/y";
    assert_int_equal(mv_store_put_blocks(s, &d, 1, out), MV_ERR_INVAL);
    su_blk_make(&big, "imaging", MV_STORE_MAX_BLOCK + 1, 5, 3, 1);
    big.in.tag_checked = 1;
    assert_int_equal(mv_store_put_blocks(s, &big.in, 1, out), MV_ERR_TOO_LARGE);
    su_blk_free(&ok);
    su_blk_free(&bad);
    su_blk_free(&big);
    su_assert_clean(s);
    mv_store_close(s);
    su_rmtree(dir);
}

static mv_err counter(void *ctx, const mv_store_record_info *ri)
{
    (void)ri;
    (*(int *)ctx)++;
    return MV_OK;
}

static void test_claims_and_record_rules(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a, b;
    su_blk_make(&a, "er", 400, 4, 1, 1);
    su_blk_make(&b, "er", 500, 4, 2, 1);
    mv_store_block_in in[2] = {a.in, b.in};
    assert_int_equal(mv_store_put_blocks(s, in, 2, NULL), MV_OK);
    uint8_t tags[64], id[16];
    memcpy(tags, a.in.tag, 32);
    memcpy(tags + 32, b.in.tag, 32);
    uint64_t refs = 0;

    /* Owner 2 never uploaded nor proved possession: forbidden, no reference taken. */
    su_id(id, 4, 1);
    put_record(s, id, "er", 2, tags, 2, "x", MV_ERR_FORBIDDEN);
    assert_int_equal(mv_store_block_info(s, a.in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 0);
    assert_int_equal(mv_store_record_get(s, id, &(mv_store_record_info){0}, NULL), MV_ERR_NOT_FOUND);

    /* Expired claim: the owner's claim is older than the TTL at `now`. */
    mv_store_record_in r = {0};
    mv_err res[4];
    memcpy(r.id, id, 16);
    r.dept = "er";
    su_key(r.owner, 1);
    r.tags = tags;
    r.n_tags = 2;
    assert_int_equal(mv_store_put_records(s, &r, 1, res, (uint64_t)time(NULL) + 3600 + 5), MV_OK);
    assert_int_equal(res[0], MV_ERR_FORBIDDEN);
    assert_int_equal(mv_store_block_info(s, a.in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 0);

    /* A batch judged record by record: ok, duplicate id, unknown tag, duplicate tags. */
    mv_store_record_in batch[4] = {r, r, r, r};
    uint8_t unknown[64], dup[64];
    memcpy(unknown, tags, 32);
    su_bytes(unknown + 32, 32, 9, 9, 9);
    memcpy(dup, tags, 32);
    memcpy(dup + 32, tags, 32);
    su_id(batch[2].id, 4, 2);
    batch[2].tags = unknown;
    su_id(batch[3].id, 4, 3);
    batch[3].tags = dup;
    assert_int_equal(mv_store_put_records(s, batch, 4, res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res[0], MV_OK);
    assert_int_equal(res[1], MV_ERR_EXISTS);
    assert_int_equal(res[2], MV_ERR_NOT_FOUND);
    assert_int_equal(res[3], MV_ERR_INVAL);
    assert_int_equal(mv_store_block_info(s, a.in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 1);

    /* Readers: 63 distinct plus the owner fit; 64 distinct plus the owner do not. */
    uint8_t readers[65 * 32];
    for (uint32_t i = 0; i < 65; i++)
        su_key(readers + 32 * i, 1000 + i);
    su_id(r.id, 4, 4);
    r.readers = readers;
    r.n_readers = 64;
    assert_int_equal(mv_store_put_records(s, &r, 1, res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res[0], MV_ERR_INVAL);
    r.n_readers = 63;
    assert_int_equal(mv_store_put_records(s, &r, 1, res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res[0], MV_OK);
    mv_store_record_info info;
    assert_int_equal(mv_store_record_get(s, r.id, &info, NULL), MV_OK);
    assert_int_equal(info.n_readers, 64);
    assert_int_equal(mv_store_record_set_readers(s, r.id, readers, 65, NULL, 0), MV_ERR_INVAL);
    /* Oversized envelope and bad department. */
    su_id(r.id, 4, 5);
    r.n_readers = 0;
    r.envelope_len = MV_STORE_MAX_ENVELOPE + 1;
    r.envelope = readers; /* never read: refused on its length */
    assert_int_equal(mv_store_put_records(s, &r, 1, res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res[0], MV_ERR_INVAL);
    r.envelope_len = 0;
    r.dept = "no*dept";
    assert_int_equal(mv_store_put_records(s, &r, 1, res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res[0], MV_ERR_INVAL);

    /* Listing by reader: reader 1000 sees only the record that names it; the owner sees both. */
    uint8_t k1000[32], owner[32];
    su_key(k1000, 1000);
    su_key(owner, 1);
    int count = 0;
    assert_int_equal(mv_store_record_list(s, k1000, (mv_store_record_fn)NULL, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_store_record_list(s, k1000, counter, &count), MV_OK);
    assert_int_equal(count, 1);
    count = 0;
    assert_int_equal(mv_store_record_list(s, owner, counter, &count), MV_OK);
    assert_int_equal(count, 2);
    count = 0;
    assert_int_equal(mv_store_record_list(s, NULL, counter, &count), MV_OK);
    assert_int_equal(count, 2);
    su_assert_clean(s);
    mv_store_close(s);
    su_blk_free(&a);
    su_blk_free(&b);
    su_rmtree(dir);
}

static void test_refs_delete_gc(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    /* Small packs so that blocks spread over several and gc both rewrites and deletes. */
    mv_store *s = open_store(dir, 4096);
    enum { N = 12 };
    su_blk k[N];
    mv_store_block_in in[N];
    for (int i = 0; i < N; i++) {
        su_blk_make(&k[i], "pharmacy", 700 + 10 * (size_t)i, 8, (uint32_t)i, 1);
        in[i] = k[i].in;
    }
    assert_int_equal(mv_store_put_blocks(s, in, N, NULL), MV_OK);
    /* rec A: blocks 0..5; rec B: blocks 4..9; blocks 10, 11 are claimed but never referenced. */
    uint8_t ta[6 * 32], tb[6 * 32], ida[16], idb[16];
    for (int i = 0; i < 6; i++) {
        memcpy(ta + 32 * i, k[i].in.tag, 32);
        memcpy(tb + 32 * i, k[4 + i].in.tag, 32);
    }
    su_id(ida, 8, 1);
    su_id(idb, 8, 2);
    put_record(s, ida, "pharmacy", 1, ta, 6, "A", MV_OK);
    put_record(s, idb, "pharmacy", 1, tb, 6, "B", MV_OK);
    uint64_t refs;
    assert_int_equal(mv_store_block_info(s, k[4].in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 2);
    assert_true(mv_store_test_current_pack(s) > 1);

    /* gc at the present: claims live, every block stays. */
    mv_store_gc_report g;
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL), &g), MV_OK);
    assert_int_equal(g.blocks_freed, 0);
    assert_int_equal(g.claims_expired, 0);

    assert_int_equal(mv_store_record_delete(s, ida), MV_OK);
    assert_int_equal(mv_store_record_delete(s, ida), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_store_block_info(s, k[4].in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 1);
    assert_int_equal(mv_store_block_info(s, k[0].in.tag, NULL, &refs), MV_OK);
    assert_int_equal(refs, 0);
    mv_store_stats before, after;
    assert_int_equal(mv_store_get_stats(s, &before), MV_OK);
    uint64_t disk_before = su_packs_size(dir);
    assert_int_equal(disk_before, before.pack_bytes);

    /* After the TTL: blocks 0..3 and 10..11 are unreferenced and unclaimed. */
    uint64_t expect_bytes = 0;
    for (int i = 0; i < N; i++)
        if (i < 4 || i >= 10)
            expect_bytes += k[i].in.len;
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL) + 3600 + 10, &g), MV_OK);
    assert_int_equal(g.claims_expired, N);
    assert_int_equal(g.blocks_freed, 6);
    assert_int_equal(g.bytes_freed, expect_bytes);
    assert_true(g.packs_deleted >= 1);
    assert_int_equal(mv_store_get_stats(s, &after), MV_OK);
    assert_int_equal(after.blocks, before.blocks - 6);
    assert_int_equal(after.block_bytes, before.block_bytes - expect_bytes);
    /* ... and record A's envelope segment (36 + 4 + "A" + 6 one-byte block ids), dead since
     * its delete. */
    assert_int_equal(after.pack_bytes, before.pack_bytes - expect_bytes - 6 * 36 - (40 + 1 + 6));
    assert_int_equal(su_packs_size(dir), after.pack_bytes);
    assert_true(su_packs_size(dir) < disk_before);
    for (int i = 0; i < N; i++) {
        if (i < 4 || i >= 10) {
            assert_int_equal(mv_store_block_info(s, k[i].in.tag, NULL, NULL), MV_ERR_NOT_FOUND);
            uint8_t got[32];
            assert_int_equal(mv_store_token_lookup(s, "pharmacy", k[i].in.token, got),
                             MV_ERR_NOT_FOUND);
        } else {
            su_assert_block(s, k[i].in.tag);
        }
    }
    su_assert_clean(s);
    /* A second gc has nothing left to do. */
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL) + 3600 + 10, &g), MV_OK);
    assert_int_equal(g.blocks_freed + g.packs_rewritten + g.packs_deleted, 0);
    /* Freed content can be uploaded again. */
    assert_int_equal(mv_store_put_blocks(s, &k[0].in, 1, NULL), MV_OK);
    su_assert_block(s, k[0].in.tag);
    mv_store_close(s);
    s = open_store(dir, 4096);
    for (int i = 4; i < 10; i++)
        su_assert_block(s, k[i].in.tag);
    su_assert_clean(s);
    mv_store_close(s);
    for (int i = 0; i < N; i++)
        su_blk_free(&k[i]);
    su_rmtree(dir);
}

static void count_problem(void *ctx, const char *what)
{
    (void)what;
    (*(int *)ctx)++;
}

static void test_check_detects_corruption(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk k[3];
    mv_store_block_in in[3];
    for (int i = 0; i < 3; i++) {
        su_blk_make(&k[i], "icu", 256, 11, (uint32_t)i, 1);
        in[i] = k[i].in;
    }
    assert_int_equal(mv_store_put_blocks(s, in, 3, NULL), MV_OK);
    mv_store_check_report r;
    int problems = 0;
    assert_int_equal(mv_store_check(s, &r, count_problem, &problems), MV_OK);
    assert_int_equal(r.packs, 1);
    assert_int_equal(r.entries, 3);
    assert_int_equal(r.bytes, 3 * (256 + 36));
    assert_int_equal(problems, 0);
    /* Flip one byte inside the second block's ciphertext. */
    char path[4096];
    su_pack_path(path, sizeof path, dir, 1);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at = (256 + 36) + 36 + 100;
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    assert_int_equal(mv_store_check(s, &r, count_problem, &problems), MV_OK);
    assert_int_equal(r.bad_entries, 1);
    assert_int_equal(r.missing + r.orphans + r.refcount_errors, 0);
    assert_int_equal(problems, 1);
    mv_buf b;
    mv_buf_init(&b, MV_STORE_MAX_BLOCK);
    /* Entries are laid out in tag order within a commit: exactly one block is now corrupt. */
    int verify = 0, ok = 0;
    for (int i = 0; i < 3; i++) {
        mv_buf_reset(&b);
        mv_err rc = mv_store_block_read(s, k[i].in.tag, &b);
        if (rc == MV_ERR_VERIFY) {
            verify++;
            assert_int_equal(b.len, 0);
        } else {
            assert_int_equal(rc, MV_OK);
            ok++;
        }
    }
    assert_int_equal(verify, 1);
    assert_int_equal(ok, 2);
    mv_buf_clear(&b);
    mv_store_close(s);
    /* A pack the index names but that is gone: missing; an unknown file removed on open. */
    assert_int_equal(unlink(path), 0);
    s = open_store(dir, 0);
    assert_int_equal(mv_store_check(s, &r, NULL, NULL), MV_OK);
    assert_int_equal(r.missing, 1 + 3); /* the pack, then each block it held */
    assert_int_equal(mv_store_block_read(s, k[0].in.tag, &b), MV_ERR_IO);
    mv_buf_clear(&b);
    mv_store_close(s);
    for (int i = 0; i < 3; i++)
        su_blk_free(&k[i]);
    su_rmtree(dir);
}

static void test_recovery_torn_tail(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a, b;
    su_blk_make(&a, "ward 7", 333, 12, 1, 1);
    su_blk_make(&b, "ward 7", 444, 12, 2, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    mv_store_close(s);
    char path[4096], stray[4096];
    su_pack_path(path, sizeof path, dir, 1);
    su_pack_path(stray, sizeof stray, dir, 9);
    /* A torn write: a half entry header and some bytes past the committed end. */
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("\x10\x00\x00\x00garbage-garbage", 1, 19, f), 19);
    fclose(f);
    /* A pack created before a crash but never committed. */
    f = fopen(stray, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("x", 1, 1, f), 1);
    fclose(f);
    assert_int_equal(su_file_size(path), 333 + 36 + 19);
    s = open_store(dir, 0);
    assert_int_equal(su_file_size(path), 333 + 36);
    assert_int_equal(su_file_size(stray), -1);
    su_assert_clean(s);
    su_assert_block(s, a.in.tag);
    /* Appends continue at the committed end. */
    assert_int_equal(mv_store_put_blocks(s, &b.in, 1, NULL), MV_OK);
    assert_int_equal(su_file_size(path), 333 + 444 + 72);
    su_assert_block(s, b.in.tag);
    su_assert_clean(s);
    /* The directory is locked while open. */
    mv_store *second = NULL;
    assert_int_equal(mv_store_open(dir, NULL, &second), MV_ERR_BUSY);
    assert_null(second);
    mv_store_close(s);
    su_blk_free(&a);
    su_blk_free(&b);
    su_rmtree(dir);
}

static void test_check_refcounts(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "er", 100, 13, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    uint8_t id[16];
    su_id(id, 13, 1);
    put_record(s, id, "er", 1, a.in.tag, 1, "e", MV_OK);
    su_assert_clean(s);
    mv_store_close(s);
    /* Tamper with the index behind the engine's back (through its own vtable): a wrong
     * reference count, and a token naming a block that does not exist. */
    char path[4096];
    snprintf(path, sizeof path, "%s/index", dir);
    mv_index *ix = NULL;
    mv_itxn *t = NULL;
    mv_ix_block b;
    assert_int_equal(mv_index_lmdb_open(path, (size_t)1 << 30, 126, &ix), MV_OK);
    assert_int_equal(ix->ops->begin(ix, 1, &t), MV_OK);
    assert_int_equal(ix->ops->block_get(t, a.in.tag, &b), MV_OK);
    assert_int_equal(b.refs, 1);
    b.refs = 5;
    assert_int_equal(ix->ops->block_put(t, a.in.tag, &b), MV_OK);
    uint8_t nowhere[32], tok[32];
    su_bytes(nowhere, 32, 7, 7, 7);
    su_bytes(tok, 32, 7, 7, 8);
    assert_int_equal(ix->ops->token_put(t, "er", tok, nowhere), MV_OK);
    assert_int_equal(ix->ops->commit(t), MV_OK);
    ix->ops->close(ix);
    s = open_store(dir, 0);
    mv_store_check_report r;
    int problems = 0;
    assert_int_equal(mv_store_check(s, &r, count_problem, &problems), MV_OK);
    assert_int_equal(r.refcount_errors, 1);
    assert_int_equal(r.orphans, 1);
    assert_int_equal(r.bad_entries + r.missing, 0);
    assert_int_equal(problems, 2);
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);
}

static mv_err count_listed(void *ctx, const mv_store_record_info *ri)
{
    (void)ri;
    (*(size_t *)ctx)++;
    return MV_OK;
}

/* Records for patients: patient and episode round trip, the patient is always a reader (kept
 * by set_readers), is listed for the patient, and can be set once on a record that has none. */
static void test_patient_and_episode(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "cardiology", 200, 40, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    uint8_t id[16], id2[16], id3[16], patient[32], patient2[32], reader[32], other[32], episode[16], zero[32] = {0};
    su_id(id, 40, 1);
    su_id(id2, 40, 2);
    su_id(id3, 40, 3);
    su_key(patient, 50);
    su_key(patient2, 51);
    su_key(reader, 52);
    su_key(other, 53);
    su_bytes(episode, 16, 9, 1, 2);

    mv_store_record_in r;
    memset(&r, 0, sizeof r);
    memcpy(r.id, id, 16);
    r.dept = "cardiology";
    memcpy(r.owner, a.in.claimant, 32);
    memcpy(r.patient, patient, 32);
    memcpy(r.episode, episode, 16);
    r.readers = reader;
    r.n_readers = 1;
    r.tags = a.in.tag;
    r.n_tags = 1;
    r.envelope = (const uint8_t *)"env";
    r.envelope_len = 3;
    mv_store_record_in batch[3] = {r, r, r};
    memcpy(batch[1].id, id2, 16); /* legacy: no patient, no episode */
    memset(batch[1].patient, 0, 32);
    memset(batch[1].episode, 0, 16);
    memcpy(batch[2].id, id3, 16); /* an episode without a patient is refused */
    memset(batch[2].patient, 0, 32);
    mv_err res[3];
    assert_int_equal(mv_store_put_records(s, batch, 3, res, (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(res[0], MV_OK);
    assert_int_equal(res[1], MV_OK);
    assert_int_equal(res[2], MV_ERR_INVAL);

    mv_store_record_info info;
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    assert_memory_equal(info.patient, patient, 32);
    assert_memory_equal(info.episode, episode, 16);
    assert_int_equal(info.n_readers, 3);
    assert_memory_equal(info.readers[0], r.owner, 32);
    assert_memory_equal(info.readers[1], patient, 32);
    assert_memory_equal(info.readers[2], reader, 32);
    assert_int_equal(mv_store_record_get(s, id2, &info, NULL), MV_OK);
    assert_memory_equal(info.patient, zero, 32);
    assert_memory_equal(info.episode, zero, 16);
    assert_int_equal(info.n_readers, 2);

    size_t listed = 0;
    assert_int_equal(mv_store_record_list(s, patient, count_listed, &listed), MV_OK);
    assert_int_equal(listed, 1);

    /* set_readers keeps the owner and the patient; the episode stays. */
    assert_int_equal(mv_store_record_set_readers(s, id, other, 1, NULL, 0), MV_OK);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    assert_int_equal(info.n_readers, 3);
    assert_memory_equal(info.readers[1], patient, 32);
    assert_memory_equal(info.readers[2], other, 32);
    assert_memory_equal(info.episode, episode, 16);
    assert_int_equal(mv_store_record_set_readers(s, id, NULL, 0, NULL, 0), MV_OK);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    assert_int_equal(info.n_readers, 2);
    assert_memory_equal(info.readers[1], patient, 32);

    /* The patient is set once: never replaced, never on a record that has one. */
    assert_int_equal(mv_store_record_set_access(s, id, patient2, NULL, 0, NULL, 0), MV_ERR_EXISTS);
    assert_int_equal(mv_store_record_set_access(s, id, patient, NULL, 0, NULL, 0), MV_ERR_EXISTS);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    assert_memory_equal(info.patient, patient, 32);
    assert_int_equal(mv_store_record_set_access(s, id2, zero, NULL, 0, NULL, 0), MV_ERR_INVAL);
    assert_int_equal(mv_store_record_set_access(s, id2, patient2, reader, 1, (const uint8_t *)"env22", 5), MV_OK);
    mv_store_close(s);

    s = open_store(dir, 0); /* durable */
    mv_buf env;
    mv_buf_init(&env, 64);
    assert_int_equal(mv_store_record_get(s, id2, &info, &env), MV_OK);
    assert_memory_equal(info.patient, patient2, 32);
    assert_memory_equal(info.episode, zero, 16);
    assert_int_equal(info.n_readers, 3);
    assert_memory_equal(info.readers[1], patient2, 32);
    assert_memory_equal(info.readers[2], reader, 32);
    assert_int_equal(env.len, 5);
    assert_int_equal(mv_store_record_set_access(s, id2, patient, NULL, 0, NULL, 0), MV_ERR_EXISTS);
    listed = 0;
    assert_int_equal(mv_store_record_list(s, patient2, count_listed, &listed), MV_OK);
    assert_int_equal(listed, 1);
    su_assert_clean(s);
    mv_buf_clear(&env);
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);
}

/* Stores made before records had patients hold version-1 record values (no patient, no
 * episode): they still decode, with zeros, and a rewrite (set_readers) upgrades them. The v1
 * value is written straight into LMDB, laid out as the version-1 encoder did:
 * version 1 | dept_len | n_readers u16 | n_tags u32 | created u64 | logical u64 |
 * envelope_len u32 | owner 32 | dept | readers | tags | envelope. */
/* Rewrites a format-3 index holding no records into the layout of formats 1 and 2 (one
 * database per table, what the fold of format 3 undoes), in txn. */
static void legacy_layout(MDB_txn *txn)
{
    static const char *const names[14] = {NULL, "meta", "stats", "packs", "segments", "sets",
                                          "set_hash", "set_readers", "blocks", "zero", "tokens",
                                          "block_tokens", "claims", "claims_by_time"};
    MDB_dbi tb, old;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    assert_int_equal(mdb_dbi_open(txn, "tables", 0, &tb), 0);
    assert_int_equal(mdb_cursor_open(txn, tb, &c), 0);
    while (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0) {
        uint8_t p = *(const uint8_t *)k.mv_data;
        assert_true(p >= 1 && p <= 13);
        assert_int_equal(mdb_dbi_open(txn, names[p], MDB_CREATE, &old), 0);
        MDB_val ok = {k.mv_size - 1, (uint8_t *)k.mv_data + 1};
        assert_int_equal(mdb_put(txn, old, &ok, &v, 0), 0);
        assert_int_equal(mdb_cursor_del(c, 0), 0);
    }
    mdb_cursor_close(c);
}

static void test_record_v1_values_decode(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "er", 100, 41, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    uint8_t id[16], reader[32], zero[32] = {0};
    su_id(id, 41, 1);
    su_key(reader, 60);
    mv_store_close(s);

    /* The v1 value, byte by byte. */
    uint8_t v[60 + 2 + 2 * 32 + 32 + 4];
    size_t n = 0;
    uint64_t created = 1700000000, logical = 4 + 100;
    v[n++] = 1;
    v[n++] = 2;                    /* dept "er" */
    v[n++] = 2, v[n++] = 0;        /* readers: owner, reader */
    v[n++] = 1, v[n++] = 0, v[n++] = 0, v[n++] = 0; /* one tag */
    for (int i = 0; i < 8; i++)
        v[n++] = (uint8_t)(created >> (8 * i));
    for (int i = 0; i < 8; i++)
        v[n++] = (uint8_t)(logical >> (8 * i));
    v[n++] = 4, v[n++] = 0, v[n++] = 0, v[n++] = 0; /* envelope of 4 */
    memcpy(v + n, a.in.claimant, 32), n += 32;
    assert_int_equal(n, 60);
    memcpy(v + n, "er", 2), n += 2;
    memcpy(v + n, a.in.claimant, 32), n += 32;
    memcpy(v + n, reader, 32), n += 32;
    memcpy(v + n, a.in.tag, 32), n += 32;
    memcpy(v + n, "env1", 4), n += 4;
    assert_int_equal(n, sizeof v);

    /* The block reference and stats through the engine's own vtable. */
    mv_index *ix = NULL;
    mv_itxn *t = NULL;
    mv_ix_block b;
    mv_ix_stats st;
    char path[4096];
    snprintf(path, sizeof path, "%s/index", dir);
    assert_int_equal(mv_index_lmdb_open(path, (size_t)1 << 30, 126, &ix), MV_OK);
    assert_int_equal(ix->ops->begin(ix, 1, &t), MV_OK);
    assert_int_equal(ix->ops->block_get(t, a.in.tag, &b), MV_OK);
    b.refs = 1;
    assert_int_equal(ix->ops->block_put(t, a.in.tag, &b), MV_OK);
    for (int i = 0; i < 2; i++) {
        const char *d = i ? "er" : NULL;
        assert_int_equal(ix->ops->stats_get(t, d, &st), MV_OK);
        st.records += 1;
        st.logical += logical;
        st.physical += 4 + 100;
        if (!d)
            st.envelope_bytes += 4;
        assert_int_equal(ix->ops->stats_put(t, d, &st), MV_OK);
    }
    assert_int_equal(ix->ops->commit(t), MV_OK);
    ix->ops->close(ix);
    /* Into the index as a version-1 store held it: the record, its reader entries, the block's
     * reference and the stats counters. */
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi recs, rdrs;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "records", 0, &recs), 0);
    legacy_layout(txn);
    assert_int_equal(mdb_dbi_open(txn, "readers", MDB_CREATE, &rdrs), 0);
    MDB_val k = {16, id}, val = {sizeof v, v};
    assert_int_equal(mdb_put(txn, recs, &k, &val, 0), 0);
    /* A format-1 index has no format mark: drop the one the first open wrote. */
    MDB_dbi meta;
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val fk = {6, (void *)"format"};
    assert_int_equal(mdb_del(txn, meta, &fk, NULL), 0);
    uint8_t rk[48];
    memcpy(rk + 32, id, 16);
    for (int i = 0; i < 2; i++) {
        memcpy(rk, i ? reader : a.in.claimant, 32);
        MDB_val kk = {48, rk}, e = {0, (void *)""};
        assert_int_equal(mdb_put(txn, rdrs, &kk, &e, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    s = open_store(dir, 0);
    mv_store_record_info info;
    mv_buf eb;
    mv_buf_init(&eb, 64);
    assert_int_equal(mv_store_record_get(s, id, &info, &eb), MV_OK);
    assert_memory_equal(info.owner, a.in.claimant, 32);
    assert_memory_equal(info.patient, zero, 32);
    assert_memory_equal(info.episode, zero, 16);
    assert_string_equal(info.dept, "er");
    assert_int_equal(info.n_readers, 2);
    assert_memory_equal(info.readers[1], reader, 32);
    assert_int_equal(info.created, created);
    assert_int_equal(info.logical_bytes, logical);
    assert_int_equal(eb.len, 4);
    assert_memory_equal(eb.ptr, "env1", 4);
    su_assert_clean(s);
    /* A legacy record gets its patient: rewritten as version 2. */
    uint8_t patient[32];
    su_key(patient, 61);
    assert_int_equal(mv_store_record_set_access(s, id, patient, reader, 1, NULL, 0), MV_OK);
    mv_store_close(s);
    s = open_store(dir, 0);
    assert_int_equal(mv_store_record_get(s, id, &info, NULL), MV_OK);
    assert_memory_equal(info.patient, patient, 32);
    assert_int_equal(info.n_readers, 3);
    assert_int_equal(info.created, created);
    su_assert_clean(s);
    mv_buf_clear(&eb);
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);
}


/* One byte of an envelope flipped in its pack: check names the segment (its hash no longer
 * matches), and the other records still read. */
static void test_check_detects_envelope_corruption(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "icu", 256, 80, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    uint8_t id1[16], id2[16];
    su_id(id1, 80, 1);
    su_id(id2, 80, 2);
    put_record(s, id1, "icu", 1, a.in.tag, 1, "first envelope", MV_OK);
    put_record(s, id2, "icu", 1, a.in.tag, 1, "second envelope", MV_OK);
    su_assert_clean(s);
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    /* The pack: the block (36 + 256), then the first record's segment: 36 framing, 4 header,
     * the envelope, one block id. */
    char path[4096];
    su_pack_path(path, sizeof path, dir, 1);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at = (36 + 256) + 36 + 4 + 3;
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    assert_int_equal(byte, 's'); /* "first envelope"[3] */
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    mv_store_check_report r;
    int problems = 0;
    assert_int_equal(mv_store_check(s, &r, count_problem, &problems), MV_OK);
    assert_int_equal(r.bad_entries, 1);
    assert_int_equal(r.missing + r.orphans + r.refcount_errors, 0);
    assert_int_equal(problems, 1);
    mv_buf env;
    mv_buf_init(&env, 64);
    mv_store_record_info info;
    assert_int_equal(mv_store_record_get(s, id2, &info, &env), MV_OK);
    assert_int_equal(env.len, 15);
    assert_memory_equal(env.ptr, "second envelope", 15);
    /* gc never copies a corrupt segment forward: it leaves the pack for check to report. */
    assert_int_equal(mv_store_record_delete(s, id2), MV_OK);
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL), NULL), MV_ERR_VERIFY);
    assert_int_equal(mv_store_check(s, &r, NULL, NULL), MV_OK);
    assert_int_equal(r.bad_entries, 1);
    mv_buf_clear(&env);
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);
}

/* Deleted records' envelopes are dead bytes in their segments until gc, which rewrites the
 * segments without them: pack bytes shrink, the remaining records read back whole. */
static void test_gc_reclaims_envelopes(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "er", 300, 81, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    enum { N = 40 };
    mv_store_record_in in[N];
    mv_err res[N];
    uint8_t env[N][500];
    for (int i = 0; i < N; i++) {
        memset(&in[i], 0, sizeof in[i]);
        su_id(in[i].id, 81, (uint32_t)i);
        in[i].dept = "er";
        memcpy(in[i].owner, a.in.claimant, 32);
        in[i].tags = a.in.tag;
        in[i].n_tags = 1;
        su_fill(env[i], sizeof env[i], 81, (uint32_t)i);
        in[i].envelope = env[i];
        in[i].envelope_len = sizeof env[i];
    }
    assert_int_equal(mv_store_put_records(s, in, N, res, (uint64_t)time(NULL)), MV_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(res[i], MV_OK);
    mv_store_stats before, after;
    assert_int_equal(mv_store_get_stats(s, &before), MV_OK);
    /* One segment for the whole call: 36 framing + 4 header + (envelope + a one-byte block
     * id) per record. */
    assert_int_equal(before.pack_bytes, 36 + 300 + 36 + 4 + N * (500 + 1));
    uint64_t disk = su_packs_size(dir);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(mv_store_record_delete(s, in[i].id), MV_OK);
    su_assert_clean(s);
    mv_store_gc_report g;
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL), &g), MV_OK);
    assert_true(g.packs_rewritten >= 1);
    assert_int_equal(mv_store_get_stats(s, &after), MV_OK);
    assert_int_equal(after.pack_bytes, before.pack_bytes - (N / 2) * (500 + 1));
    assert_int_equal(su_packs_size(dir), after.pack_bytes);
    assert_true(su_packs_size(dir) < disk);
    su_assert_clean(s);
    mv_store_close(s);
    s = open_store(dir, 0);
    mv_buf eb;
    mv_buf_init(&eb, 1024);
    for (int i = 0; i < N; i++) {
        mv_store_record_info info;
        mv_buf_reset(&eb);
        mv_err rc = mv_store_record_get(s, in[i].id, &info, &eb);
        if (i % 2 == 0) {
            assert_int_equal(rc, MV_ERR_NOT_FOUND);
            continue;
        }
        assert_int_equal(rc, MV_OK);
        assert_int_equal(eb.len, sizeof env[i]);
        assert_memory_equal(eb.ptr, env[i], sizeof env[i]);
        uint8_t tag[32];
        size_t n = 0;
        assert_int_equal(mv_store_record_tags(s, in[i].id, tag, 1, &n), MV_OK);
        assert_memory_equal(tag, a.in.tag, 32);
    }
    /* Deleting the rest frees the segment and, with the block unreferenced, everything. */
    for (int i = 1; i < N; i += 2)
        assert_int_equal(mv_store_record_delete(s, in[i].id), MV_OK);
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL) + 7200, &g), MV_OK);
    assert_int_equal(mv_store_get_stats(s, &after), MV_OK);
    assert_int_equal(after.pack_bytes, 0);
    su_assert_clean(s);
    mv_buf_clear(&eb);
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);
}

/* A format-1 store (as the previous version wrote it: envelopes, readers and tags in the
 * records value, a readers sub-database, no format mark), built here through a kept copy of
 * the format-1 encoder, migrates on open; a crash (an injected I/O failure) in the middle of
 * the migration leaves a store whose next open finishes it. */
static size_t legacy_value(uint8_t *v, const uint8_t *owner, const uint8_t *patient,
                           const uint8_t *episode, const char *dept, const uint8_t *readers,
                           size_t n_readers, const uint8_t *tags, size_t n_tags,
                           const uint8_t *env, size_t env_len, uint64_t created, uint64_t logical)
{
    size_t dl = strlen(dept), n = 0;
    v[n++] = 2;
    v[n++] = (uint8_t)dl;
    v[n++] = (uint8_t)n_readers, v[n++] = 0;
    for (int i = 0; i < 4; i++)
        v[n++] = (uint8_t)(n_tags >> (8 * i));
    for (int i = 0; i < 8; i++)
        v[n++] = (uint8_t)(created >> (8 * i));
    for (int i = 0; i < 8; i++)
        v[n++] = (uint8_t)(logical >> (8 * i));
    for (int i = 0; i < 4; i++)
        v[n++] = (uint8_t)(env_len >> (8 * i));
    memcpy(v + n, owner, 32), n += 32;
    memcpy(v + n, patient, 32), n += 32;
    memcpy(v + n, episode, 16), n += 16;
    memcpy(v + n, dept, dl), n += dl;
    memcpy(v + n, readers, 32 * n_readers), n += 32 * n_readers;
    memcpy(v + n, tags, 32 * n_tags), n += 32 * n_tags;
    memcpy(v + n, env, env_len), n += env_len;
    return n;
}

enum { LEGACY_N = 2500 }; /* more than one migration batch (1024) */

static void legacy_env(uint8_t env[64], uint32_t i) { su_fill(env, 64, 82, i); }

static void make_format1_store(const char *dir, su_blk *a)
{
    mv_store *s = open_store(dir, 0);
    su_blk_make(a, "er", 100, 82, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a->in, 1, NULL), MV_OK);
    mv_store_close(s);
    /* The block's references and the counters, as the format-1 engine kept them. */
    mv_index *ix = NULL;
    mv_itxn *t = NULL;
    mv_ix_block b;
    mv_ix_stats st;
    char path[4096];
    snprintf(path, sizeof path, "%s/index", dir);
    assert_int_equal(mv_index_lmdb_open(path, (size_t)1 << 30, 126, &ix), MV_OK);
    assert_int_equal(ix->ops->begin(ix, 1, &t), MV_OK);
    assert_int_equal(ix->ops->block_get(t, a->in.tag, &b), MV_OK);
    b.refs = LEGACY_N;
    assert_int_equal(ix->ops->block_put(t, a->in.tag, &b), MV_OK);
    for (int i = 0; i < 2; i++) {
        const char *d = i ? "er" : NULL;
        assert_int_equal(ix->ops->stats_get(t, d, &st), MV_OK);
        st.records += LEGACY_N;
        st.logical += (uint64_t)LEGACY_N * (64 + 100);
        st.physical += (uint64_t)LEGACY_N * 64 + 100;
        if (!d)
            st.envelope_bytes += (uint64_t)LEGACY_N * 64;
        assert_int_equal(ix->ops->stats_put(t, d, &st), MV_OK);
    }
    assert_int_equal(ix->ops->commit(t), MV_OK);
    ix->ops->close(ix);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi recs, rdrs, meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "records", 0, &recs), 0);
    legacy_layout(txn);
    assert_int_equal(mdb_dbi_open(txn, "readers", MDB_CREATE, &rdrs), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val fk = {6, (void *)"format"};
    assert_int_equal(mdb_del(txn, meta, &fk, NULL), 0);
    uint8_t patient[32], episode[16], other[32], readers[3 * 32], v[512];
    su_key(other, 83);
    for (uint32_t i = 0; i < LEGACY_N; i++) {
        uint8_t id[16], e[64];
        su_id(id, 82, i);
        su_key(patient, 90 + i % 7);
        su_bytes(episode, 16, 9, 90 + i % 7, 0);
        memcpy(readers, a->in.claimant, 32);
        memcpy(readers + 32, patient, 32);
        memcpy(readers + 64, other, 32);
        legacy_env(e, i);
        size_t n = legacy_value(v, a->in.claimant, patient, episode, "er", readers, 3, a->in.tag,
                                1, e, sizeof e, 1700000000 + i, sizeof e + 100);
        MDB_val k = {16, id}, val = {n, v};
        assert_int_equal(mdb_put(txn, recs, &k, &val, 0), 0);
        uint8_t rk[48];
        memcpy(rk + 32, id, 16);
        for (int r = 0; r < 3; r++) {
            memcpy(rk, readers + 32 * r, 32);
            MDB_val kk = {48, rk}, ev = {0, (void *)""};
            assert_int_equal(mdb_put(txn, rdrs, &kk, &ev, 0), 0);
        }
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void assert_migrated(mv_store *s, const su_blk *a)
{
    mv_buf eb;
    mv_buf_init(&eb, 256);
    uint8_t other[32];
    su_key(other, 83);
    for (uint32_t i = 0; i < LEGACY_N; i++) {
        uint8_t id[16], e[64], patient[32], tag[32];
        mv_store_record_info info;
        size_t n = 0;
        su_id(id, 82, i);
        su_key(patient, 90 + i % 7);
        legacy_env(e, i);
        mv_buf_reset(&eb);
        assert_int_equal(mv_store_record_get(s, id, &info, &eb), MV_OK);
        assert_int_equal(eb.len, 64);
        assert_memory_equal(eb.ptr, e, 64);
        assert_memory_equal(info.patient, patient, 32);
        assert_int_equal(info.n_readers, 3);
        assert_memory_equal(info.readers[2], other, 32);
        assert_int_equal(info.created, 1700000000 + i);
        assert_int_equal(mv_store_record_tags(s, id, tag, 1, &n), MV_OK);
        assert_memory_equal(tag, a->in.tag, 32);
    }
    size_t listed = 0;
    assert_int_equal(mv_store_record_list(s, other, count_listed, &listed), MV_OK);
    assert_int_equal(listed, LEGACY_N);
    uint8_t patient0[32];
    su_key(patient0, 90);
    listed = 0;
    assert_int_equal(mv_store_record_list(s, patient0, count_listed, &listed), MV_OK);
    assert_int_equal(listed, (LEGACY_N + 6) / 7);
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    assert_int_equal(st.records, LEGACY_N);
    assert_int_equal(st.envelope_bytes, (uint64_t)LEGACY_N * 64);
    su_assert_clean(s);
    mv_buf_clear(&eb);
}

static void test_format1_migrates(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    su_blk a;
    make_format1_store(dir, &a);
    mv_store *s = open_store(dir, 0);
    assert_migrated(s, &a);
    mv_store_close(s);
    s = open_store(dir, 0); /* already format 2: nothing to do */
    assert_migrated(s, &a);
    /* Migrated records live as new ones do: delete, gc. */
    uint8_t id[16];
    su_id(id, 82, 0);
    assert_int_equal(mv_store_record_delete(s, id), MV_OK);
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL), NULL), MV_OK);
    su_assert_clean(s);
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);

    /* A crash mid-migration: fail the n-th of the S mutating I/O steps a whole migration
     * takes, for n spread over [0, S); every failed open leaves a store that the next open
     * completes. */
    dir = tu_tmpdir();
    make_format1_store(dir, &a);
    uint64_t s0 = mv_store_test_io_steps();
    s = open_store(dir, 0);
    uint64_t steps = mv_store_test_io_steps() - s0;
    mv_store_close(s);
    su_blk_free(&a);
    su_rmtree(dir);
    int crashed_mid = 0;
    const uint64_t at[] = {0, 1, steps / 5, steps / 3, steps / 2, 2 * steps / 3, steps - 3};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        dir = tu_tmpdir();
        make_format1_store(dir, &a);
        mv_store_options o = {0, (size_t)1 << 30, 0, 0};
        mv_store *f = NULL;
        mv_store_test_fail_io_after((size_t)at[k]);
        mv_err rc = mv_store_open(dir, &o, &f);
        mv_store_test_fail_io_after(SIZE_MAX);
        assert_int_equal(rc, MV_ERR_IO);
        assert_null(f);
        /* Some records converted, some not: a crash between two committed batches. */
        mv_index *ix = NULL;
        mv_itxn *t = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/index", dir);
        assert_int_equal(mv_index_lmdb_open(path, (size_t)1 << 30, 126, &ix), MV_OK);
        assert_int_equal(ix->ops->begin(ix, 0, &t), MV_OK);
        uint8_t lid[16], id0[16];
        mv_ix_legacy lg;
        mv_ix_record rec;
        su_id(id0, 82, 0);
        int some_old = ix->ops->legacy_next(t, NULL, lid, &lg) == MV_OK, some_new = 0;
        for (uint32_t i = 0; i < LEGACY_N && !some_new; i++) {
            uint8_t idi[16];
            su_id(idi, 82, i);
            some_new = ix->ops->record_get(t, idi, &rec) == MV_OK;
        }
        crashed_mid |= some_old && some_new;
        ix->ops->abort(t);
        ix->ops->close(ix);
        s = open_store(dir, 0);
        assert_migrated(s, &a);
        mv_store_close(s);
        su_blk_free(&a);
        su_rmtree(dir);
    }
    assert_true(crashed_mid); /* at least one failure fell between two committed batches */
}

/* Index growth per record, the figure of issue 12: one-block records (one shared content
 * block, as prescriptions of a department dedupe), two readers, one department, the same
 * owner, with one patient and with 50 patients taking turns (the worst order: every batch
 * touches every patient's access set). Records come in batches of 1000, as a client sends
 * them (its batch is 1024 blocks), with ids from mv_record_id_new. Growth is the size of
 * index/data.mdb after 2000 records minus its size after a first batch: LMDB's fixed costs
 * (a root page per sub-database, the copy-on-write pages of the last two transactions) are
 * per store, not per record, and are printed apart. The format-1 index (envelopes, readers
 * and tags in the records value) grew by about 2,000 bytes per record here. */
static void index_growth(uint32_t patients, double *cold, double *warm, double *packs)
{
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "cardiology", 300, 70, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/index/data.mdb", dir);
    enum { BATCH = 1000, N = 2000 };
    mv_store_record_in *in = calloc(BATCH, sizeof *in);
    mv_err *res = calloc(BATCH, sizeof *res);
    uint8_t *envs = malloc((size_t)BATCH * 700), readers[64];
    assert_non_null(in);
    assert_non_null(res);
    assert_non_null(envs);
    su_key(readers, 71);
    su_key(readers + 32, 72);
    int64_t empty = su_file_size(path), first = 0;
    mv_store_stats st0, st1;
    for (int b = 0; b < (BATCH + N) / BATCH; b++) {
        if (b == 1) {
            first = su_file_size(path);
            assert_int_equal(mv_store_get_stats(s, &st0), MV_OK);
        }
        for (int j = 0; j < BATCH; j++) {
            mv_store_record_in *r = &in[j];
            memset(r, 0, sizeof *r);
            assert_int_equal(mv_record_id_new(r->id), MV_OK);
            r->dept = "cardiology";
            memcpy(r->owner, a.in.claimant, 32);
            su_key(r->patient, 1000 + (uint32_t)j % patients);
            su_bytes(r->episode, 16, 9, 1000 + (uint32_t)j % patients, 0);
            r->readers = readers;
            r->n_readers = 2;
            r->tags = a.in.tag;
            r->n_tags = 1;
            su_fill(envs + 700 * j, 700, 71, (uint32_t)(b * BATCH + j));
            r->envelope = envs + 700 * j;
            r->envelope_len = 700;
        }
        assert_int_equal(mv_store_put_records(s, in, BATCH, res, (uint64_t)time(NULL)), MV_OK);
        for (int j = 0; j < BATCH; j++)
            assert_int_equal(res[j], MV_OK);
    }
    int64_t last = su_file_size(path);
    assert_int_equal(mv_store_get_stats(s, &st1), MV_OK);
    *cold = (double)(last - empty) / (BATCH + N);
    *warm = (double)(last - first) / N;
    *packs = (double)(st1.pack_bytes - st0.pack_bytes) / N;
    size_t listed = 0;
    assert_int_equal(mv_store_record_list(s, readers, count_listed, &listed), MV_OK);
    assert_int_equal(listed, BATCH + N);
    su_assert_clean(s);
    mv_store_close(s);
    free(in);
    free(res);
    free(envs);
    su_blk_free(&a);
    su_rmtree(dir);
}

static void test_index_growth(void **state)
{
    (void)state;
    const uint32_t patients[2] = {1, 50};
    for (int i = 0; i < 2; i++) {
        double cold, warm, packs;
        index_growth(patients[i], &cold, &warm, &packs);
        print_message("%u patient(s): index growth %.1f bytes/record (%.1f counting the first "
                      "batch and the new sub-databases), packs %.1f bytes/record\n",
                      patients[i], warm, cold, packs);
        assert_true(warm < 100.0);
        /* Envelopes are in the packs: 700 bytes, a one-byte block id (was its 32-byte tag),
         * framing shared by a batch. */
        assert_true(packs < 700 + 1 + 2);
    }
}

/* ---- a store written by index format 2 (tests/vectors/store-format2, see its README) ---- */

static void f2_fill(uint8_t *p, size_t n, unsigned a)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(a * 31 + i * 7 + (i >> 3));
}

static void f2_id(uint8_t id[16], int n)
{
    memset(id, 0, 16);
    id[0] = 0x01;
    id[15] = (uint8_t)n;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[8192];
    size_t n;
    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A fresh copy of the format-2 store in a new temporary directory. */
static const char *format2_copy(void)
{
    const char *v = getenv("MV_VECTORS_DIR");
    char from[2048], to[2048];
    assert_non_null(v);
    const char *dir = tu_tmpdir();
    static const char *const files[2] = {"index/data.mdb", "packs/00000001.pack"};
    snprintf(to, sizeof to, "%s/index", dir);
    assert_int_equal(mkdir(to, 0700), 0);
    snprintf(to, sizeof to, "%s/packs", dir);
    assert_int_equal(mkdir(to, 0700), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/store-format2/%s", v, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        copy_file(from, to);
    }
    return dir;
}

/* What make_format2.c stored (ids: records still present). */
static void assert_format2_content(mv_store *s, int deleted1)
{
    static const char *const env[5] = {"envelope one", "envelope two", NULL,
                                       "envelope four, again", "envelope five"};
    static const int ntags[5] = {2, 1, 0, 3, 0}, first[5] = {0, 2, 0, 0, 0};
    uint8_t owner[32], reader[32], patient[32], data[200], tag[3][32], id[16], got[3 * 32];
    mv_buf eb;
    f2_fill(owner, 32, 1);
    f2_fill(reader, 32, 2);
    f2_fill(patient, 32, 3);
    for (int i = 0; i < 3; i++) {
        f2_fill(data, sizeof data, 10 + (unsigned)i);
        assert_int_equal(mv_sha256(tag[i], data, sizeof data), MV_OK);
    }
    mv_buf_init(&eb, 256);
    for (int n = 1; n <= 5; n++) {
        mv_store_record_info info;
        size_t k = 0;
        f2_id(id, n);
        mv_buf_reset(&eb);
        mv_err rc = mv_store_record_get(s, id, &info, &eb);
        if (n == 3 || (n == 1 && deleted1)) {
            assert_int_equal(rc, MV_ERR_NOT_FOUND);
            continue;
        }
        assert_int_equal(rc, MV_OK);
        assert_int_equal(eb.len, strlen(env[n - 1]));
        assert_memory_equal(eb.ptr, env[n - 1], eb.len);
        assert_memory_equal(info.owner, owner, 32);
        assert_string_equal(info.dept, "er");
        assert_int_equal(info.created, 1700000000);
        assert_int_equal(info.n_readers, n == 4 ? 1 : n == 2 ? 3 : 2);
        if (n == 2)
            assert_memory_equal(info.patient, patient, 32);
        assert_int_equal(mv_store_record_tags(s, id, got, 3, &k), MV_OK);
        assert_int_equal(k, ntags[n - 1]);
        for (int j = 0; j < ntags[n - 1]; j++)
            assert_memory_equal(got + 32 * j, tag[first[n - 1] + j], 32);
    }
    size_t listed = 0;
    assert_int_equal(mv_store_record_list(s, reader, count_listed, &listed), MV_OK);
    assert_int_equal(listed, deleted1 ? 2 : 3); /* records 1, 2 and 5 */
    mv_buf_clear(&eb);
}

/* Format 2 is folded into format 3 on open and everything reads as it was; the records
 * written by format 2 (tags in version-1 segments) live on next to new ones (ids): delete,
 * a new envelope, gc of the segments with dead bytes, check clean throughout. An I/O failure
 * at any step of the fold leaves a store the next open migrates. */
static void test_format2_migrates(void **state)
{
    (void)state;
    const char *dir = format2_copy();
    mv_store *s = open_store(dir, 0);
    su_assert_clean(s);
    assert_format2_content(s, 0);
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    assert_int_equal(st.records, 4);
    assert_int_equal(st.blocks, 3);
    mv_store_close(s);
    s = open_store(dir, 0); /* format 3 now: nothing to do */
    assert_format2_content(s, 0);

    /* A new record naming block 0 (the block gets its id), then record 1 (format 2) goes. */
    uint8_t owner[32], data[200], tag0[32], id[16];
    f2_fill(owner, 32, 1);
    f2_fill(data, sizeof data, 10);
    assert_int_equal(mv_sha256(tag0, data, sizeof data), MV_OK);
    mv_store_block_in claim;
    memset(&claim, 0, sizeof claim);
    claim.dept = "er";
    f2_fill(claim.token, 32, 20);
    memcpy(claim.tag, tag0, 32);
    memcpy(claim.claimant, owner, 32);
    assert_int_equal(mv_store_put_blocks(s, &claim, 1, NULL), MV_OK);
    mv_store_record_in r;
    mv_err res = MV_ERR_IO;
    memset(&r, 0, sizeof r);
    f2_id(r.id, 6);
    r.dept = "er";
    memcpy(r.owner, owner, 32);
    r.tags = tag0;
    r.n_tags = 1;
    r.envelope = (const uint8_t *)"envelope six";
    r.envelope_len = 12;
    assert_int_equal(mv_store_put_records(s, &r, 1, &res, 1700000000), MV_OK);
    assert_int_equal(res, MV_OK);
    f2_id(id, 1);
    assert_int_equal(mv_store_record_delete(s, id), MV_OK);
    su_assert_clean(s);
    /* Record 2 (format 2) gets a new envelope: rewritten with block ids. */
    f2_id(id, 2);
    uint8_t reader[32];
    f2_fill(reader, 32, 2);
    assert_int_equal(mv_store_record_set_readers(s, id, reader, 1, (const uint8_t *)"envelope two", 12),
                     MV_OK);
    su_assert_clean(s);
    mv_store_gc_report g;
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL) + 7200, &g), MV_OK);
    assert_true(g.packs_rewritten >= 1);
    su_assert_clean(s);
    assert_format2_content(s, 1);
    uint64_t len = 0, refs = 0;
    assert_int_equal(mv_store_block_info(s, tag0, &len, &refs), MV_OK);
    assert_int_equal(refs, 2); /* record 4 (format 2) and record 6 */
    mv_store_close(s);
    s = open_store(dir, 0);
    assert_format2_content(s, 1);
    su_assert_clean(s);
    mv_store_close(s);
    su_rmtree(dir);

    /* Faults: the n-th mutating I/O step of the fold fails, for every n; the next open
     * finishes the migration. */
    dir = format2_copy();
    uint64_t s0 = mv_store_test_io_steps();
    s = open_store(dir, 0);
    uint64_t steps = mv_store_test_io_steps() - s0;
    mv_store_close(s);
    su_rmtree(dir);
    assert_true(steps > 10);
    for (uint64_t n = 0; n < steps; n++) {
        dir = format2_copy();
        mv_store_options o = {0, (size_t)1 << 30, 0, 0};
        mv_store *f = NULL;
        mv_store_test_fail_io_after((size_t)n);
        mv_err rc = mv_store_open(dir, &o, &f);
        mv_store_test_fail_io_after(SIZE_MAX);
        if (rc == MV_OK)
            mv_store_close(f);
        else
            assert_int_equal(rc, MV_ERR_IO);
        s = open_store(dir, 0);
        su_assert_clean(s);
        assert_format2_content(s, 0);
        mv_store_close(s);
        su_rmtree(dir);
    }
}

/* Block ids: the first record naming a block gives it the next id; the record's segment names
 * its blocks by id and record_tags maps them back; a block freed by gc leaves its slot empty
 * (the others still map), and a block given the id of another is caught by check. */
static void test_block_ids(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk k[3];
    mv_store_block_in in[3];
    uint8_t tags[3 * 32], got[3 * 32], ida[16], idb[16];
    for (uint32_t i = 0; i < 3; i++) {
        su_blk_make(&k[i], "er", 64, 70, i, 1);
        in[i] = k[i].in;
        memcpy(tags + 32 * i, k[i].in.tag, 32);
    }
    assert_int_equal(mv_store_put_blocks(s, in, 3, NULL), MV_OK);
    su_id(ida, 70, 1);
    su_id(idb, 70, 2);
    /* A names blocks 1 and 0 (ids 1 and 2, in that order), B names block 2 (id 3). */
    uint8_t a_tags[64];
    memcpy(a_tags, tags + 32, 32);
    memcpy(a_tags + 32, tags, 32);
    put_record(s, ida, "er", 1, a_tags, 2, "A", MV_OK);
    put_record(s, idb, "er", 1, tags + 64, 1, "B", MV_OK);
    size_t n = 0;
    assert_int_equal(mv_store_record_tags(s, ida, got, 3, &n), MV_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(got, a_tags, 64);
    mv_store_stats st;
    assert_int_equal(mv_store_get_stats(s, &st), MV_OK);
    /* 3 blocks (36 + 64 each), then two segments: 40 + envelope + one byte per id. */
    assert_int_equal(st.pack_bytes, 3 * (36 + 64) + (40 + 1 + 2) + (40 + 1 + 1));
    assert_int_equal(mv_store_record_delete(s, idb), MV_OK);
    mv_store_gc_report g;
    assert_int_equal(mv_store_gc(s, (uint64_t)time(NULL) + 7200, &g), MV_OK);
    assert_int_equal(g.blocks_freed, 1);
    su_assert_clean(s);
    assert_int_equal(mv_store_record_tags(s, ida, got, 3, &n), MV_OK);
    assert_memory_equal(got, a_tags, 64);
    mv_store_close(s);

    /* Block 0 takes the id of freed block 2: its id no longer maps back to it, and record A
     * names a block that is gone. */
    char path[4096];
    snprintf(path, sizeof path, "%s/index", dir);
    mv_index *ix = NULL;
    mv_itxn *t = NULL;
    mv_ix_block b;
    uint8_t back[32];
    assert_int_equal(mv_index_lmdb_open(path, (size_t)1 << 30, 126, &ix), MV_OK);
    assert_int_equal(ix->ops->begin(ix, 1, &t), MV_OK);
    assert_int_equal(ix->ops->block_get(t, tags, &b), MV_OK);
    assert_int_equal(b.id, 2);
    assert_int_equal(ix->ops->block_id_tag(t, 2, back), MV_OK);
    assert_memory_equal(back, tags, 32);
    assert_int_equal(ix->ops->block_id_tag(t, 3, back), MV_ERR_NOT_FOUND);
    assert_int_equal(ix->ops->block_id_tag(t, 0, back), MV_ERR_NOT_FOUND);
    b.id = 3;
    assert_int_equal(ix->ops->block_put(t, tags, &b), MV_OK);
    assert_int_equal(ix->ops->commit(t), MV_OK);
    ix->ops->close(ix);
    s = open_store(dir, 0);
    mv_store_check_report r;
    assert_int_equal(mv_store_check(s, &r, NULL, NULL), MV_OK);
    assert_true(r.missing >= 1);
    mv_store_close(s);
    for (int i = 0; i < 3; i++)
        su_blk_free(&k[i]);
    su_rmtree(dir);
}

/* A record with a time-ordered id stored when it was made: its index value is a dozen bytes
 * (created coded against the id's time: one byte), and created reads back exactly, also for
 * an id that is not time-ordered and a time before it. */
static void test_record_value_compact(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "er", 64, 71, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    uint8_t tid[16], rid[16];
    assert_int_equal(mv_record_id_new(tid), MV_OK);
    su_id(rid, 71, 2);
    uint64_t now = (uint64_t)time(NULL);
    mv_store_record_in r;
    mv_err res[2];
    memset(&r, 0, sizeof r);
    r.dept = "er";
    memcpy(r.owner, a.in.claimant, 32);
    r.tags = a.in.tag;
    r.n_tags = 1;
    r.envelope = (const uint8_t *)"e";
    r.envelope_len = 1;
    mv_store_record_in two[2] = {r, r};
    memcpy(two[0].id, tid, 16);
    memcpy(two[1].id, rid, 16);
    assert_int_equal(mv_store_put_records(s, two, 2, res, now), MV_OK);
    assert_int_equal(res[0], MV_OK);
    assert_int_equal(res[1], MV_OK);
    mv_store_record_info info;
    assert_int_equal(mv_store_record_get(s, tid, &info, NULL), MV_OK);
    assert_int_equal(info.created, now);
    assert_int_equal(mv_store_record_get(s, rid, &info, NULL), MV_OK);
    assert_int_equal(info.created, now);
    su_assert_clean(s);
    mv_store_close(s);
    char path[4096];
    snprintf(path, sizeof path, "%s/index", dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi recs;
    MDB_val k = {16, tid}, v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOTLS | MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "records", 0, &recs), 0);
    assert_int_equal(mdb_get(txn, recs, &k, &v), 0);
    /* version, set, created, logical (65), segment, offset, tags, envelope length */
    assert_int_equal(v.mv_size, 8);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    su_blk_free(&a);
    su_rmtree(dir);
}

/* The records of one (segment, set) span several chunks of segment_sets (ids coded against
 * the previous id's time: time-ordered and random ids mixed); deleting records and moving
 * others to another set keeps every listing exact and check clean. */
static void test_segment_sets_chunks(void **state)
{
    (void)state;
    enum { N = 700 };
    const char *dir = tu_tmpdir();
    mv_store *s = open_store(dir, 0);
    su_blk a;
    su_blk_make(&a, "er", 64, 72, 1, 1);
    assert_int_equal(mv_store_put_blocks(s, &a.in, 1, NULL), MV_OK);
    uint8_t reader[32], other[32];
    su_key(reader, 73);
    su_key(other, 74);
    mv_store_record_in *in = calloc(N, sizeof *in);
    mv_err *res = calloc(N, sizeof *res);
    assert_non_null(in);
    assert_non_null(res);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            su_id(in[i].id, 72, (uint32_t)i);
        else
            assert_int_equal(mv_record_id_new(in[i].id), MV_OK);
        in[i].dept = "er";
        memcpy(in[i].owner, a.in.claimant, 32);
        in[i].readers = reader;
        in[i].n_readers = 1;
        in[i].tags = a.in.tag;
        in[i].n_tags = 1;
        in[i].envelope = (const uint8_t *)"e";
        in[i].envelope_len = 1;
    }
    assert_int_equal(mv_store_put_records(s, in, N, res, (uint64_t)time(NULL)), MV_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(res[i], MV_OK);
    size_t listed = 0;
    assert_int_equal(mv_store_record_list(s, reader, count_listed, &listed), MV_OK);
    assert_int_equal(listed, N);
    su_assert_clean(s);
    size_t left = N, moved = 0;
    for (int i = 0; i < N; i += 4) {
        assert_int_equal(mv_store_record_delete(s, in[i].id), MV_OK);
        left--;
    }
    for (int i = 1; i < N; i += 10) {
        assert_int_equal(mv_store_record_set_readers(s, in[i].id, other, 1, NULL, 0), MV_OK);
        moved++;
    }
    su_assert_clean(s);
    listed = 0;
    assert_int_equal(mv_store_record_list(s, reader, count_listed, &listed), MV_OK);
    assert_int_equal(listed, left - moved);
    listed = 0;
    assert_int_equal(mv_store_record_list(s, other, count_listed, &listed), MV_OK);
    assert_int_equal(listed, moved);
    listed = 0;
    assert_int_equal(mv_store_record_list(s, NULL, count_listed, &listed), MV_OK);
    assert_int_equal(listed, left);
    mv_store_close(s);
    free(in);
    free(res);
    su_blk_free(&a);
    su_rmtree(dir);
}

static long file_size(const char *dir, const char *name)
{
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* The index's lock file is sized by the reader slots: a store opened with 1024 slots (what
 * every store had before) keeps a 64 KiB lock file, and the next open with the default 126
 * makes it 8 KiB again. */
static void test_lock_file_small(void **state)
{
    char ixdir[1100];
    mv_store *s = NULL;
    (void)state;
    const char *dir = tu_tmpdir();
    snprintf(ixdir, sizeof ixdir, "%s/index", dir);
    mv_store_options o = {0, (size_t)1 << 30, 0, 1024};
    assert_int_equal(mv_store_open(dir, &o, &s), MV_OK);
    mv_store_close(s);
    assert_int_equal(file_size(ixdir, "lock.mdb"), 128 + 64 * 1024);
    s = open_store(dir, 0);
    assert_true(file_size(ixdir, "lock.mdb") <= 128 + 64 * 126);
    mv_store_check_report rep;
    assert_int_equal(mv_store_check(s, &rep, NULL, NULL), MV_OK);
    mv_store_close(s);
    o.max_readers = 65537;
    assert_int_equal(mv_store_open(dir, &o, &s), MV_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dedup_across_departments),
        cmocka_unit_test(test_upload_all_or_nothing),
        cmocka_unit_test(test_oversized_block),
        cmocka_unit_test(test_tag_checked_by_caller),
        cmocka_unit_test(test_claims_and_record_rules),
        cmocka_unit_test(test_refs_delete_gc),
        cmocka_unit_test(test_check_detects_corruption),
        cmocka_unit_test(test_recovery_torn_tail),
        cmocka_unit_test(test_check_refcounts),
        cmocka_unit_test(test_patient_and_episode),
        cmocka_unit_test(test_record_v1_values_decode),
        cmocka_unit_test(test_index_growth),
        cmocka_unit_test(test_check_detects_envelope_corruption),
        cmocka_unit_test(test_gc_reclaims_envelopes),
        cmocka_unit_test(test_format1_migrates),
        cmocka_unit_test(test_lock_file_small),
        cmocka_unit_test(test_format2_migrates),
        cmocka_unit_test(test_block_ids),
        cmocka_unit_test(test_record_value_compact),
        cmocka_unit_test(test_segment_sets_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
