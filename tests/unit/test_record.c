/* test_record.c - records and envelopes (mv_record.h).
 *
 * Record encoding: round trips at varint edges, a pinned encoding written out byte by byte
 * from the format in mv_record.h, strict decoding (every truncation, trailing bytes,
 * non-minimal and over-long varints, unknown magic/version/kind, caps, structural rules,
 * pseudo-random garbage), allocation failures in turn. Envelopes: round trip for several
 * readers, duplicates collapsed, non-readers refused, wrong id and wrong key fail, every
 * single-byte flip fails to open unless it lies in another reader's entry, add/remove reader,
 * framing errors, and the per-record size of a 1-block FHIR record with 2 readers. Keysets
 * (MVK1) and MVE2: K opens for each reader only, add/remove readers, exact framing and caps;
 * MVE2 round trip, wrong id/K/kid and every byte flip fail GCM, extra readers open with R
 * alone and never need K, and the fixed overhead of a record in a known reader set (<= 64). Body
 * dictionary: a new body's zstd frame names the FHIR dictionary (id 1); an envelope sealed by
 * main before the dictionary (tests/vectors/envelope-mve1-nodict.json) still opens; a body
 * naming an unknown dictionary is refused as MV_ERR_PARSE; every resource of the Synthea-shaped
 * fixtures (tests/vectors/fhir/synthea-like.ndjson) and of gen-emr round-trips through the
 * record layer: join(decode(open(seal(encode(split(x)))))) == canon(x). */
#include "testutil.h"

#include <string.h>
#include <time.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "medvault/mv_aead.h"
#include "medvault/mv_box.h"
#include "medvault/mv_canon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"

/* A 300-byte canonical FHIR envelope (identity and per-visit fields of a MedicationRequest). */
static const char skeleton300[] =
    "{\"authoredOn\":\"2024-03-14\",\"id\":\"mr-042\",\"identifier\":[{\"system\":\"urn:oid:1.2.826.0.1."
    "3680043.9.7171\",\"value\":\"RX-24-000042\"}],\"meta\":{\"lastUpdated\":\"2024-03-14T09:31:12Z\"},"
    "\"requester\":{\"reference\":\"Practitioner/dr-moreau\"},\"resourceType\":\"MedicationRequest\","
    "\"subject\":{\"reference\":\"Patient/p-8812\"}}";

static const uint8_t rec_id[MV_RECORD_ID_BYTES] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                                   0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 3));
}

static mv_block_ref block(uint32_t slot, uint8_t seed, uint64_t plain, uint64_t cipher)
{
    mv_block_ref b;
    fill(b.tag, 32, seed);
    fill(b.key, 32, (uint8_t)(seed + 100));
    b.slot = slot;
    b.plain_len = plain;
    b.cipher_len = cipher;
    return b;
}

static void fhir_record(mv_record *r, size_t n_blocks)
{
    mv_record_init(r);
    r->kind = MV_RECORD_FHIR;
    r->created = 1710405072;
    assert_int_equal(mv_record_set_skeleton(r, (const uint8_t *)skeleton300, sizeof skeleton300 - 1), MV_OK);
    for (size_t i = 0; i < n_blocks; i++) {
        mv_block_ref b = block(i == 0 ? MV_RECORD_SLOT_ROOT : (uint32_t)(i - 1), (uint8_t)i, 180 + i, 140 + i);
        assert_int_equal(mv_record_add_block(r, &b), MV_OK);
    }
}

static void assert_records_equal(const mv_record *a, const mv_record *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_true(a->created == b->created);
    assert_int_equal(a->name_len, b->name_len);
    if (a->name_len)
        assert_memory_equal(a->name, b->name, a->name_len);
    assert_int_equal(a->skeleton_len, b->skeleton_len);
    if (a->skeleton_len)
        assert_memory_equal(a->skeleton, b->skeleton, a->skeleton_len);
    assert_int_equal(a->n_blocks, b->n_blocks);
    for (size_t i = 0; i < a->n_blocks; i++) {
        assert_memory_equal(a->blocks[i].tag, b->blocks[i].tag, 32);
        assert_memory_equal(a->blocks[i].key, b->blocks[i].key, 32);
        assert_true(a->blocks[i].slot == b->blocks[i].slot);
        assert_true(a->blocks[i].plain_len == b->blocks[i].plain_len);
        assert_true(a->blocks[i].cipher_len == b->blocks[i].cipher_len);
    }
}

/* encode -> decode -> compare -> encode again gives the same bytes. */
static void roundtrip(const mv_record *r)
{
    mv_buf e1, e2;
    mv_record d;
    mv_buf_init(&e1, 1u << 26);
    mv_buf_init(&e2, 1u << 26);
    mv_record_init(&d);
    assert_int_equal(mv_record_encode(r, &e1), MV_OK);
    assert_int_equal(mv_record_decode(e1.ptr, e1.len, &d), MV_OK);
    assert_records_equal(r, &d);
    assert_int_equal(mv_record_encode(&d, &e2), MV_OK);
    assert_int_equal(e1.len, e2.len);
    assert_memory_equal(e1.ptr, e2.ptr, e1.len);
    mv_record_clear(&d);
    mv_buf_clear(&e1);
    mv_buf_clear(&e2);
}

static void test_record_roundtrip(void **state)
{
    (void)state;
    mv_record r;
    mv_record_init(&r);
    roundtrip(&r); /* empty FHIR record */

    fhir_record(&r, 5);
    roundtrip(&r);
    mv_record_clear(&r);
    assert_null(r.blocks);
    assert_null(r.skeleton);
    assert_int_equal(r.n_blocks, 0);

    /* Varint edges. */
    static const uint64_t edges[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    static const uint32_t slots[] = {0, 1, 127, 128, UINT32_MAX - 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        mv_record_init(&r);
        r.created = edges[i];
        for (size_t j = 0; j < sizeof slots / sizeof slots[0]; j++) {
            mv_block_ref b = block(slots[j], (uint8_t)j, edges[i], edges[i] < 16 ? 16 : edges[i]);
            assert_int_equal(mv_record_add_block(&r, &b), MV_OK);
        }
        roundtrip(&r);
        mv_record_clear(&r);
    }

    /* An attachment: a name, no skeleton, slots 0..n-1; crossing several array growths. */
    mv_record_init(&r);
    r.kind = MV_RECORD_ATTACHMENT;
    assert_int_equal(mv_record_set_name(&r, (const uint8_t *)"scan 2024-03-14.dcm", 19), MV_OK);
    for (uint32_t i = 0; i < 1000; i++) {
        mv_block_ref b = block(i, (uint8_t)i, 1u << 20, (1u << 20) + 16);
        assert_int_equal(mv_record_add_block(&r, &b), MV_OK);
    }
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(r.blocks[i].slot, i);
    roundtrip(&r);
    mv_record_clear(&r);
}

/* The format of mv_record.h, written out by hand. */
static void test_record_pinned(void **state)
{
    (void)state;
    mv_record r;
    mv_buf e;
    mv_record_init(&r);
    mv_buf_init(&e, 4096);
    r.created = 300; /* LEB128: ac 02 */
    assert_int_equal(mv_record_set_skeleton(&r, (const uint8_t *)"{}", 2), MV_OK);
    mv_block_ref b;
    memset(b.tag, 0x11, 32);
    memset(b.key, 0x22, 32);
    b.slot = MV_RECORD_SLOT_ROOT; /* stored as slot + 1 = 0 */
    b.plain_len = 5;
    b.cipher_len = 200; /* c8 01 */
    assert_int_equal(mv_record_add_block(&r, &b), MV_OK);
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    uint8_t want[4 + 1 + 1 + 2 + 1 + 1 + 2 + 1 + 64 + 1 + 1 + 2];
    size_t k = 0;
    memcpy(want, "MVR2", 4);
    k = 4;
    want[k++] = 2;    /* version */
    want[k++] = 1;    /* kind FHIR */
    want[k++] = 0xac; /* created */
    want[k++] = 0x02;
    want[k++] = 0; /* name_len */
    want[k++] = 2; /* packed_len: "{}" packs as itself */
    want[k++] = '{';
    want[k++] = '}';
    want[k++] = 1; /* n_blocks */
    memset(want + k, 0x11, 32);
    memset(want + k + 32, 0x22, 32);
    k += 64;
    want[k++] = 0; /* slot' */
    want[k++] = 5;
    want[k++] = 0xc8;
    want[k++] = 0x01;
    assert_int_equal(k, sizeof want);
    assert_int_equal(e.len, sizeof want);
    assert_memory_equal(e.ptr, want, sizeof want);
    /* The same record as MVR1 (version 1, the skeleton as it is), as records were encoded
     * before issue 12, still decodes to it, and encodes again as MVR2. */
    mv_record d;
    mv_record_init(&d);
    memcpy(want, "MVR1\x01", 5);
    assert_int_equal(mv_record_decode(want, sizeof want, &d), MV_OK);
    assert_records_equal(&r, &d);
    mv_buf_reset(&e);
    assert_int_equal(mv_record_encode(&d, &e), MV_OK);
    assert_memory_equal(e.ptr, "MVR2\x02", 5);
    /* MVR1 with version 2, MVR2 with version 1: neither exists. */
    memcpy(want, "MVR1\x02", 5);
    assert_int_equal(mv_record_decode(want, sizeof want, &d), MV_ERR_PARSE);
    memcpy(want, "MVR2\x01", 5);
    assert_int_equal(mv_record_decode(want, sizeof want, &d), MV_ERR_PARSE);
    mv_record_clear(&d);
    mv_record_clear(&r);
    mv_buf_clear(&e);
}

/* A packed skeleton (src/record/skel.h, docs/records.md "Packed skeletons"), byte by byte:
 * a UUID, a date, date-times with Z, a fraction and an offset, and a control byte (not JSON,
 * but a skeleton is any byte string). The values are synthetic. */
static void test_record_pinned_packed(void **state)
{
    (void)state;
    static const char skel[] = "{\"a\":\"2e61963a-6933-4a58-bb0b-b5bc90b2dd66\",\"b\":\"2025-02-08\","
                               "\"c\":\"2025-02-08T11:45:12Z\",\"d\":\"2025-02-08T11:55:47.255Z\","
                               "\"e\":\"2020-07-31T12:51:27-07:00\",\"f\":\"x\ty\"}";
    /* 2025-02-08 is day 739289 since 0001-01-01 (0x0b47d9); 11:45:12 adds 42312 s:
     * 739289 * 86400 + 42312 = 63874611912 = 0x0edf393ac8; 11:55:47 adds 42947 s (0x0edf393d43).
     * 2020-07-31 is day 737636, + 46287 s = 63731796687 = 0x0ed6b60acf; -07:00 = 0x80 | 28. */
    static const uint8_t want[] = {
        '{', '"', 'a', '"', ':', '"', 0x01, 0x2e, 0x61, 0x96, 0x3a, 0x69, 0x33, 0x4a, 0x58, 0xbb, 0x0b, 0xb5, 0xbc,
        0x90, 0xb2, 0xdd, 0x66, '"', ',', '"', 'b', '"', ':', '"', 0x02, 0x0b, 0x47, 0xd9, '"', ',', '"', 'c', '"',
        ':', '"', 0x03, 0x0e, 0xdf, 0x39, 0x3a, 0xc8, '"', ',', '"', 'd', '"', ':', '"', 0x04, 0x0e, 0xdf, 0x39,
        0x3d, 0x43, 3, 0x00, 0xff, '"', ',', '"', 'e', '"', ':', '"', 0x05, 0x0e, 0xd6, 0xb6, 0x0a, 0xcf, 0x9c,
        '"', ',', '"', 'f', '"', ':', '"', 'x', 0x1f, 0x09, 'y', '"', '}'};
    mv_record r, d;
    mv_buf e;
    mv_record_init(&r);
    mv_record_init(&d);
    mv_buf_init(&e, 4096);
    assert_int_equal(mv_record_set_skeleton(&r, (const uint8_t *)skel, sizeof skel - 1), MV_OK);
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    /* "MVR2" 02 01, created 0, name 0, packed_len (one byte), packed, n_blocks 0. */
    assert_int_equal(e.len, 6 + 1 + 1 + 1 + sizeof want + 1);
    assert_memory_equal(e.ptr, "MVR2\x02\x01\x00\x00", 8);
    assert_int_equal(e.ptr[8], sizeof want);
    assert_memory_equal(e.ptr + 9, want, sizeof want);
    assert_int_equal(e.ptr[9 + sizeof want], 0);
    assert_int_equal(mv_record_decode(e.ptr, e.len, &d), MV_OK);
    assert_int_equal(d.skeleton_len, sizeof skel - 1);
    assert_memory_equal(d.skeleton, skel, d.skeleton_len);
    mv_record_clear(&d);
    mv_record_clear(&r);
    mv_buf_clear(&e);
}

/* MVR2 packs the name as it packs the skeleton: the UUID of a per-resource export's file name
 * takes 17 bytes, and the name reads back unchanged; a malformed packed name is PARSE. */
static void test_record_packed_name(void **state)
{
    (void)state;
    static const char name[] = "MedicationRequest-2e61963a-6933-4a58-bb0b-b5bc90b2dd66.json";
    static const uint8_t uuid[16] = {0x2e, 0x61, 0x96, 0x3a, 0x69, 0x33, 0x4a, 0x58,
                                     0xbb, 0x0b, 0xb5, 0xbc, 0x90, 0xb2, 0xdd, 0x66};
    mv_record r, d;
    mv_buf e;
    mv_record_init(&r);
    mv_record_init(&d);
    mv_buf_init(&e, 4096);
    assert_int_equal(mv_record_set_name(&r, (const uint8_t *)name, sizeof name - 1), MV_OK);
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    /* "MVR2" 02 01, created 0, packed name: 18 + 17 + 5 bytes, skeleton 0, n_blocks 0. */
    assert_int_equal(e.len, 6 + 1 + 1 + 40 + 1 + 1);
    assert_memory_equal(e.ptr, "MVR2\x02\x01\x00", 7);
    assert_int_equal(e.ptr[7], 40);
    assert_memory_equal(e.ptr + 8, "MedicationRequest-", 18);
    assert_int_equal(e.ptr[26], 0x01);
    assert_memory_equal(e.ptr + 27, uuid, 16);
    assert_memory_equal(e.ptr + 43, ".json", 5);
    assert_int_equal(mv_record_decode(e.ptr, e.len, &d), MV_OK);
    assert_int_equal(d.name_len, sizeof name - 1);
    assert_memory_equal(d.name, name, d.name_len);
    mv_record_clear(&d);
    /* A name escape cut short is refused. */
    e.ptr[7] = 30;
    memmove(e.ptr + 38, e.ptr + 48, e.len - 48);
    assert_int_equal(mv_record_decode(e.ptr, e.len - 10, &d), MV_ERR_PARSE);
    assert_null(d.name);
    mv_record_clear(&r);
    mv_buf_clear(&e);
}

/* Decodes "MVR2" 02 01 | 0 | 0 | len | packed | 0 (a FHIR record with only a skeleton) and,
 * on success, checks the skeleton is text and compares it with want (NULL: no comparison). */
static mv_err decode_packed(const uint8_t *packed, size_t n, const char *want)
{
    uint8_t buf[512];
    mv_record d;
    assert_true(n < 128);
    memcpy(buf, "MVR2\x02\x01\x00\x00", 8);
    buf[8] = (uint8_t)n;
    memcpy(buf + 9, packed, n);
    buf[9 + n] = 0;
    mv_record_init(&d);
    mv_err rc = mv_record_decode(buf, 10 + n, &d);
    if (rc == MV_OK && want) {
        assert_int_equal(d.skeleton_len, strlen(want));
        assert_memory_equal(d.skeleton, want, d.skeleton_len);
    }
    if (rc != MV_OK)
        assert_null(d.skeleton);
    mv_record_clear(&d);
    return rc;
}

/* Strict decoding of packed skeletons: a malformed escape is MV_ERR_PARSE, never a crash, and
 * a packing mv_record_encode would not write is refused too (one packing per skeleton). */
static void test_record_packed_strict(void **state)
{
    (void)state;
    /* The shapes that decode, as a baseline. */
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x0b\x47\xd9", 4, "2025-02-08"), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x00\x00\x00", 4, "0001-01-01"), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x37\xb9\xda", 4, "9999-12-31"), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x1f\x00", 2, NULL), MV_OK);
    /* Truncated escapes: each one cut short at every length. */
    static const struct {
        const char *p;
        size_t n;
    } full[] = {
        {"\x01\x2e\x61\x96\x3a\x69\x33\x4a\x58\xbb\x0b\xb5\xbc\x90\xb2\xdd\x66", 17},
        {"\x02\x0b\x47\xd9", 4},
        {"\x03\x0e\xdf\x39\x3a\xc8", 6},
        {"\x04\x0e\xdf\x39\x3d\x43\x03\x00\xff", 9},
        {"\x05\x0e\xd6\xb6\x0a\xcf\x9c", 7},
        {"\x06\x0e\xd6\xb6\x0a\xcf\x09\x3b\x9a\xc9\xff\x9c", 12},
        {"\x1f\x09", 2},
    };
    for (size_t i = 0; i < sizeof full / sizeof *full; i++) {
        assert_int_equal(decode_packed((const uint8_t *)full[i].p, full[i].n, NULL), MV_OK);
        for (size_t n = 1; n < full[i].n; n++)
            assert_int_equal(decode_packed((const uint8_t *)full[i].p, n, NULL), MV_ERR_PARSE);
    }
    /* Values out of range: day 3652059 (10000-01-01), seconds past 9999-12-31T23:59:59, a
     * fraction of 0 or 10 digits or of 10^n, a zone beyond 23:45. */
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x37\xb9\xdb", 4, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x02\xff\xff\xff", 4, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x03\x49\x77\x86\x38\x80", 6, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x03\x49\x77\x86\x38\x7f", 6, "9999-12-31T23:59:59Z"),
                     MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x04\x00\x00\x00\x00\x00\x00\x00", 8, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x04\x00\x00\x00\x00\x00\x0a\x00\x00\x00\x00", 11, NULL),
                     MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x04\x00\x00\x00\x00\x00\x03\x03\xe7", 9,
                                   "0001-01-01T00:00:00.999Z"),
                     MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x04\x00\x00\x00\x00\x00\x03\x03\xe8", 9, NULL),
                     MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x05\x00\x00\x00\x00\x00\xdf", 7, "0001-01-01T00:00:00-23:45"),
                     MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x05\x00\x00\x00\x00\x00\x60", 7, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x05\x00\x00\x00\x00\x00\xff", 7, NULL), MV_ERR_PARSE);
    /* Bytes below 0x20 that are no escape; a literal escape of a byte that needs none. */
    for (unsigned c = 0; c < 0x20; c++) {
        uint8_t p[2] = {(uint8_t)c, 'a'};
        if (c >= 0x01 && c <= 0x06)
            continue;
        if (c != 0x1f)
            assert_int_equal(decode_packed(p, 2, NULL), MV_ERR_PARSE);
    }
    assert_int_equal(decode_packed((const uint8_t *)"\x1f\x20", 2, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x1f\x1f", 2, NULL), MV_OK);
    /* Other packings of a text: a UUID or date left as text, a date escaped where the
     * date-time continues, a fraction's digits split off. */
    assert_int_equal(decode_packed((const uint8_t *)"2e61963a-6933-4a58-bb0b-b5bc90b2dd66", 36, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"2e61963A-6933-4a58-bb0b-b5bc90b2dd66", 36, NULL), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"2025-02-08", 10, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"2025-02-30", 10, "2025-02-30"), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x0b\x47\xd9T11:45:12Z", 14, NULL), MV_ERR_PARSE);
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x0b\x47\xd9T11:45:12", 13, "2025-02-08T11:45:12"), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x03\x0e\xdf\x39\x3a\xc8", 6, "2025-02-08T11:45:12Z"), MV_OK);
    assert_int_equal(decode_packed((const uint8_t *)"\x04\x0e\xdf\x39\x3a\xc8\x01\x05", 8, "2025-02-08T11:45:12.5Z"),
                     MV_OK);
    /* "2025-02-08T11:45:12.5Z" with the 5 as text after a date-time: not ours. */
    assert_int_equal(decode_packed((const uint8_t *)"\x02\x0b\x47\xd9T11:45:12.5Z", 16, NULL), MV_ERR_PARSE);
    /* An escape next to text that extends it: a UUID escape followed by hex stays two parts;
     * one preceded by hex is fine too (matching starts at the first possible byte). */
    static const uint8_t u[] = {0x01, 0x2e, 0x61, 0x96, 0x3a, 0x69, 0x33, 0x4a, 0x58, 0xbb, 0x0b, 0xb5, 0xbc, 0x90,
                                0xb2, 0xdd, 0x66, 'a'};
    assert_int_equal(decode_packed(u, sizeof u, "2e61963a-6933-4a58-bb0b-b5bc90b2dd66a"), MV_OK);
}

/* decode(encode(x)) == x for skeletons made of random bytes and of the escapable shapes
 * mixed with near-misses (each field out of range, uppercase, cut short, joined to its
 * neighbours), and the encoding is the one packing decode accepts. */
static void test_record_skeleton_property(void **state)
{
    (void)state;
    static const char *const parts[] = {
        "2e61963a-6933-4a58-bb0b-b5bc90b2dd66", "2E61963A-6933-4A58-BB0B-B5BC90B2DD66", "2e61963a-6933-4a58-bb0b",
        "2e61963a6933-4a58-bb0b-b5bc90b2dd66", "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff", "2025-02-08", "2024-02-29", "2023-02-29", "2025-13-01", "2025-00-10",
        "0000-01-01", "0001-01-01", "9999-12-31", "2025-02-08T11:45:12Z", "2025-02-08T24:00:00Z",
        "2025-02-08T23:60:00Z", "2016-12-31T23:59:60Z", "2025-02-08T11:45:12", "2025-02-08T11:45:12.Z",
        "2025-02-08T11:45:12.1Z", "2025-02-08T11:45:12.123456789Z", "2025-02-08T11:45:12.1234567890Z",
        "2025-02-08T11:45:12.000Z", "2025-02-08T11:45:12+05:45", "2025-02-08T11:45:12+05:30", "2025-02-08T11:45:12-00:00",
        "2025-02-08T11:45:12+14:00", "2025-02-08T11:45:12+24:00", "2025-02-08T11:45:12+05:40", "2025-02-08T11:45:12+0530",
        "2025-02-08T11:45:12.25-07:00", "2025-02-08t11:45:12Z", "2025-2-8", "20250208", "\x00", "\x01", "\x06", "\x1f",
        "\x7f", "\xc3\xa9", "\xff", "\"", ":", "-", "T", "Z", "+", ".", "0", "9", "a", "f", "g", "{\"id\":\"", "\"}",
        "urn:uuid:", "Patient/"};
    uint64_t x = 0x243f6a8885a308d3ull;
    mv_buf skel, e, e2;
    mv_record r, d;
    mv_buf_init(&skel, 1u << 16);
    mv_buf_init(&e, 1u << 18);
    mv_buf_init(&e2, 1u << 18);
    for (int t = 0; t < 6000; t++) {
        mv_buf_reset(&skel);
        size_t n = (size_t)(t % 40);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (t % 3 == 0) { /* random bytes, weighted towards digits, hex and separators */
                static const char alpha[] = "0123456789abcdef-:TZ+.\"";
                uint8_t c = (x >> 8) & 1 ? (uint8_t)alpha[(x >> 16) % (sizeof alpha - 1)] : (uint8_t)(x >> 24);
                assert_int_equal(mv_buf_append(&skel, &c, 1), MV_OK);
            } else {
                const char *p = parts[(x >> 8) % (sizeof parts / sizeof *parts)];
                size_t l = strlen(p);
                if (!l) /* "\x00" */
                    l = 1;
                if ((x >> 40) % 5 == 0) /* cut short */
                    l = (size_t)((x >> 44) % (l + 1));
                assert_int_equal(mv_buf_append(&skel, p, l), MV_OK);
            }
        }
        mv_record_init(&r);
        mv_record_init(&d);
        assert_int_equal(mv_record_set_skeleton(&r, skel.ptr, skel.len), MV_OK);
        mv_buf_reset(&e);
        mv_buf_reset(&e2);
        assert_int_equal(mv_record_encode(&r, &e), MV_OK);
        assert_int_equal(mv_record_decode(e.ptr, e.len, &d), MV_OK);
        assert_int_equal(d.skeleton_len, skel.len);
        if (skel.len)
            assert_memory_equal(d.skeleton, skel.ptr, skel.len);
        assert_int_equal(mv_record_encode(&d, &e2), MV_OK);
        assert_int_equal(e.len, e2.len);
        assert_memory_equal(e.ptr, e2.ptr, e.len);
        /* Never more than twice the text, plus the header. */
        assert_true(e.len <= 6 + 1 + 1 + 3 + 2 * skel.len + 1);
        mv_record_clear(&r);
        mv_record_clear(&d);
    }
    mv_buf_clear(&skel);
    mv_buf_clear(&e);
    mv_buf_clear(&e2);
}

static mv_err decode_bytes(const uint8_t *p, size_t n)
{
    mv_record d;
    mv_record_init(&d);
    mv_err rc = mv_record_decode(p, n, &d);
    if (rc != MV_OK) {
        assert_int_equal(d.n_blocks, 0);
        assert_null(d.blocks);
        assert_null(d.skeleton);
        assert_null(d.name);
    }
    mv_record_clear(&d);
    return rc;
}

/* Builds "MVR1" 01 kind, then the given tail. */
static size_t craft(uint8_t *buf, uint8_t kind, const uint8_t *tail, size_t tail_len)
{
    memcpy(buf, "MVR1\x01", 5);
    buf[5] = kind;
    memcpy(buf + 6, tail, tail_len);
    return 6 + tail_len;
}

static void test_record_decode_strict(void **state)
{
    (void)state;
    mv_record r;
    mv_buf e;
    uint8_t buf[256];
    size_t n;
    mv_buf_init(&e, 1u << 20);
    fhir_record(&r, 3);
    r.created = 1u << 20;
    assert_int_equal(mv_record_set_name(&r, (const uint8_t *)"n", 1), MV_OK);
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    assert_int_equal(decode_bytes(e.ptr, e.len), MV_OK);

    /* Every truncation, and one trailing byte. */
    for (size_t len = 0; len < e.len; len++)
        assert_int_equal(decode_bytes(e.ptr, len), MV_ERR_PARSE);
    uint8_t *longer = mv_malloc(e.len + 1);
    assert_non_null(longer);
    memcpy(longer, e.ptr, e.len);
    longer[e.len] = 0;
    assert_int_equal(decode_bytes(longer, e.len + 1), MV_ERR_PARSE);
    /* Magic, version, kind. */
    for (size_t i = 0; i < 6; i++) {
        uint8_t save = longer[i];
        longer[i] = i == 5 ? 3 : (uint8_t)(save ^ 0x20);
        assert_int_equal(decode_bytes(longer, e.len), MV_ERR_PARSE);
        longer[i] = 0;
        assert_int_equal(decode_bytes(longer, e.len), MV_ERR_PARSE);
        longer[i] = save;
    }
    mv_free(longer);

    /* Minimal empty record: created 0, no name, no skeleton, no blocks. */
    n = craft(buf, 1, (const uint8_t *)"\x00\x00\x00\x00", 4);
    assert_int_equal(decode_bytes(buf, n), MV_OK);
    n = craft(buf, 2, (const uint8_t *)"\x00\x00\x00\x00", 4);
    assert_int_equal(decode_bytes(buf, n), MV_OK);
    /* Non-minimal varints: 0 as 80 00; 1 as 81 00. */
    n = craft(buf, 1, (const uint8_t *)"\x80\x00\x00\x00\x00", 5);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    n = craft(buf, 1, (const uint8_t *)"\x00\x81\x00\x61\x00\x00", 6);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    /* UINT64_MAX (ff x9, 01) is fine; 10th byte 02 overflows; 11 bytes is too long. */
    n = craft(buf, 1, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00", 13);
    assert_int_equal(decode_bytes(buf, n), MV_OK);
    n = craft(buf, 1, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00", 13);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    n = craft(buf, 1, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00\x00\x00\x00", 14);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    /* Caps: name 4097 (81 20), skeleton 16 MiB + 1 (81 80 80 08), blocks 1,000,001 (c1 84 3d). */
    n = craft(buf, 1, (const uint8_t *)"\x00\x81\x20", 3);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_TOO_LARGE);
    n = craft(buf, 1, (const uint8_t *)"\x00\x00\x81\x80\x80\x08", 6);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_TOO_LARGE);
    n = craft(buf, 1, (const uint8_t *)"\x00\x00\x00\xc1\x84\x3d", 6);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_TOO_LARGE);
    /* Within the caps but longer than the input: refused before any allocation. */
    mv_mem_fail_after(0);
    n = craft(buf, 1, (const uint8_t *)"\x00\x80\x20", 3); /* name 4096 */
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    n = craft(buf, 1, (const uint8_t *)"\x00\x00\x80\x80\x80\x08", 6); /* skeleton 16 MiB */
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    n = craft(buf, 1, (const uint8_t *)"\x00\x00\x00\xc0\x84\x3d", 6); /* 1,000,000 blocks */
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    mv_mem_fail_after(SIZE_MAX);

    /* Structural rules: an attachment with a skeleton; attachment slots out of order; a
     * cipher_len below 16; slot' beyond 32 bits. */
    n = craft(buf, 2, (const uint8_t *)"\x00\x00\x02{}\x00", 6);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    n = craft(buf, 1, (const uint8_t *)"\x00\x00\x02{}\x00", 6);
    assert_int_equal(decode_bytes(buf, n), MV_OK);
    uint8_t tail[80];
    memcpy(tail, "\x00\x00\x00\x01", 4);
    memset(tail + 4, 0x33, 64);
    memcpy(tail + 68, "\x01\x05\x10", 3); /* slot' 1 = slot 0, plain 5, cipher 16 */
    n = craft(buf, 2, tail, 71);
    assert_int_equal(decode_bytes(buf, n), MV_OK);
    tail[68] = 2; /* slot 1 for the first chunk */
    n = craft(buf, 2, tail, 71);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    n = craft(buf, 1, tail, 71); /* fine for FHIR */
    assert_int_equal(decode_bytes(buf, n), MV_OK);
    tail[70] = 15;
    n = craft(buf, 1, tail, 71);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    tail[70] = 16;
    memcpy(tail + 68, "\x80\x80\x80\x80\x10\x05\x10", 7); /* slot' = 2^32 */
    n = craft(buf, 1, tail, 75);
    assert_int_equal(decode_bytes(buf, n), MV_ERR_PARSE);
    memcpy(tail + 68, "\xff\xff\xff\xff\x0f\x05\x10", 7); /* slot' = 2^32 - 1 */
    n = craft(buf, 1, tail, 75);
    assert_int_equal(decode_bytes(buf, n), MV_OK);

    /* Garbage: never a crash, only the documented codes. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int t = 0; t < 2000; t++) {
        size_t len = (size_t)(t % 200);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        if (t % 2)
            memcpy(buf, "MVR1\x01\x01", len < 6 ? len : 6);
        mv_err rc = decode_bytes(buf, len);
        assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE || rc == MV_OK);
    }
    assert_int_equal(mv_record_decode(NULL, 1, &r), MV_ERR_INVAL);
    assert_int_equal(mv_record_decode(buf, 1, NULL), MV_ERR_INVAL);
    mv_record_clear(&r);
    mv_buf_clear(&e);
}

static void test_record_setters_and_encode_errors(void **state)
{
    (void)state;
    mv_record r;
    mv_buf e;
    static uint8_t big[MV_RECORD_NAME_MAX + 1];
    mv_record_init(&r);
    mv_buf_init(&e, 1u << 20);
    assert_int_equal(mv_record_set_name(&r, big, sizeof big), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_record_set_name(&r, big, MV_RECORD_NAME_MAX), MV_OK);
    assert_int_equal(r.name_len, MV_RECORD_NAME_MAX);
    assert_int_equal(mv_record_set_name(&r, NULL, 1), MV_ERR_INVAL);
    assert_int_equal(r.name_len, MV_RECORD_NAME_MAX); /* unchanged on error */
    assert_int_equal(mv_record_set_name(&r, NULL, 0), MV_OK);
    assert_null(r.name);
    assert_int_equal(mv_record_set_skeleton(&r, big, MV_RECORD_SKELETON_MAX + 1), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_record_set_name(NULL, big, 1), MV_ERR_INVAL);
    assert_int_equal(mv_record_add_block(&r, NULL), MV_ERR_INVAL);

    /* Encode refuses what decode would refuse. */
    mv_block_ref b = block(0, 1, 10, 15);
    assert_int_equal(mv_record_add_block(&r, &b), MV_OK);
    assert_int_equal(mv_record_encode(&r, &e), MV_ERR_INVAL); /* cipher_len < 16 */
    r.blocks[0].cipher_len = 16;
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    mv_buf_reset(&e);
    r.kind = MV_RECORD_ATTACHMENT;
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    mv_buf_reset(&e);
    r.blocks[0].slot = 1;
    assert_int_equal(mv_record_encode(&r, &e), MV_ERR_INVAL);
    r.blocks[0].slot = 0;
    assert_int_equal(mv_record_set_skeleton(&r, (const uint8_t *)"{}", 2), MV_OK);
    assert_int_equal(mv_record_encode(&r, &e), MV_ERR_INVAL);
    r.kind = (mv_record_kind)7;
    assert_int_equal(mv_record_encode(&r, &e), MV_ERR_INVAL);
    r.kind = MV_RECORD_FHIR;
    assert_int_equal(e.len, 0);

    /* out->max: nothing is left behind. */
    mv_buf small;
    mv_buf_init(&small, 50);
    assert_int_equal(mv_buf_append(&small, "abc", 3), MV_OK);
    assert_int_equal(mv_record_encode(&r, &small), MV_ERR_TOO_LARGE);
    assert_int_equal(small.len, 3);
    assert_memory_equal(small.ptr, "abc", 4); /* including the NUL */
    mv_buf_clear(&small);
    mv_record_clear(&r);
    mv_buf_clear(&e);
}

static void test_record_alloc_failures(void **state)
{
    (void)state;
    mv_record r, d;
    mv_buf e;
    fhir_record(&r, 9);
    assert_int_equal(mv_record_set_name(&r, (const uint8_t *)"x", 1), MV_OK);
    mv_buf_init(&e, 1u << 20);
    assert_int_equal(mv_record_encode(&r, &e), MV_OK);
    mv_record_init(&d);
    int ok = 0;
    for (size_t n = 0; n < 20 && !ok; n++) {
        mv_mem_fail_after(n);
        mv_err rc = mv_record_decode(e.ptr, e.len, &d);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_records_equal(&r, &d);
            ok = 1;
        } else {
            assert_int_equal(rc, MV_ERR_NOMEM);
            assert_int_equal(d.n_blocks, 0);
            assert_null(d.blocks);
        }
    }
    assert_true(ok);
    /* add_block: a failed growth leaves the record as it was. */
    mv_block_ref b = block(9, 9, 1, 17);
    assert_int_equal(mv_record_add_block(&d, &b), MV_OK); /* 10th: fits the 16-entry array */
    for (size_t i = 10; i < 16; i++)
        assert_int_equal(mv_record_add_block(&d, &b), MV_OK);
    mv_mem_fail_after(0);
    assert_int_equal(mv_record_add_block(&d, &b), MV_ERR_NOMEM);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(d.n_blocks, 16);
    assert_memory_equal(d.blocks[3].key, r.blocks[3].key, 32);
    assert_int_equal(mv_record_add_block(&d, &b), MV_OK);
    assert_int_equal(d.n_blocks, 17);
    mv_record_clear(&d);
    mv_record_clear(&r);
    mv_buf_clear(&e);
}

/* ---- envelopes ---- */

typedef struct party {
    uint8_t pk[32], sk[32];
} party;

static void keys(party *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mv_box_keypair(p[i].pk, p[i].sk), MV_OK);
}

/* The public keys of readers[0..n) (n <= 8) side by side, as seal calls take them. */
static const uint8_t *pks_of(const party *readers, size_t n, uint8_t pks[8 * 32])
{
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        memcpy(pks + 32 * i, readers[i].pk, 32);
    return pks;
}

static mv_buf seal_for(const mv_record *r, const party *readers, size_t n)
{
    uint8_t pks[8 * 32];
    mv_buf env;
    mv_buf_init(&env, 1u << 26);
    assert_int_equal(mv_envelope_seal(rec_id, r, pks_of(readers, n, pks), n, &env), MV_OK);
    return env;
}

/* What every open promises, checked on d (then cleared): on success the record (equal to
 * expect when given), on failure an empty record. Returns rc. */
static mv_err check_opened(mv_err rc, mv_record *d, const mv_record *expect)
{
    if (rc == MV_OK && expect)
        assert_records_equal(expect, d);
    if (rc != MV_OK)
        assert_int_equal(d->n_blocks, 0);
    mv_record_clear(d);
    return rc;
}

static mv_err open_as(const uint8_t *env, size_t len, const party *p, const mv_record *expect)
{
    mv_record d;
    mv_record_init(&d);
    return check_opened(mv_envelope_open(rec_id, env, len, p->pk, p->sk, &d), &d, expect);
}

static void test_envelope_roundtrip(void **state)
{
    (void)state;
    party p[4];
    keys(p, 4);
    mv_record r;
    fhir_record(&r, 4);
    mv_buf env = seal_for(&r, p, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(open_as(env.ptr, env.len, &p[i], &r), MV_OK);
    assert_int_equal(open_as(env.ptr, env.len, &p[3], NULL), MV_ERR_FORBIDDEN);
    /* The right public key with the wrong secret key. */
    party mixed = p[0];
    memcpy(mixed.sk, p[1].sk, 32);
    assert_int_equal(open_as(env.ptr, env.len, &mixed, NULL), MV_ERR_VERIFY);
    /* Another record id. */
    mv_record d;
    mv_record_init(&d);
    uint8_t other[16];
    memcpy(other, rec_id, 16);
    other[15] ^= 1;
    assert_int_equal(mv_envelope_open(other, env.ptr, env.len, p[0].pk, p[0].sk, &d), MV_ERR_VERIFY);

    /* Readers, in order; a too-small array is refused with the count. */
    uint8_t pks[4 * 32];
    size_t n = 0;
    assert_int_equal(mv_envelope_readers(env.ptr, env.len, NULL, 0, &n), MV_ERR_TOO_LARGE);
    assert_int_equal(n, 3);
    assert_int_equal(mv_envelope_readers(env.ptr, env.len, pks, 2, &n), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_envelope_readers(env.ptr, env.len, pks, 4, &n), MV_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(pks + 32 * i, p[i].pk, 32);

    /* Sealing twice gives different envelopes (random R and nonce) that open the same. */
    mv_buf env2 = seal_for(&r, p, 3);
    assert_int_equal(env.len, env2.len);
    assert_memory_not_equal(env.ptr, env2.ptr, env.len);
    assert_int_equal(open_as(env2.ptr, env2.len, &p[2], &r), MV_OK);
    mv_buf_clear(&env2);

    /* Duplicates collapse. */
    party dup[4] = {p[1], p[0], p[1], p[1]};
    env2 = seal_for(&r, dup, 4);
    assert_int_equal(mv_envelope_readers(env2.ptr, env2.len, pks, 4, &n), MV_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(pks, p[1].pk, 32);
    assert_memory_equal(pks + 32, p[0].pk, 32);
    assert_int_equal(env2.len, env.len - MV_ENVELOPE_ENTRY_BYTES);
    assert_int_equal(open_as(env2.ptr, env2.len, &p[0], &r), MV_OK);
    mv_buf_clear(&env2);

    /* An attachment of 1000 chunks. */
    mv_record a;
    mv_record_init(&a);
    a.kind = MV_RECORD_ATTACHMENT;
    a.created = 42;
    assert_int_equal(mv_record_set_name(&a, (const uint8_t *)"ct-thorax.dcm", 13), MV_OK);
    for (uint32_t i = 0; i < 1000; i++) {
        mv_block_ref b = block(i, (uint8_t)i, 1u << 20, 900000 + i);
        assert_int_equal(mv_record_add_block(&a, &b), MV_OK);
    }
    env2 = seal_for(&a, p + 2, 2);
    assert_int_equal(open_as(env2.ptr, env2.len, &p[3], &a), MV_OK);
    mv_buf_clear(&env2);
    mv_record_clear(&a);
    mv_record_clear(&d);
    mv_record_clear(&r);
    mv_buf_clear(&env);
}

/* Flipping any single byte makes the envelope fail to open, except a byte in another
 * reader's entry (which this reader does not use); that reader then fails instead. */
static void test_envelope_flips(void **state)
{
    (void)state;
    party p[3];
    keys(p, 3);
    mv_record r;
    fhir_record(&r, 1);
    mv_buf env = seal_for(&r, p, 3);
    const size_t e0 = 5, es = MV_ENVELOPE_ENTRY_BYTES;
    size_t failed = 0, others = 0;
    for (size_t i = 0; i < env.len; i++) {
        env.ptr[i] ^= 0x01;
        mv_err rc = open_as(env.ptr, env.len, &p[0], &r);
        if (i >= e0 + es && i < e0 + 3 * es) {
            /* Entry of reader 1 or 2: reader 0 is unaffected, the owner is not. */
            assert_int_equal(rc, MV_OK);
            const party *owner = &p[(i - e0) / es];
            mv_err ro = open_as(env.ptr, env.len, owner, NULL);
            assert_true(ro == MV_ERR_FORBIDDEN || ro == MV_ERR_VERIFY || ro == MV_ERR_PARSE);
            others++;
        } else {
            if (i < 4)
                assert_int_equal(rc, MV_ERR_PARSE); /* magic */
            else if (i == 4) /* reader count: framing, or the body starts elsewhere */
                assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_VERIFY);
            else if (i < e0 + 32)
                assert_true(rc == MV_ERR_FORBIDDEN || rc == MV_ERR_PARSE); /* own pk */
            else
                assert_int_equal(rc, MV_ERR_VERIFY); /* own wrap, nonce, ciphertext, tag */
            failed++;
        }
        env.ptr[i] ^= 0x01;
    }
    assert_int_equal(others, 2 * es);
    assert_int_equal(failed + others, env.len);
    assert_int_equal(open_as(env.ptr, env.len, &p[0], &r), MV_OK);
    mv_record_clear(&r);
    mv_buf_clear(&env);
}

static void test_envelope_framing(void **state)
{
    (void)state;
    party p[2];
    keys(p, 2);
    mv_record r;
    fhir_record(&r, 1);
    mv_buf env = seal_for(&r, p, 2);
    const size_t head = 5 + 2 * MV_ENVELOPE_ENTRY_BYTES;
    size_t n;
    /* Every truncation: framing errors up to nonce + GCM tag, then GCM failures. */
    for (size_t len = 0; len < env.len; len++) {
        mv_err rc = open_as(env.ptr, len, &p[0], NULL);
        if (len < head + 12 + 16)
            assert_int_equal(rc, MV_ERR_PARSE);
        else
            assert_int_equal(rc, MV_ERR_VERIFY);
        if (len < head + 12 + 16)
            assert_int_equal(mv_envelope_readers(env.ptr, len, NULL, 0, &n), MV_ERR_PARSE);
    }
    /* Reader count 0 and 65. */
    uint8_t *copy = mv_malloc(env.len);
    assert_non_null(copy);
    memcpy(copy, env.ptr, env.len);
    copy[4] = 0;
    assert_int_equal(open_as(copy, env.len, &p[0], NULL), MV_ERR_PARSE);
    copy[4] = 65;
    assert_int_equal(mv_envelope_readers(copy, env.len, NULL, 0, &n), MV_ERR_PARSE);
    /* A duplicated reader entry. */
    copy[4] = 2;
    memcpy(copy + 5 + MV_ENVELOPE_ENTRY_BYTES, copy + 5, MV_ENVELOPE_ENTRY_BYTES);
    assert_int_equal(open_as(copy, env.len, &p[0], NULL), MV_ERR_PARSE);
    mv_free(copy);
    /* Trailing garbage is ciphertext to GCM. */
    mv_buf more;
    mv_buf_init(&more, 1u << 20);
    assert_int_equal(mv_buf_append(&more, env.ptr, env.len), MV_OK);
    assert_int_equal(mv_buf_append(&more, "x", 1), MV_OK);
    assert_int_equal(open_as(more.ptr, more.len, &p[0], NULL), MV_ERR_VERIFY);
    mv_buf_clear(&more);
    mv_record d;
    mv_record_init(&d);
    assert_int_equal(mv_envelope_open(rec_id, NULL, 10, p[0].pk, p[0].sk, &d), MV_ERR_INVAL);
    assert_int_equal(mv_envelope_open(rec_id, env.ptr, env.len, p[0].pk, p[0].sk, NULL), MV_ERR_INVAL);
    mv_record_clear(&r);
    mv_buf_clear(&env);
}

static void test_envelope_seal_errors(void **state)
{
    (void)state;
    party p[2];
    keys(p, 2);
    mv_record r;
    fhir_record(&r, 1);
    mv_buf out;
    mv_buf_init(&out, 1u << 20);
    assert_int_equal(mv_buf_append(&out, "keep", 4), MV_OK);
    assert_int_equal(mv_envelope_seal(rec_id, &r, p[0].pk, 0, &out), MV_ERR_INVAL);
    assert_int_equal(mv_envelope_seal(rec_id, &r, NULL, 1, &out), MV_ERR_INVAL);
    assert_int_equal(mv_envelope_seal(rec_id, NULL, p[0].pk, 1, &out), MV_ERR_INVAL);
    /* 65 distinct readers. */
    uint8_t *many = mv_malloc(65 * 32);
    assert_non_null(many);
    for (size_t i = 0; i < 65; i++) {
        uint8_t sk[32];
        assert_int_equal(mv_box_keypair(many + 32 * i, sk), MV_OK);
    }
    assert_int_equal(mv_envelope_seal(rec_id, &r, many, 65, &out), MV_ERR_TOO_LARGE);
    /* A low-order point (all zero) as a reader: libsodium refuses it; nothing is left. */
    uint8_t two[64];
    memcpy(two, p[0].pk, 32);
    memset(two + 32, 0, 32);
    assert_int_equal(mv_envelope_seal(rec_id, &r, two, 2, &out), MV_ERR_CRYPTO);
    /* An invalid record. */
    r.blocks[0].cipher_len = 3;
    assert_int_equal(mv_envelope_seal(rec_id, &r, p[0].pk, 1, &out), MV_ERR_INVAL);
    r.blocks[0].cipher_len = 300;
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.ptr, "keep", 5);
    /* Too small an output buffer. */
    mv_buf tiny;
    mv_buf_init(&tiny, 100);
    assert_int_equal(mv_envelope_seal(rec_id, &r, p[0].pk, 1, &tiny), MV_ERR_TOO_LARGE);
    assert_int_equal(tiny.len, 0);
    mv_buf_clear(&tiny);

    /* Exactly 64 readers work, and each can open; the 65th cannot be added. */
    mv_buf env;
    mv_buf_init(&env, 1u << 20);
    assert_int_equal(mv_envelope_seal(rec_id, &r, many, 64, &env), MV_OK);
    size_t n;
    assert_int_equal(mv_envelope_readers(env.ptr, env.len, NULL, 0, &n), MV_ERR_TOO_LARGE);
    assert_int_equal(n, 64);
    mv_buf_clear(&env);
    mv_free(many);
    mv_record_clear(&r);
    mv_buf_clear(&out);
}

static void test_envelope_add_remove(void **state)
{
    (void)state;
    party p[4];
    keys(p, 4);
    mv_record r;
    fhir_record(&r, 2);
    mv_buf env = seal_for(&r, p, 2), e2, e3;
    mv_buf_init(&e2, 1u << 20);
    mv_buf_init(&e3, 1u << 20);
    const size_t body = 5 + 2 * MV_ENVELOPE_ENTRY_BYTES;

    /* Reader 1 adds reader 2; the body is unchanged. */
    assert_int_equal(mv_envelope_add_reader(env.ptr, env.len, p[1].pk, p[1].sk, p[2].pk, &e2), MV_OK);
    assert_int_equal(e2.len, env.len + MV_ENVELOPE_ENTRY_BYTES);
    assert_memory_equal(e2.ptr + body + MV_ENVELOPE_ENTRY_BYTES, env.ptr + body, env.len - body);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(open_as(e2.ptr, e2.len, &p[i], &r), MV_OK);
    assert_int_equal(open_as(e2.ptr, e2.len, &p[3], NULL), MV_ERR_FORBIDDEN);
    /* A non-reader cannot add anyone; a wrong secret key cannot either. */
    assert_int_equal(mv_envelope_add_reader(env.ptr, env.len, p[3].pk, p[3].sk, p[3].pk, &e3), MV_ERR_FORBIDDEN);
    assert_int_equal(mv_envelope_add_reader(env.ptr, env.len, p[0].pk, p[3].sk, p[3].pk, &e3), MV_ERR_VERIFY);
    assert_int_equal(e3.len, 0);
    /* Adding an existing reader is an unchanged copy. */
    assert_int_equal(mv_envelope_add_reader(env.ptr, env.len, p[0].pk, p[0].sk, p[1].pk, &e3), MV_OK);
    assert_int_equal(e3.len, env.len);
    assert_memory_equal(e3.ptr, env.ptr, env.len);
    mv_buf_reset(&e3);

    /* Remove reader 0 from the three. */
    assert_int_equal(mv_envelope_remove_reader(e2.ptr, e2.len, p[0].pk, &e3), MV_OK);
    assert_int_equal(e3.len, env.len);
    assert_int_equal(open_as(e3.ptr, e3.len, &p[0], NULL), MV_ERR_FORBIDDEN);
    assert_int_equal(open_as(e3.ptr, e3.len, &p[1], &r), MV_OK);
    assert_int_equal(open_as(e3.ptr, e3.len, &p[2], &r), MV_OK);
    uint8_t pks[3 * 32];
    size_t n;
    assert_int_equal(mv_envelope_readers(e3.ptr, e3.len, pks, 3, &n), MV_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(pks, p[1].pk, 32);
    assert_memory_equal(pks + 32, p[2].pk, 32);
    mv_buf tmp;
    mv_buf_init(&tmp, 1u << 20);
    assert_int_equal(mv_envelope_remove_reader(e3.ptr, e3.len, p[0].pk, &tmp), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_envelope_remove_reader(e3.ptr, e3.len, p[2].pk, &tmp), MV_OK);
    mv_buf e4;
    mv_buf_init(&e4, 1u << 20);
    assert_int_equal(mv_envelope_remove_reader(tmp.ptr, tmp.len, p[1].pk, &e4), MV_ERR_BAD_STATE);
    assert_int_equal(e4.len, 0);
    assert_int_equal(open_as(tmp.ptr, tmp.len, &p[1], &r), MV_OK);
    mv_buf_clear(&e4);
    mv_buf_clear(&tmp);

    /* Fill to 64 readers by adding, then one more is refused. */
    mv_buf cur;
    mv_buf_init(&cur, 1u << 20);
    assert_int_equal(mv_buf_append(&cur, env.ptr, env.len), MV_OK);
    for (size_t i = 2; i < MV_ENVELOPE_MAX_READERS + 1; i++) {
        uint8_t pk[32], sk[32];
        mv_buf next;
        mv_buf_init(&next, 1u << 20);
        assert_int_equal(mv_box_keypair(pk, sk), MV_OK);
        mv_err rc = mv_envelope_add_reader(cur.ptr, cur.len, p[0].pk, p[0].sk, pk, &next);
        if (i < MV_ENVELOPE_MAX_READERS) {
            assert_int_equal(rc, MV_OK);
            mv_buf_clear(&cur);
            cur = next;
        } else {
            assert_int_equal(rc, MV_ERR_TOO_LARGE);
            assert_int_equal(next.len, 0);
            mv_buf_clear(&next);
        }
    }
    assert_int_equal(mv_envelope_readers(cur.ptr, cur.len, NULL, 0, &n), MV_ERR_TOO_LARGE);
    assert_int_equal(n, MV_ENVELOPE_MAX_READERS);
    assert_int_equal(open_as(cur.ptr, cur.len, &p[1], &r), MV_OK);
    mv_buf_clear(&cur);
    mv_buf_clear(&e2);
    mv_buf_clear(&e3);
    mv_buf_clear(&env);
    mv_record_clear(&r);
}

/* Per-record overhead: a 1-block FHIR record with a 300-byte skeleton and 2 readers. Fixed
 * part: 5 + 2 x 112 (reader entries) + 12 (nonce) + 16 (GCM tag) = 257 bytes; the rest is
 * zstd(record) with its 64 incompressible bytes of tag and key. */
static void test_envelope_size(void **state)
{
    (void)state;
    party p[2];
    keys(p, 2);
    mv_record r;
    fhir_record(&r, 1);
    assert_int_equal(r.skeleton_len, 300);
    mv_buf env = seal_for(&r, p, 2), enc;
    mv_buf_init(&enc, 1u << 20);
    assert_int_equal(mv_record_encode(&r, &enc), MV_OK);
    /* magic..kind 6, created 5, name 1, packed skeleton 2 + 280 (its date packs from 10 bytes
     * to 4, its date-time from 20 to 6), count 1, block 64 + 1 + 2 + 2. */
    assert_int_equal(enc.len, 6 + 5 + 1 + 2 + 280 + 1 + 64 + 1 + 2 + 2);
    assert_true(env.len < 600);
    print_message("envelope: %zu bytes (record %zu bytes before zstd)\n", env.len, enc.len);
    mv_buf_clear(&enc);
    mv_buf_clear(&env);
    mv_record_clear(&r);
}

/* Record ids: 6 bytes of milliseconds (big-endian) then 10 random bytes; later ids sort
 * after earlier ones by their time part, and no two are equal. */
static void test_record_id_new(void **state)
{
    (void)state;
    enum { N = 256 };
    uint8_t ids[N][MV_RECORD_ID_BYTES];
    struct timespec ts;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    uint64_t before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (int i = 0; i < N; i++)
        assert_int_equal(mv_record_id_new(ids[i]), MV_OK);
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    uint64_t after = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t prev = 0;
    for (int i = 0; i < N; i++) {
        uint64_t ms = 0;
        for (int k = 0; k < MV_RECORD_ID_TIME_BYTES; k++)
            ms = ms << 8 | ids[i][k];
        assert_true(ms >= before && ms <= after);
        assert_true(ms >= prev);
        prev = ms;
        for (int j = 0; j < i; j++) /* 80 random bits: never equal */
            assert_memory_not_equal(ids[i] + MV_RECORD_ID_TIME_BYTES,
                                    ids[j] + MV_RECORD_ID_TIME_BYTES, MV_RECORD_ID_RANDOM_BYTES);
    }
    assert_int_equal(MV_RECORD_ID_TIME_BYTES + MV_RECORD_ID_RANDOM_BYTES, MV_RECORD_ID_BYTES);
}

/* ---- keysets (MVK1) and MVE2 envelopes ---- */

static const uint8_t kid0[MV_RECORD_ID_BYTES] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                                 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};

static mv_buf keyset_for(const uint8_t K[32], const party *readers, size_t n)
{
    uint8_t pks[8 * 32];
    mv_buf ks;
    mv_buf_init(&ks, 1u << 20);
    assert_int_equal(mv_keyset_seal(K, pks_of(readers, n, pks), n, &ks), MV_OK);
    return ks;
}

static mv_buf seal2(const uint8_t *id, const mv_record *r, const uint8_t *kid, const uint8_t K[32])
{
    mv_buf env;
    mv_buf_init(&env, 1u << 26);
    assert_int_equal(mv_envelope2_seal(id, r, kid, K, &env), MV_OK);
    return env;
}

static mv_err open2(const uint8_t *id, const uint8_t *env, size_t len, const uint8_t K[32], const mv_record *expect)
{
    mv_record d;
    mv_record_init(&d);
    return check_opened(mv_envelope2_open(id, env, len, K, &d), &d, expect);
}

static void test_keyset(void **state)
{
    (void)state;
    party p[5];
    keys(p, 5);
    uint8_t K[32], K2[32], pks[4 * 32];
    fill(K, 32, 77);
    /* Three readers given four times (one duplicate collapses). */
    party given[4] = {p[0], p[1], p[0], p[2]};
    mv_buf ks = keyset_for(K, given, 4);
    assert_int_equal(ks.len, 5 + 3 * MV_ENVELOPE_ENTRY_BYTES);
    assert_memory_equal(ks.ptr, "MVK1\x03", 5);
    mv_envelope_kind kind = 0;
    uint8_t kid[16];
    memset(kid, 0x55, 16);
    assert_int_equal(mv_envelope_kind_of(ks.ptr, ks.len, &kind, kid), MV_OK);
    assert_int_equal(kind, MV_ENVELOPE_MVK1);
    assert_int_equal(kid[0], 0x55); /* untouched */
    for (size_t i = 0; i < 3; i++) {
        memset(K2, 0, 32);
        assert_int_equal(mv_keyset_open(ks.ptr, ks.len, p[i].pk, p[i].sk, K2), MV_OK);
        assert_memory_equal(K2, K, 32);
    }
    assert_int_equal(mv_keyset_open(ks.ptr, ks.len, p[3].pk, p[3].sk, K2), MV_ERR_FORBIDDEN);
    party mixed = p[0];
    memcpy(mixed.sk, p[1].sk, 32);
    assert_int_equal(mv_keyset_open(ks.ptr, ks.len, mixed.pk, mixed.sk, K2), MV_ERR_VERIFY);
    size_t n = 0;
    assert_int_equal(mv_envelope_readers(ks.ptr, ks.len, pks, 4, &n), MV_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(pks, p[0].pk, 32);
    assert_memory_equal(pks + 64, p[2].pk, 32);
    /* A keyset is not a record envelope. */
    mv_record d;
    mv_record_init(&d);
    assert_int_equal(mv_envelope_open(rec_id, ks.ptr, ks.len, p[0].pk, p[0].sk, &d), MV_ERR_PARSE);
    assert_int_equal(mv_envelope2_open(rec_id, ks.ptr, ks.len, K, &d), MV_ERR_PARSE);

    /* Add a reader given K; adding it again is an unchanged copy; remove it again. */
    mv_buf k2, k3, k4;
    mv_buf_init(&k2, 1u << 20);
    mv_buf_init(&k3, 1u << 20);
    mv_buf_init(&k4, 1u << 20);
    assert_int_equal(mv_keyset_add_reader(ks.ptr, ks.len, K, p[3].pk, &k2), MV_OK);
    assert_int_equal(k2.len, ks.len + MV_ENVELOPE_ENTRY_BYTES);
    assert_int_equal(mv_keyset_open(k2.ptr, k2.len, p[3].pk, p[3].sk, K2), MV_OK);
    assert_memory_equal(K2, K, 32);
    assert_int_equal(mv_keyset_add_reader(k2.ptr, k2.len, K, p[3].pk, &k3), MV_OK);
    assert_int_equal(k3.len, k2.len);
    assert_memory_equal(k3.ptr, k2.ptr, k2.len);
    assert_int_equal(mv_envelope_remove_reader(k2.ptr, k2.len, p[3].pk, &k4), MV_OK);
    assert_int_equal(k4.len, ks.len);
    assert_memory_equal(k4.ptr, ks.ptr, ks.len);
    assert_int_equal(mv_envelope_remove_reader(k2.ptr, k2.len, p[4].pk, &k4), MV_ERR_NOT_FOUND);
    /* The last reader of a keyset stays. */
    mv_buf one = keyset_for(K, p, 1);
    mv_buf_clear(&k3);
    mv_buf_init(&k3, 1u << 20);
    assert_int_equal(mv_envelope_remove_reader(one.ptr, one.len, p[0].pk, &k3), MV_ERR_BAD_STATE);
    assert_int_equal(k3.len, 0);

    /* Framing: exact length, count range, distinct readers. */
    uint8_t *copy = mv_malloc(ks.len + 1);
    assert_non_null(copy);
    memcpy(copy, ks.ptr, ks.len);
    copy[ks.len] = 0;
    for (size_t len = 0; len < ks.len; len++)
        assert_int_equal(mv_envelope_kind_of(copy, len, &kind, NULL), MV_ERR_PARSE);
    assert_int_equal(mv_envelope_kind_of(copy, ks.len + 1, &kind, NULL), MV_ERR_PARSE); /* trailing byte */
    copy[4] = 0;
    assert_int_equal(mv_envelope_readers(copy, 5, NULL, 0, &n), MV_ERR_PARSE); /* no reader */
    copy[4] = 3;
    memcpy(copy + 5 + 2 * MV_ENVELOPE_ENTRY_BYTES, copy + 5, 32); /* reader 2 = reader 0 */
    assert_int_equal(mv_keyset_open(copy, ks.len, p[0].pk, p[0].sk, K2), MV_ERR_PARSE);
    copy[3] = '2'; /* "MVK2" */
    assert_int_equal(mv_envelope_kind_of(copy, ks.len, &kind, NULL), MV_ERR_PARSE);
    mv_free(copy);
    /* 64 readers at most. */
    uint8_t many[65 * 32];
    for (size_t i = 0; i < 65; i++) {
        uint8_t sk[32];
        assert_int_equal(mv_box_keypair(many + 32 * i, sk), MV_OK);
    }
    mv_buf big;
    mv_buf_init(&big, 1u << 20);
    assert_int_equal(mv_keyset_seal(K, many, 65, &big), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_keyset_seal(K, many, 64, &big), MV_OK);
    mv_buf_clear(&k3);
    mv_buf_init(&k3, 1u << 20);
    assert_int_equal(mv_keyset_add_reader(big.ptr, big.len, K, p[0].pk, &k3), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_keyset_seal(K, many, 0, &k3), MV_ERR_INVAL);
    mv_buf_clear(&big);
    mv_buf_clear(&one);
    mv_buf_clear(&k2);
    mv_buf_clear(&k3);
    mv_buf_clear(&k4);
    mv_buf_clear(&ks);
    mv_wipe(K2, 32);
}

static void test_envelope2_roundtrip(void **state)
{
    (void)state;
    uint8_t K[32], K2[32], kid[16], R[32], R2[32];
    fill(K, 32, 9);
    mv_record r;
    fhir_record(&r, 3);
    mv_buf env = seal2(rec_id, &r, kid0, K);
    assert_memory_equal(env.ptr, "MVE2", 4);
    assert_memory_equal(env.ptr + 4, kid0, 16);
    assert_int_equal(env.ptr[20], 0);
    mv_envelope_kind kind = 0;
    assert_int_equal(mv_envelope_kind_of(env.ptr, env.len, &kind, kid), MV_OK);
    assert_int_equal(kind, MV_ENVELOPE_MVE2);
    assert_memory_equal(kid, kid0, 16);
    size_t n = 7;
    assert_int_equal(mv_envelope_readers(env.ptr, env.len, NULL, 0, &n), MV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(open2(rec_id, env.ptr, env.len, K, &r), MV_OK);
    /* The record key is HKDF(K, id): the same one opens it directly; another id's does not. */
    assert_int_equal(mv_envelope_record_key(rec_id, K, R), MV_OK);
    mv_record d;
    mv_record_init(&d);
    assert_int_equal(mv_envelope2_open_with_key(rec_id, env.ptr, env.len, R, &d), MV_OK);
    assert_records_equal(&r, &d);
    uint8_t other[16];
    memcpy(other, rec_id, 16);
    other[0] ^= 0x80;
    assert_int_equal(mv_envelope_record_key(other, K, R2), MV_OK);
    assert_memory_not_equal(R, R2, 32);
    assert_int_equal(mv_envelope2_open_with_key(rec_id, env.ptr, env.len, R2, &d), MV_ERR_VERIFY);
    /* Wrong id, wrong K, wrong kid: GCM fails. */
    assert_int_equal(open2(other, env.ptr, env.len, K, NULL), MV_ERR_VERIFY);
    memcpy(K2, K, 32);
    K2[31] ^= 1;
    assert_int_equal(open2(rec_id, env.ptr, env.len, K2, NULL), MV_ERR_VERIFY);
    /* Every single-byte flip fails: in the body or the kid (associated data) GCM fails; in
     * the magic the framing. */
    uint8_t *copy = mv_malloc(env.len);
    assert_non_null(copy);
    for (size_t i = 0; i < env.len; i++) {
        memcpy(copy, env.ptr, env.len);
        copy[i] ^= 0x01;
        mv_err rc = open2(rec_id, copy, env.len, K, NULL);
        if (i < 4)
            assert_int_equal(rc, MV_ERR_PARSE);
        else if (i == 20) /* m = 1: the body's first 112 bytes become an entry */
            assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_VERIFY);
        else
            assert_int_equal(rc, MV_ERR_VERIFY);
    }
    /* Truncations never open. */
    for (size_t len = 0; len < env.len; len++) {
        mv_err rc = open2(rec_id, env.ptr, len, K, NULL);
        assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_VERIFY);
        if (len < MV_ENVELOPE2_FIXED_BYTES)
            assert_int_equal(rc, MV_ERR_PARSE);
    }
    /* A keyset reader has no entry: mv_envelope_open (box keys) finds none. */
    party p[1];
    keys(p, 1);
    assert_int_equal(mv_envelope_open(rec_id, env.ptr, env.len, p[0].pk, p[0].sk, &d), MV_ERR_FORBIDDEN);
    assert_int_equal(mv_envelope2_unwrap(env.ptr, env.len, p[0].pk, p[0].sk, R2), MV_ERR_FORBIDDEN);
    /* Errors on NULL. */
    assert_int_equal(mv_envelope2_seal(rec_id, NULL, kid0, K, &env), MV_ERR_INVAL);
    assert_int_equal(mv_envelope2_open(rec_id, env.ptr, env.len, K, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_envelope_kind_of(env.ptr, env.len, NULL, NULL), MV_ERR_INVAL);
    /* An MVE1 envelope is not opened as MVE2. */
    mv_buf e1 = seal_for(&r, p, 1);
    assert_int_equal(mv_envelope_kind_of(e1.ptr, e1.len, &kind, NULL), MV_OK);
    assert_int_equal(kind, MV_ENVELOPE_MVE1);
    assert_int_equal(open2(rec_id, e1.ptr, e1.len, K, NULL), MV_ERR_PARSE);
    mv_free(copy);
    mv_buf_clear(&e1);
    mv_buf_clear(&env);
    mv_record_clear(&d);
    mv_record_clear(&r);
}

/* A record's own key R, unwrapped from the reader's entry and used alone (what a delegation
 * through the clouds carries, docs/pre.md): MVE1 and MVE2 extra entries, never a keyset. */
static void test_envelope_open_with_key(void **state)
{
    (void)state;
    party p[2];
    keys(p, 2);
    uint8_t R[32], K[32], kid_R[32];
    mv_record r, d;
    mv_record_init(&d);
    fhir_record(&r, 3);
    mv_buf e1 = seal_for(&r, p, 1);
    assert_int_equal(mv_envelope_unwrap(e1.ptr, e1.len, p[0].pk, p[0].sk, R), MV_OK);
    assert_int_equal(check_opened(mv_envelope_open_with_key(rec_id, e1.ptr, e1.len, R, &d), &d, &r), MV_OK);
    /* Not a reader; another record's id; a wrong key: nothing opens, nothing is released. */
    assert_int_equal(mv_envelope_unwrap(e1.ptr, e1.len, p[1].pk, p[1].sk, kid_R), MV_ERR_FORBIDDEN);
    uint8_t other[16];
    memcpy(other, rec_id, 16);
    other[0] ^= 1;
    assert_int_equal(check_opened(mv_envelope_open_with_key(other, e1.ptr, e1.len, R, &d), &d, NULL), MV_ERR_VERIFY);
    R[5] ^= 1;
    assert_int_equal(check_opened(mv_envelope_open_with_key(rec_id, e1.ptr, e1.len, R, &d), &d, NULL), MV_ERR_VERIFY);
    /* MVE2: R derived from K opens it too; a keyset is not a record. */
    fill(K, 32, 9);
    mv_buf e2 = seal2(rec_id, &r, kid0, K);
    assert_int_equal(mv_envelope_record_key(rec_id, K, R), MV_OK);
    assert_int_equal(check_opened(mv_envelope_open_with_key(rec_id, e2.ptr, e2.len, R, &d), &d, &r), MV_OK);
    mv_buf ks = keyset_for(K, p, 1);
    assert_int_equal(mv_envelope_unwrap(ks.ptr, ks.len, p[0].pk, p[0].sk, R), MV_ERR_PARSE);
    assert_int_equal(check_opened(mv_envelope_open_with_key(rec_id, ks.ptr, ks.len, R, &d), &d, NULL), MV_ERR_PARSE);
    mv_buf_clear(&e1);
    mv_buf_clear(&e2);
    mv_buf_clear(&ks);
    mv_record_clear(&r);
}

/* One record shared with readers outside its keyset: an extra entry wraps R, never K. */
static void test_envelope2_extra(void **state)
{
    (void)state;
    party p[4];
    keys(p, 4);
    uint8_t K[32], R[32], R2[32];
    fill(K, 32, 21);
    mv_record r;
    fhir_record(&r, 2);
    mv_buf env = seal2(rec_id, &r, kid0, K), e2, e3, e4;
    mv_buf_init(&e2, 1u << 26);
    mv_buf_init(&e3, 1u << 26);
    mv_buf_init(&e4, 1u << 26);
    assert_int_equal(mv_envelope_record_key(rec_id, K, R), MV_OK);
    /* A wrong R is never wrapped. */
    memcpy(R2, R, 32);
    R2[0] ^= 1;
    assert_int_equal(mv_envelope2_add_reader(rec_id, env.ptr, env.len, R2, p[0].pk, &e2), MV_ERR_VERIFY);
    assert_int_equal(e2.len, 0);
    uint8_t other[16];
    memcpy(other, rec_id, 16);
    other[3] ^= 4;
    assert_int_equal(mv_envelope2_add_reader(other, env.ptr, env.len, R, p[0].pk, &e2), MV_ERR_VERIFY);
    assert_int_equal(mv_envelope2_add_reader(rec_id, env.ptr, env.len, R, p[0].pk, &e2), MV_OK);
    assert_int_equal(e2.len, env.len + MV_ENVELOPE_ENTRY_BYTES);
    assert_int_equal(e2.ptr[20], 1);
    /* The body is unchanged: the keyset still opens it. */
    assert_memory_equal(e2.ptr + 21 + MV_ENVELOPE_ENTRY_BYTES, env.ptr + 21, env.len - 21);
    assert_int_equal(open2(rec_id, e2.ptr, e2.len, K, &r), MV_OK);
    /* The extra reader opens it with its box key alone, or by unwrapping R. */
    assert_int_equal(open_as(e2.ptr, e2.len, &p[0], &r), MV_OK);
    assert_int_equal(mv_envelope2_unwrap(e2.ptr, e2.len, p[0].pk, p[0].sk, R2), MV_OK);
    assert_memory_equal(R2, R, 32);
    mv_record d;
    mv_record_init(&d);
    assert_int_equal(mv_envelope2_open_with_key(rec_id, e2.ptr, e2.len, R2, &d), MV_OK);
    assert_records_equal(&r, &d);
    assert_int_equal(open_as(e2.ptr, e2.len, &p[1], NULL), MV_ERR_FORBIDDEN);
    party mixed = p[0];
    memcpy(mixed.sk, p[1].sk, 32);
    assert_int_equal(open_as(e2.ptr, e2.len, &mixed, NULL), MV_ERR_VERIFY);
    /* The extra reader shares it on with its own entry (mv_envelope_add_reader). */
    assert_int_equal(mv_envelope_add_reader(e2.ptr, e2.len, p[0].pk, p[0].sk, p[1].pk, &e3), MV_OK);
    assert_int_equal(e3.ptr[20], 2);
    assert_int_equal(open_as(e3.ptr, e3.len, &p[1], &r), MV_OK);
    assert_int_equal(mv_envelope_add_reader(e2.ptr, e2.len, p[2].pk, p[2].sk, p[1].pk, &e4), MV_ERR_FORBIDDEN);
    /* Adding an existing extra reader is an unchanged copy. */
    mv_buf_clear(&e4);
    mv_buf_init(&e4, 1u << 26);
    assert_int_equal(mv_envelope2_add_reader(rec_id, e3.ptr, e3.len, R, p[1].pk, &e4), MV_OK);
    assert_int_equal(e4.len, e3.len);
    assert_memory_equal(e4.ptr, e3.ptr, e3.len);
    size_t n = 0;
    uint8_t pks[2 * 32];
    assert_int_equal(mv_envelope_readers(e3.ptr, e3.len, pks, 2, &n), MV_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(pks, p[0].pk, 32);
    assert_memory_equal(pks + 32, p[1].pk, 32);
    /* Removing both extras gives back the original bytes (the last one may go too). */
    mv_buf_clear(&e4);
    mv_buf_init(&e4, 1u << 26);
    assert_int_equal(mv_envelope_remove_reader(e3.ptr, e3.len, p[1].pk, &e4), MV_OK);
    assert_int_equal(e4.len, e2.len);
    assert_memory_equal(e4.ptr, e2.ptr, e2.len);
    mv_buf_clear(&e3);
    mv_buf_init(&e3, 1u << 26);
    assert_int_equal(mv_envelope_remove_reader(e4.ptr, e4.len, p[0].pk, &e3), MV_OK);
    assert_int_equal(e3.len, env.len);
    assert_memory_equal(e3.ptr, env.ptr, env.len);
    assert_int_equal(open_as(e3.ptr, e3.len, &p[0], NULL), MV_ERR_FORBIDDEN);
    mv_buf_clear(&e4);
    mv_buf_init(&e4, 1u << 26);
    assert_int_equal(mv_envelope_remove_reader(e3.ptr, e3.len, p[0].pk, &e4), MV_ERR_NOT_FOUND);

    /* At most 63 extra entries; framing refuses 64 and duplicates. */
    mv_buf cur, next;
    mv_buf_init(&cur, 1u << 26);
    assert_int_equal(mv_buf_append(&cur, env.ptr, env.len), MV_OK);
    for (size_t i = 0; i < MV_ENVELOPE2_MAX_EXTRA + 1; i++) {
        uint8_t pk[32], sk[32];
        assert_int_equal(mv_box_keypair(pk, sk), MV_OK);
        mv_buf_init(&next, 1u << 26);
        mv_err rc = mv_envelope2_add_reader(rec_id, cur.ptr, cur.len, R, pk, &next);
        if (i < MV_ENVELOPE2_MAX_EXTRA) {
            assert_int_equal(rc, MV_OK);
            mv_buf_clear(&cur);
            cur = next;
        } else {
            assert_int_equal(rc, MV_ERR_TOO_LARGE);
            mv_buf_clear(&next);
        }
    }
    assert_int_equal(cur.ptr[20], 63);
    assert_int_equal(open2(rec_id, cur.ptr, cur.len, K, &r), MV_OK);
    uint8_t *copy = mv_malloc(cur.len);
    assert_non_null(copy);
    memcpy(copy, cur.ptr, cur.len);
    copy[20] = 64;
    assert_int_equal(mv_envelope_readers(copy, cur.len, NULL, 0, &n), MV_ERR_PARSE);
    copy[20] = 63;
    memcpy(copy + 21 + MV_ENVELOPE_ENTRY_BYTES, copy + 21, 32);
    assert_int_equal(mv_envelope_readers(copy, cur.len, NULL, 0, &n), MV_ERR_PARSE);
    mv_free(copy);
    mv_buf_clear(&cur);
    mv_buf_clear(&env);
    mv_buf_clear(&e2);
    mv_buf_clear(&e3);
    mv_buf_clear(&e4);
    mv_record_clear(&d);
    mv_record_clear(&r);
    mv_wipe(R, 32);
}

/* Issue 12: the fixed cryptographic cost of one more record in a known reader set is at most
 * 64 bytes. MVE2 with no extra entry: the envelope minus the compressed record body (as
 * record.c compresses it: keep the two in step if the body compression changes). */
static void test_envelope2_overhead(void **state)
{
    (void)state;
    party p[2];
    keys(p, 2);
    uint8_t K[32];
    fill(K, 32, 3);
    mv_record r;
    fhir_record(&r, 1);
    mv_buf env = seal2(rec_id, &r, kid0, K), e1 = seal_for(&r, p, 2), enc, z;
    mv_buf_init(&enc, 1u << 20);
    mv_buf_init(&z, 1u << 20);
    assert_int_equal(mv_record_encode(&r, &enc), MV_OK);
    assert_int_equal(mv_zstd_compress_dict(enc.ptr, enc.len, MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_BODY, &z), MV_OK);
    size_t fixed = env.len - z.len;
    assert_int_equal(fixed, MV_ENVELOPE2_FIXED_BYTES);
    assert_true(fixed <= 64);
    /* Against MVE1 for the usual two readers: 208 bytes and two X25519 operations less. */
    assert_int_equal(e1.len - env.len, 5 + 2 * MV_ENVELOPE_ENTRY_BYTES - 21);
    print_message("MVE2: %zu bytes (fixed %zu); MVE1, 2 readers: %zu bytes\n", env.len, fixed, e1.len);
    mv_buf_clear(&enc);
    mv_buf_clear(&z);
    mv_buf_clear(&e1);
    mv_buf_clear(&env);
    mv_record_clear(&r);
}

/* ---- the body dictionary ---- */

/* Unwraps R for reader p and decrypts the body of env (layout in mv_record.h): the zstd
 * frame, in a new mv_buf. */
static mv_buf body_of(const uint8_t *id, const uint8_t *env, size_t len, const party *p)
{
    uint8_t R[32], aad[20 + 16];
    mv_buf z;
    assert_true(len > 5 + MV_ENVELOPE_ENTRY_BYTES + 12 + 16);
    assert_int_equal(env[4], 1); /* one reader */
    assert_memory_equal(env + 5, p->pk, 32);
    assert_int_equal(mv_box_seal_open(R, env + 5 + 32, 80, p->pk, p->sk), MV_OK);
    memcpy(aad, "medvault-envelope-v1", 20);
    memcpy(aad + 20, id, 16);
    const uint8_t *nonce = env + 5 + MV_ENVELOPE_ENTRY_BYTES, *ct = nonce + 12;
    size_t ct_len = len - (size_t)(ct - env);
    mv_buf_init(&z, 1u << 20);
    assert_int_equal(mv_buf_reserve(&z, ct_len), MV_OK);
    assert_int_equal(mv_aead_decrypt(z.ptr, ct, ct_len, aad, sizeof aad, nonce, R), MV_OK);
    z.len = ct_len - 16;
    mv_wipe(R, sizeof R);
    return z;
}

/* MVE1 for reader p with the given (already compressed) body. */
static mv_buf envelope_with_body(const party *p, const uint8_t *body, size_t body_len)
{
    uint8_t R[32], nonce[12], aad[20 + 16];
    mv_buf env;
    assert_int_equal(mv_random_bytes(R, sizeof R), MV_OK);
    assert_int_equal(mv_random_bytes(nonce, sizeof nonce), MV_OK);
    memcpy(aad, "medvault-envelope-v1", 20);
    memcpy(aad + 20, rec_id, 16);
    mv_buf_init(&env, 1u << 20);
    assert_int_equal(mv_buf_append(&env, "MVE1\x01", 5), MV_OK);
    assert_int_equal(mv_buf_append(&env, p->pk, 32), MV_OK);
    assert_int_equal(mv_buf_reserve(&env, 80), MV_OK);
    assert_int_equal(mv_box_seal(env.ptr + env.len, R, 32, p->pk), MV_OK);
    env.len += 80;
    assert_int_equal(mv_buf_append(&env, nonce, 12), MV_OK);
    assert_int_equal(mv_buf_reserve(&env, body_len + 16), MV_OK);
    assert_int_equal(mv_aead_encrypt(env.ptr + env.len, body, body_len, aad, sizeof aad, nonce, R), MV_OK);
    env.len += body_len + 16;
    mv_wipe(R, sizeof R);
    return env;
}

static void test_envelope_body_dictionary(void **state)
{
    (void)state;
    party p[1];
    keys(p, 1);
    mv_record r;
    fhir_record(&r, 1);
    mv_buf env = seal_for(&r, p, 1), z = body_of(rec_id, env.ptr, env.len, &p[0]), enc, plain;

    /* The frame names the body dictionary in a one-byte Dictionary_ID field (RFC 8878 3.1.1.1.1:
     * flag value 1) and has no checksum; it is no bigger than the same record compressed
     * without a dictionary. */
    assert_memory_equal(z.ptr, "\x28\xb5\x2f\xfd", 4);
    assert_int_equal(z.ptr[4] & 0x03, 1);
    assert_int_equal(z.ptr[4] & 0x04, 0);
    assert_int_equal(mv_zstd_frame_dict_id(z.ptr, z.len), MV_ZSTD_DICT_BODY);
    mv_buf_init(&enc, 1u << 20);
    mv_buf_init(&plain, 1u << 20);
    assert_int_equal(mv_record_encode(&r, &enc), MV_OK);
    assert_int_equal(mv_zstd_compress(enc.ptr, enc.len, MV_ZSTD_BODY_LEVEL, &plain), MV_OK);
    print_message("body of a 300-byte skeleton: %zu bytes with the dictionary, %zu without\n", z.len, plain.len);
    assert_true(z.len + 40 < plain.len);

    /* The same record compressed without a dictionary (as main sealed bodies) opens. */
    mv_buf old = envelope_with_body(&p[0], plain.ptr, plain.len);
    assert_int_equal(open_as(old.ptr, old.len, &p[0], &r), MV_OK);
    mv_buf_clear(&old);

    /* A body naming a dictionary medvault does not have is malformed: change the id byte
     * to every one-byte id but the built-in ones. */
    for (unsigned id = 0; id < 256; id++) {
        if (id == MV_ZSTD_DICT_FHIR_R4_1 || id == MV_ZSTD_DICT_FHIR_R4_2)
            continue;
        z.ptr[5] = (uint8_t)id;
        old = envelope_with_body(&p[0], z.ptr, z.len);
        mv_err rc = open_as(old.ptr, old.len, &p[0], NULL);
        /* id 0 in a one-byte field reads as "no dictionary": the frame then refers to
         * history it does not have, which libzstd reports as corrupt. */
        assert_int_equal(rc, MV_ERR_PARSE);
        mv_buf_clear(&old);
    }
    mv_buf_clear(&plain);
    mv_buf_clear(&enc);
    mv_buf_clear(&z);
    mv_buf_clear(&env);
    mv_record_clear(&r);
}

/* An envelope sealed by main before the dictionary existed (the vector file says how). */
static void test_envelope_pre_dictionary(void **state)
{
    (void)state;
    mv_json *v = tu_load_json("envelope-mve1-nodict.json");
    size_t n_env, n_id, n_pk, n_sk, n_tag, n_key;
    uint8_t *env = tu_json_hex(v, "envelope", &n_env), *id = tu_json_hex(v, "id", &n_id);
    uint8_t *pk = tu_json_hex(v, "box_pk", &n_pk), *sk = tu_json_hex(v, "box_sk", &n_sk);
    uint8_t *tag = tu_json_hex(v, "block_tag", &n_tag), *key = tu_json_hex(v, "block_key", &n_key);
    const char *skel = mv_json_get_str(v, "skeleton", NULL);
    assert_non_null(skel);
    assert_int_equal(n_id, 16);
    assert_int_equal(n_pk, 32);
    assert_int_equal(n_sk, 32);
    mv_record d;
    mv_record_init(&d);
    assert_int_equal(mv_envelope_open(id, env, n_env, pk, sk, &d), MV_OK);
    assert_int_equal(d.kind, MV_RECORD_FHIR);
    assert_true(d.created == tu_json_u64(v, "created"));
    assert_int_equal(d.skeleton_len, strlen(skel));
    assert_memory_equal(d.skeleton, skel, d.skeleton_len);
    assert_int_equal(d.n_blocks, 1);
    assert_memory_equal(d.blocks[0].tag, tag, 32);
    assert_memory_equal(d.blocks[0].key, key, 32);
    assert_true(d.blocks[0].slot == MV_RECORD_SLOT_ROOT);
    assert_true(d.blocks[0].plain_len == tu_json_u64(v, "block_plain_len"));
    assert_true(d.blocks[0].cipher_len == tu_json_u64(v, "block_cipher_len"));
    /* Its body indeed names no dictionary. */
    party p;
    memcpy(p.pk, pk, 32);
    memcpy(p.sk, sk, 32);
    mv_buf z = body_of(id, env, n_env, &p);
    assert_int_equal(z.ptr[4] & 0x03, 0);
    assert_int_equal(mv_zstd_frame_dict_id(z.ptr, z.len), 0);
    mv_buf_clear(&z);
    mv_record_clear(&d);
    mv_free(env);
    mv_free(id);
    mv_free(pk);
    mv_free(sk);
    mv_free(tag);
    mv_free(key);
    mv_json_free(v);
}

/* An MVE2 envelope sealed by main before skeletons were packed (MVR1 in a body compressed
 * with dictionary 1; the vector file says how): it opens with its keyset key, field by field. */
static void test_envelope_mvr1_dict1(void **state)
{
    (void)state;
    mv_json *v = tu_load_json("envelope-mve2-dict1.json");
    size_t n_env, n_id, n_kid, n_K, n_tag, n_key;
    uint8_t *env = tu_json_hex(v, "envelope", &n_env), *id = tu_json_hex(v, "id", &n_id);
    uint8_t *kid = tu_json_hex(v, "kid", &n_kid), *K = tu_json_hex(v, "K", &n_K);
    uint8_t *tag = tu_json_hex(v, "block_tag", &n_tag), *key = tu_json_hex(v, "block_key", &n_key);
    const char *skel = mv_json_get_str(v, "skeleton", NULL);
    assert_non_null(skel);
    assert_int_equal(n_id, 16);
    assert_int_equal(n_kid, 16);
    assert_int_equal(n_K, 32);
    assert_memory_equal(env + 4, kid, 16);
    mv_record d;
    mv_record_init(&d);
    assert_int_equal(mv_envelope2_open(id, env, n_env, K, &d), MV_OK);
    assert_int_equal(d.kind, MV_RECORD_FHIR);
    assert_true(d.created == tu_json_u64(v, "created"));
    assert_int_equal(d.skeleton_len, strlen(skel));
    assert_memory_equal(d.skeleton, skel, d.skeleton_len);
    assert_int_equal(d.n_blocks, 1);
    assert_memory_equal(d.blocks[0].tag, tag, 32);
    assert_memory_equal(d.blocks[0].key, key, 32);
    assert_true(d.blocks[0].slot == MV_RECORD_SLOT_ROOT);
    assert_true(d.blocks[0].plain_len == tu_json_u64(v, "block_plain_len"));
    assert_true(d.blocks[0].cipher_len == tu_json_u64(v, "block_cipher_len"));
    /* Its body names dictionary 1 and holds MVR1: decrypt it by hand (mv_record.h). */
    uint8_t R[32], aad[20 + 32];
    assert_int_equal(mv_envelope_record_key(id, K, R), MV_OK);
    memcpy(aad, "medvault-envelope-v2", 20);
    memcpy(aad + 20, id, 16);
    memcpy(aad + 36, kid, 16);
    assert_int_equal(env[20], 0); /* no extra entry */
    const uint8_t *nonce = env + 21, *ct = nonce + 12;
    size_t ct_len = n_env - 33;
    mv_buf z, plain;
    mv_buf_init(&z, 1u << 20);
    mv_buf_init(&plain, 1u << 20);
    assert_int_equal(mv_buf_reserve(&z, ct_len), MV_OK);
    assert_int_equal(mv_aead_decrypt(z.ptr, ct, ct_len, aad, sizeof aad, nonce, R), MV_OK);
    z.len = ct_len - 16;
    assert_int_equal(mv_zstd_frame_dict_id(z.ptr, z.len), MV_ZSTD_DICT_FHIR_R4_1);
    assert_int_equal(mv_zstd_decompress_dict(z.ptr, z.len, 1u << 20, &plain), MV_OK);
    assert_memory_equal(plain.ptr, "MVR1\x01\x01", 6);
    /* Sealed again today, the same record is MVR2 under dictionary 2, and smaller. */
    mv_buf again = seal2(id, &d, kid, K);
    print_message("old MVE2 envelope %zu bytes, sealed again %zu bytes\n", n_env, again.len);
    assert_true(again.len + 20 < n_env);
    mv_buf_clear(&again);
    mv_wipe(R, sizeof R);
    mv_buf_clear(&z);
    mv_buf_clear(&plain);
    mv_record_clear(&d);
    mv_free(env);
    mv_free(id);
    mv_free(kid);
    mv_free(K);
    mv_free(tag);
    mv_free(key);
    mv_json_free(v);
}

/* get(put(x)) == canon(x) at the record layer for one FHIR text: canonicalize, split, put
 * the skeleton and one reference per block in a record, seal, open, decode, join the opened
 * skeleton with the blocks in the slots the opened record names. Adds the skeleton's and
 * the sealed envelope's sizes to *skel_bytes and *env_bytes. */
static void record_layer_roundtrip(const char *text, size_t len, const mv_fhir_profiles *prof, const party *p,
                                   size_t *skel_bytes, size_t *env_bytes)
{
    mv_buf canon, joined;
    mv_json *doc = NULL;
    mv_fhir_split sp;
    mv_record r, d;
    mv_buf_init(&canon, 1u << 24);
    mv_buf_init(&joined, 1u << 24);
    mv_fhir_split_init(&sp);
    mv_record_init(&r);
    mv_record_init(&d);
    assert_int_equal(mv_canon(text, len, NULL, &canon, NULL), MV_OK);
    assert_int_equal(mv_json_parse(text, len, NULL, &doc, NULL), MV_OK);
    assert_int_equal(mv_fhir_split_doc(prof, doc, &sp), MV_OK);
    r.kind = MV_RECORD_FHIR;
    r.created = 1765432100;
    assert_int_equal(mv_record_set_skeleton(&r, sp.envelope.ptr, sp.envelope.len), MV_OK);
    for (size_t i = 0; i < sp.n_blocks; i++) {
        mv_block_ref b;
        assert_int_equal(mv_random_bytes(b.tag, 32), MV_OK);
        assert_int_equal(mv_random_bytes(b.key, 32), MV_OK);
        b.slot = sp.slots[i];
        b.plain_len = sp.blocks[i].len;
        b.cipher_len = sp.blocks[i].len / 2 + 16;
        assert_int_equal(mv_record_add_block(&r, &b), MV_OK);
    }
    mv_buf env = seal_for(&r, p, 1);
    assert_int_equal(mv_envelope_open(rec_id, env.ptr, env.len, p->pk, p->sk, &d), MV_OK);
    assert_records_equal(&r, &d);
    /* The blocks are found by the tags the opened record names. */
    const uint8_t **blocks = mv_calloc(d.n_blocks + 1, sizeof *blocks);
    size_t *lens = mv_calloc(d.n_blocks + 1, sizeof *lens);
    uint32_t *slots = mv_calloc(d.n_blocks + 1, sizeof *slots);
    assert_true(blocks && lens && slots);
    for (size_t i = 0; i < d.n_blocks; i++) {
        size_t k = 0;
        while (k < r.n_blocks && memcmp(r.blocks[k].tag, d.blocks[i].tag, 32) != 0)
            k++;
        assert_true(k < r.n_blocks);
        blocks[i] = sp.blocks[k].ptr;
        lens[i] = sp.blocks[k].len;
        slots[i] = d.blocks[i].slot;
    }
    assert_int_equal(mv_fhir_join(d.skeleton, d.skeleton_len, blocks, lens, slots, d.n_blocks, &joined), MV_OK);
    assert_int_equal(joined.len, canon.len);
    assert_memory_equal(joined.ptr, canon.ptr, canon.len);
    *skel_bytes += sp.envelope.len;
    *env_bytes += env.len;
    mv_free(blocks);
    mv_free(lens);
    mv_free(slots);
    mv_buf_clear(&env);
    mv_record_clear(&d);
    mv_record_clear(&r);
    mv_fhir_split_clear(&sp);
    mv_json_free(doc);
    mv_buf_clear(&joined);
    mv_buf_clear(&canon);
}

static int has_type(const char *line, const char *type)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"resourceType\": \"%s\"", type);
    return strstr(line, pat) == line + 1;
}

/* Every resource of the Synthea-shaped fixtures (one per line), then a gen-emr workload with
 * Bundles. */
static void test_envelope_fhir_roundtrip(void **state)
{
    (void)state;
    static const char *const types[] = {"Patient", "Encounter", "Condition", "Procedure", "Immunization",
                                        "AllergyIntolerance", "MedicationRequest", "Observation",
                                        "DiagnosticReport", "DocumentReference", "CarePlan", "Claim",
                                        "ExplanationOfBenefit"};
    party p[1];
    keys(p, 1);
    mv_fhir_profiles *prof = NULL;
    assert_int_equal(mv_fhir_profiles_default(&prof), MV_OK);
    size_t len = 0, seen[sizeof types / sizeof *types] = {0}, n = 0;
    char *text = tu_read_vector_file("fhir/synthea-like.ndjson", &len);
    for (char *line = text, *nl; line < text + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(text + len - line));
        assert_non_null(nl);
        size_t skel = 0, env = 0, t = 0;
        while (t < sizeof types / sizeof *types && !has_type(line, types[t]))
            t++;
        assert_true(t < sizeof types / sizeof *types);
        record_layer_roundtrip(line, (size_t)(nl - line), prof, p, &skel, &env);
        print_message("%-22s skeleton %5zu B, envelope (1 reader) %4zu B\n", types[t], skel, env);
        seen[t]++;
        n++;
    }
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        assert_true(seen[t] >= 1);
    assert_int_equal(n, 27);
    mv_free(text);

    const char *bin = getenv("MEDVAULT_BIN");
    assert_non_null(bin);
    const char *dir = tu_tmpdir();
    char cmd[4096], path[4400];
    snprintf(cmd, sizeof cmd, "'%s' gen-emr '%s/emr' 40 --seed 9 --bundles --departments neurology > /dev/null", bin,
             dir);
    assert_int_equal(system(cmd), 0);
    static const char *const sub[] = {"neurology", "bundles"};
    size_t files = 0, skel = 0, env = 0;
    for (size_t s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/emr/%s", dir, sub[s]);
        DIR *dp = opendir(path);
        assert_non_null(dp);
        struct dirent *de;
        while ((de = readdir(dp)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/emr/%s/%s", dir, sub[s], de->d_name);
            FILE *f = fopen(path, "rb");
            assert_non_null(f);
            char *buf = mv_malloc(1u << 20);
            assert_non_null(buf);
            size_t got = fread(buf, 1, 1u << 20, f);
            fclose(f);
            assert_true(got > 0 && got < 1u << 20);
            size_t s0 = skel, e0 = env;
            record_layer_roundtrip(buf, got, prof, p, &skel, &env);
            if (s == 0 && files < 3)
                print_message("gen-emr %-14s skeleton %5zu B, envelope (1 reader) %4zu B\n", de->d_name, skel - s0,
                              env - e0);
            mv_free(buf);
            files++;
        }
        closedir(dp);
    }
    assert_true(files >= 40 + 4);
    mv_fhir_profiles_free(prof);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_pinned),
        cmocka_unit_test(test_record_pinned_packed),
        cmocka_unit_test(test_record_packed_strict),
        cmocka_unit_test(test_record_packed_name),
        cmocka_unit_test(test_record_skeleton_property),
        cmocka_unit_test(test_record_decode_strict),
        cmocka_unit_test(test_record_setters_and_encode_errors),
        cmocka_unit_test(test_record_alloc_failures),
        cmocka_unit_test(test_envelope_roundtrip),
        cmocka_unit_test(test_envelope_flips),
        cmocka_unit_test(test_envelope_framing),
        cmocka_unit_test(test_envelope_seal_errors),
        cmocka_unit_test(test_envelope_add_remove),
        cmocka_unit_test(test_envelope_size),
        cmocka_unit_test(test_keyset),
        cmocka_unit_test(test_envelope2_roundtrip),
        cmocka_unit_test(test_envelope2_extra),
        cmocka_unit_test(test_envelope_open_with_key),
        cmocka_unit_test(test_envelope2_overhead),
        cmocka_unit_test(test_envelope_body_dictionary),
        cmocka_unit_test(test_envelope_pre_dictionary),
        cmocka_unit_test(test_envelope_mvr1_dict1),
        cmocka_unit_test(test_envelope_fhir_roundtrip),
        cmocka_unit_test(test_record_id_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
