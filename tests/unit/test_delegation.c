/* test_delegation.c - patient delegations (mv_delegation.h), against the MVD1 layout in that
 * header: the byte layout and both signed strings (checked independently of delegation.c),
 * round trip, every bit of every field and signature, keys, the validity window with the
 * issue skew (MV_CRED_ISSUE_SKEW, mv_auth.h), canonical decoding and the base64 forms. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define T0 1790000000u
#define FIXED 101

typedef struct fixture {
    uint8_t ppk[32], psk[64]; /* patient */
    uint8_t dpk[32], dsk[64]; /* doctor */
    uint8_t hpk[32], hsk[64]; /* hospital */
    uint8_t xpk[32], xsk[64]; /* another hospital */
    mv_delegation d;          /* countersigned */
} fixture;

static void fill(mv_delegation *d, const fixture *f, const char *dept)
{
    memset(d, 0, sizeof *d);
    memcpy(d->patient, f->ppk, 32);
    memcpy(d->doctor, f->dpk, 32);
    for (int i = 0; i < 16; i++)
        d->appointment[i] = (uint8_t)(0xa0 + i);
    d->issued_at = T0;
    d->expires_at = T0 + 7 * 86400;
    snprintf(d->department, sizeof d->department, "%s", dept);
}

static void make_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(mv_sign_keypair(f->ppk, f->psk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->dpk, f->dsk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->hpk, f->hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->xpk, f->xsk), MV_OK);
    fill(&f->d, f, "Cardiology");
    assert_int_equal(mv_delegation_sign(&f->d, f->psk), MV_OK);
    assert_int_equal(mv_delegation_countersign(&f->d, f->hpk, f->hsk), MV_OK);
}

static void assert_same(const mv_delegation *a, const mv_delegation *b)
{
    assert_memory_equal(a->patient, b->patient, 32);
    assert_memory_equal(a->doctor, b->doctor, 32);
    assert_memory_equal(a->appointment, b->appointment, 16);
    assert_true(a->issued_at == b->issued_at);
    assert_true(a->expires_at == b->expires_at);
    assert_string_equal(a->department, b->department);
    assert_memory_equal(a->patient_sig, b->patient_sig, 64);
    assert_memory_equal(a->hospital_sig, b->hospital_sig, 64);
}

static void test_round_trip(void **state)
{
    (void)state;
    fixture f;
    mv_delegation d;
    make_fixture(&f);

    /* Patient-signed only: the patient's signature verifies, the hospital's is all zero. */
    fill(&d, &f, "Cardiology");
    memset(d.hospital_sig, 0xee, 64);
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_OK);
    assert_true(tu_all_zero(d.hospital_sig, 64));
    assert_false(tu_all_zero(d.patient_sig, 64));
    assert_int_equal(mv_delegation_verify_patient(&d), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_ERR_AUTH);

    assert_int_equal(mv_delegation_countersign(&d, f.hpk, f.hsk), MV_OK);
    assert_int_equal(mv_delegation_verify_patient(&d), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0 + 3600), MV_OK);
    /* Ed25519 is deterministic: the fixture's delegation has the same signatures. */
    assert_same(&d, &f.d);
}

/* The layout of the header comment and both signed strings, checked by hand. */
static void test_layout(void **state)
{
    (void)state;
    fixture f;
    uint8_t enc[MV_DELEGATION_MAX_BYTES], msg[64 + MV_DELEGATION_MAX_BYTES];
    size_t n = 0;
    make_fixture(&f);
    assert_int_equal(mv_delegation_encode(&f.d, enc, sizeof enc, &n), MV_OK);
    assert_int_equal(n, FIXED + 10 + 128);
    assert_memory_equal(enc, "MVD1", 4);
    assert_memory_equal(enc + 4, f.ppk, 32);
    assert_memory_equal(enc + 36, f.dpk, 32);
    assert_memory_equal(enc + 68, f.d.appointment, 16);
    /* 1790000000 = 0x6AB1_3B80, big-endian in 8 bytes */
    static const uint8_t issued[8] = {0, 0, 0, 0, 0x6a, 0xb1, 0x3b, 0x80};
    assert_memory_equal(enc + 84, issued, 8);
    uint64_t e = 0;
    for (int i = 0; i < 8; i++)
        e = e << 8 | enc[92 + i];
    assert_true(e == T0 + 7 * 86400);
    assert_int_equal(enc[100], 10);
    assert_memory_equal(enc + FIXED, "Cardiology", 10);
    assert_memory_equal(enc + FIXED + 10, f.d.patient_sig, 64);
    assert_memory_equal(enc + FIXED + 10 + 64, f.d.hospital_sig, 64);

    static const char pd[] = "medvault-delegation-v1\n", hd[] = "medvault-delegation-hospital-v1\n";
    memcpy(msg, pd, sizeof pd - 1);
    memcpy(msg + sizeof pd - 1, enc, FIXED + 10);
    assert_int_equal(mv_sign_verify(f.d.patient_sig, msg, sizeof pd - 1 + FIXED + 10, f.ppk), MV_OK);
    memcpy(msg, hd, sizeof hd - 1);
    memcpy(msg + sizeof hd - 1, enc, FIXED + 10 + 64);
    assert_int_equal(mv_sign_verify(f.d.hospital_sig, msg, sizeof hd - 1 + FIXED + 10 + 64, f.hpk), MV_OK);
    /* and not under the other's domain */
    assert_int_not_equal(mv_sign_verify(f.d.hospital_sig, msg, sizeof hd - 1 + FIXED + 10, f.hpk), MV_OK);
}

/* Every bit of the encoding after the magic: either decoding refuses it (MV_ERR_PARSE: the
 * department length, its characters, or a window that is no longer forward) or the decoded
 * delegation fails verification with MV_ERR_AUTH (a signature, never the time window first). */
static void test_bit_flips(void **state)
{
    (void)state;
    fixture f;
    uint8_t enc[MV_DELEGATION_MAX_BYTES];
    size_t n = 0, parse = 0, auth = 0;
    mv_delegation d;
    make_fixture(&f);
    assert_int_equal(mv_delegation_encode(&f.d, enc, sizeof enc, &n), MV_OK);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            enc[i] ^= (uint8_t)(1u << bit);
            mv_err rc = mv_delegation_decode(enc, n, &d);
            if (rc == MV_OK) {
                assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_ERR_AUTH);
                auth++;
            } else {
                assert_int_equal(rc, MV_ERR_PARSE);
                assert_true(tu_all_zero((const uint8_t *)&d, sizeof d));
                parse++;
            }
            enc[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(parse + auth, 8 * n);
    /* Every bit of both signatures decodes and then fails. */
    assert_true(auth >= 2 * 64 * 8);
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_OK);

    /* The same on the struct: each bit of each signed field and of both signatures. */
    struct {
        uint8_t *p;
        size_t len;
    } fields[] = {
        {d.patient, 32}, {d.doctor, 32}, {d.appointment, 16}, {(uint8_t *)&d.issued_at, 8},
        {(uint8_t *)&d.expires_at, 8}, {d.patient_sig, 64}, {d.hospital_sig, 64},
    };
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        for (size_t i = 0; i < fields[k].len * 8; i++) {
            fields[k].p[i / 8] ^= (uint8_t)(1u << (i % 8));
            assert_int_not_equal(mv_delegation_verify(&d, f.hpk, T0), MV_OK);
            if (k < 5) /* the patient signs these */
                assert_int_not_equal(mv_delegation_verify_patient(&d), MV_OK);
            fields[k].p[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
    }
    /* The department, character by character (to another allowed character). */
    for (size_t i = 0; d.department[i]; i++) {
        char c = d.department[i];
        d.department[i] = c == 'x' ? 'y' : 'x';
        assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_ERR_AUTH);
        assert_int_equal(mv_delegation_verify_patient(&d), MV_ERR_AUTH);
        d.department[i] = c;
    }
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_OK);
}

static void test_keys(void **state)
{
    (void)state;
    fixture f;
    mv_delegation d;
    make_fixture(&f);

    /* Wrong hospital key at verification, and a countersignature by another hospital. */
    assert_int_equal(mv_delegation_verify(&f.d, f.xpk, T0), MV_ERR_AUTH);
    d = f.d;
    assert_int_equal(mv_delegation_countersign(&d, f.xpk, f.xsk), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.xpk, T0), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_ERR_AUTH);
    /* Hospital sk/pk mismatch: refused, signature untouched. */
    d = f.d;
    assert_int_equal(mv_delegation_countersign(&d, f.hpk, f.xsk), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_OK);

    /* The patient's sk must be the secret key of d.patient (the doctor cannot sign it). */
    fill(&d, &f, "Cardiology");
    assert_int_equal(mv_delegation_sign(&d, f.dsk), MV_ERR_INVAL);
    assert_true(tu_all_zero(d.patient_sig, 64) && tu_all_zero(d.hospital_sig, 64));
    /* Patient == doctor is refused at signing, countersigning and verifying. */
    fill(&d, &f, "Cardiology");
    memcpy(d.doctor, f.ppk, 32);
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_ERR_INVAL);
    assert_true(tu_all_zero(d.patient_sig, 64) && tu_all_zero(d.hospital_sig, 64));
    /* Even with a hand-made valid patient signature over such a delegation. */
    {
        uint8_t enc[MV_DELEGATION_MAX_BYTES], msg[64 + MV_DELEGATION_MAX_BYTES];
        size_t n = 0;
        static const char pd[] = "medvault-delegation-v1\n";
        assert_int_equal(mv_delegation_encode(&d, enc, sizeof enc, &n), MV_OK);
        memcpy(msg, pd, sizeof pd - 1);
        memcpy(msg + sizeof pd - 1, enc, n - 128);
        assert_int_equal(mv_sign(d.patient_sig, msg, sizeof pd - 1 + n - 128, f.psk), MV_OK);
        assert_int_equal(mv_delegation_verify_patient(&d), MV_ERR_AUTH);
        assert_int_equal(mv_delegation_countersign(&d, f.hpk, f.hsk), MV_ERR_AUTH);
        assert_true(tu_all_zero(d.hospital_sig, 64));
    }
    /* A countersign over a forged patient signature is refused. */
    d = f.d;
    d.patient_sig[5] ^= 1;
    assert_int_equal(mv_delegation_countersign(&d, f.hpk, f.hsk), MV_ERR_AUTH);

    /* Field checks at signing. */
    fill(&d, &f, "Cardiology");
    d.expires_at = d.issued_at;
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_ERR_INVAL);
    fill(&d, &f, "");
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_ERR_INVAL);
    fill(&d, &f, "Cardio/logy");
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_ERR_INVAL);
    fill(&d, &f, "");
    memset(d.department, 'a', MV_DELEGATION_MAX_DEPT);
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_OK);
    memset(d.department, 'a', sizeof d.department); /* no NUL within the array */
    assert_int_equal(mv_delegation_sign(&d, f.psk), MV_ERR_INVAL);

    /* NULLs */
    assert_int_equal(mv_delegation_sign(NULL, f.psk), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_verify_patient(NULL), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_countersign(NULL, f.hpk, f.hsk), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_verify(NULL, f.hpk, T0), MV_ERR_INVAL);
}

static void test_window(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    const mv_delegation *d = &f.d;
    assert_int_equal(mv_delegation_verify(d, f.hpk, d->issued_at), MV_OK);
    assert_int_equal(mv_delegation_verify(d, f.hpk, d->expires_at - 1), MV_OK);
    assert_int_equal(mv_delegation_verify(d, f.hpk, d->expires_at), MV_ERR_EXPIRED);
    assert_int_equal(mv_delegation_verify(d, f.hpk, UINT64_MAX), MV_ERR_EXPIRED);
    /* The hospital's clock may run ahead by the issue skew. */
    assert_int_equal(mv_delegation_verify(d, f.hpk, d->issued_at - MV_CRED_ISSUE_SKEW), MV_OK);
    assert_int_equal(mv_delegation_verify(d, f.hpk, d->issued_at - MV_CRED_ISSUE_SKEW - 1), MV_ERR_EXPIRED);
    assert_int_equal(mv_delegation_verify(d, f.hpk, 0), MV_ERR_EXPIRED);
    /* Authenticity first: a forged delegation outside its window is MV_ERR_AUTH. */
    mv_delegation g = f.d;
    g.hospital_sig[0] ^= 1;
    assert_int_equal(mv_delegation_verify(&g, f.hpk, d->expires_at + 10), MV_ERR_AUTH);

    /* Near the top of the range (no wrap-around in the window arithmetic). */
    mv_delegation h;
    fill(&h, &f, "ER");
    h.issued_at = UINT64_MAX - 100;
    h.expires_at = UINT64_MAX;
    assert_int_equal(mv_delegation_sign(&h, f.psk), MV_OK);
    assert_int_equal(mv_delegation_countersign(&h, f.hpk, f.hsk), MV_OK);
    assert_int_equal(mv_delegation_verify(&h, f.hpk, UINT64_MAX - 200), MV_OK);
    assert_int_equal(mv_delegation_verify(&h, f.hpk, UINT64_MAX - 101 - MV_CRED_ISSUE_SKEW), MV_ERR_EXPIRED);
    /* Issued at 0 (below the skew). */
    fill(&h, &f, "ER");
    h.issued_at = 0;
    h.expires_at = 10;
    assert_int_equal(mv_delegation_sign(&h, f.psk), MV_OK);
    assert_int_equal(mv_delegation_countersign(&h, f.hpk, f.hsk), MV_OK);
    assert_int_equal(mv_delegation_verify(&h, f.hpk, 0), MV_OK);
    assert_int_equal(mv_delegation_verify(&h, f.hpk, 10), MV_ERR_EXPIRED);
}

static void test_codec(void **state)
{
    (void)state;
    fixture f;
    uint8_t enc[MV_DELEGATION_MAX_BYTES + 1], small[MV_DELEGATION_MAX_BYTES];
    size_t n = 0, m = 0;
    mv_delegation d;
    make_fixture(&f);

    assert_int_equal(mv_delegation_encode(&f.d, enc, sizeof enc, &n), MV_OK);
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_OK);
    assert_same(&d, &f.d);
    /* encode(decode(x)) == x */
    assert_int_equal(mv_delegation_encode(&d, small, sizeof small, &m), MV_OK);
    assert_int_equal(m, n);
    assert_memory_equal(small, enc, n);
    assert_int_equal(mv_delegation_encode(&f.d, small, n - 1, &m), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_delegation_encode(&f.d, small, n, &m), MV_OK);

    /* Every truncation and a trailing byte. */
    for (size_t len = 0; len < n; len++) {
        memset(&d, 0x55, sizeof d);
        assert_int_equal(mv_delegation_decode(enc, len, &d), MV_ERR_PARSE);
        assert_true(tu_all_zero((const uint8_t *)&d, sizeof d));
    }
    enc[n] = 0;
    assert_int_equal(mv_delegation_decode(enc, n + 1, &d), MV_ERR_PARSE);

    /* Every byte that is not a department character, at each department position. */
    size_t bad = 0;
    for (size_t i = 0; i < 10; i++) {
        uint8_t keep = enc[FIXED + i];
        for (int c = 0; c < 256; c++) {
            int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' ||
                     c == '_' || c == '.' || c == '-';
            enc[FIXED + i] = (uint8_t)c;
            mv_err rc = mv_delegation_decode(enc, n, &d);
            assert_int_equal(rc, ok ? MV_OK : MV_ERR_PARSE);
            bad += !ok;
        }
        enc[FIXED + i] = keep;
    }
    assert_int_equal(bad, 10 * (256 - 66));

    /* Department length 0 and over the maximum; a length that disagrees with the size. */
    enc[100] = 0;
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_ERR_PARSE);
    enc[100] = MV_DELEGATION_MAX_DEPT + 1;
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_ERR_PARSE);
    enc[100] = 9;
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_ERR_PARSE);
    enc[100] = 10;
    /* Bad magic; a window that is not forward. */
    enc[3] = '2';
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_ERR_PARSE);
    enc[3] = '1';
    memcpy(small, enc, n);
    memcpy(small + 92, small + 84, 8);
    assert_int_equal(mv_delegation_decode(small, n, &d), MV_ERR_PARSE);
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_OK);

    /* The longest delegation. */
    mv_delegation big;
    fill(&big, &f, "");
    memset(big.department, 'Z', MV_DELEGATION_MAX_DEPT);
    assert_int_equal(mv_delegation_sign(&big, f.psk), MV_OK);
    assert_int_equal(mv_delegation_countersign(&big, f.hpk, f.hsk), MV_OK);
    assert_int_equal(mv_delegation_encode(&big, enc, sizeof enc, &n), MV_OK);
    assert_int_equal(n, MV_DELEGATION_MAX_BYTES);
    assert_int_equal(mv_delegation_decode(enc, n, &d), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_OK);

    /* Encoding refuses what signing refuses. */
    d = f.d;
    d.department[0] = '/';
    assert_int_equal(mv_delegation_encode(&d, enc, sizeof enc, &n), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_verify(&d, f.hpk, T0), MV_ERR_AUTH);

    assert_int_equal(mv_delegation_decode(NULL, 10, &d), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_decode(enc, 10, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_encode(NULL, enc, sizeof enc, &n), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_encode(&f.d, NULL, sizeof enc, &n), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_encode(&f.d, enc, sizeof enc, NULL), MV_ERR_INVAL);
}

static void test_b64(void **state)
{
    (void)state;
    fixture f;
    char b64[MV_DELEGATION_B64_MAX], other[MV_DELEGATION_B64_MAX + 8];
    uint8_t enc[MV_DELEGATION_MAX_BYTES];
    size_t n = 0;
    mv_delegation d;
    make_fixture(&f);

    assert_int_equal(mv_delegation_to_b64(&f.d, b64, sizeof b64), MV_OK);
    assert_int_equal(strlen(b64), MV_B64_LEN(FIXED + 10 + 128));
    assert_int_equal(mv_delegation_from_b64(b64, strlen(b64), &d), MV_OK);
    assert_same(&d, &f.d);
    /* It is the base64 of the binary form. */
    assert_int_equal(mv_delegation_encode(&f.d, enc, sizeof enc, &n), MV_OK);
    assert_int_equal(mv_b64_encode(other, sizeof other, enc, n), MV_OK);
    assert_string_equal(other, b64);
    /* out_cap one short of the text and its NUL. */
    assert_int_equal(mv_delegation_to_b64(&f.d, other, strlen(b64)), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_delegation_to_b64(&f.d, other, strlen(b64) + 1), MV_OK);

    /* The largest fits MV_DELEGATION_B64_MAX. */
    mv_delegation big;
    fill(&big, &f, "");
    memset(big.department, 'q', MV_DELEGATION_MAX_DEPT);
    assert_int_equal(mv_delegation_sign(&big, f.psk), MV_OK);
    assert_int_equal(mv_delegation_to_b64(&big, other, sizeof other), MV_OK);
    assert_true(strlen(other) < MV_DELEGATION_B64_MAX);
    assert_int_equal(mv_delegation_from_b64(other, strlen(other), &d), MV_OK);
    assert_same(&d, &big);

    /* Bad base64: a foreign character, missing padding, non-zero padding bits, truncated. */
    size_t l = strlen(b64);
    memcpy(other, b64, l + 1);
    other[7] = '*';
    assert_int_equal(mv_delegation_from_b64(other, l, &d), MV_ERR_PARSE);
    assert_true(tu_all_zero((const uint8_t *)&d, sizeof d));
    assert_int_equal(mv_delegation_from_b64(b64, l - 1, &d), MV_ERR_PARSE);
    assert_int_equal(mv_delegation_from_b64(b64, l - 4, &d), MV_ERR_PARSE); /* decodes, too short */
    assert_int_equal(mv_delegation_from_b64(b64, 0, &d), MV_ERR_PARSE);
    /* Non-canonical: set an unused bit of the last data character before the padding. */
    assert_int_equal(b64[l - 1], '=');
    memcpy(other, b64, l + 1);
    {
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t pos = other[l - 2] == '=' ? l - 3 : l - 2;
        const char *p = strchr(alpha, other[pos]);
        assert_non_null(p);
        other[pos] = alpha[((size_t)(p - alpha)) ^ 1];
        assert_int_equal(mv_delegation_from_b64(other, l, &d), MV_ERR_PARSE);
    }
    /* Longer than any delegation. */
    memset(other, 'A', sizeof other);
    assert_int_equal(mv_delegation_from_b64(other, MV_B64_LEN(MV_DELEGATION_MAX_BYTES) + 4, &d),
                     MV_ERR_TOO_LARGE);
    /* Valid base64 of something that is not a delegation. */
    assert_int_equal(mv_delegation_from_b64("TVZEMQ==", 8, &d), MV_ERR_PARSE);

    assert_int_equal(mv_delegation_to_b64(NULL, other, sizeof other), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_to_b64(&f.d, NULL, sizeof other), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_from_b64(NULL, 4, &d), MV_ERR_INVAL);
    assert_int_equal(mv_delegation_from_b64(b64, l, NULL), MV_ERR_INVAL);
}

/* tests/vectors/delegation.json: delegations signed by an independent Ed25519 over the
 * documented layout decode, verify, and re-encode to the same bytes. */
static void test_vectors(void **state)
{
    (void)state;
    mv_json *j = tu_load_json("delegation.json");
    uint8_t hpk[32], ppk[32], dpk[32], enc[MV_DELEGATION_MAX_BYTES];
    size_t n = 0, ran = 0;
    mv_delegation d;
    assert_int_equal(mv_json_get_hex(j, "hospital_pk", hpk, 32), MV_OK);
    assert_int_equal(mv_json_get_hex(j, "patient_pk", ppk, 32), MV_OK);
    assert_int_equal(mv_json_get_hex(j, "doctor_pk", dpk, 32), MV_OK);
    const mv_json *valid = mv_json_get(j, "valid");
    for (size_t i = 0; i < mv_json_len(valid); i++) {
        const mv_json *v = mv_json_at(valid, i);
        size_t len = 0, dl = 0;
        uint8_t *bin = tu_json_hex(v, "hex", &len);
        const char *dept = mv_json_get_str(v, "dept", &dl);
        assert_int_equal(mv_delegation_decode(bin, len, &d), MV_OK);
        assert_memory_equal(d.patient, ppk, 32);
        assert_memory_equal(d.doctor, dpk, 32);
        assert_int_equal(strlen(d.department), dl);
        assert_memory_equal(d.department, dept, dl);
        assert_true(d.issued_at == tu_json_u64(v, "issued_at"));
        assert_true(d.expires_at == tu_json_u64(v, "expires_at"));
        assert_int_equal(mv_delegation_verify(&d, hpk, d.issued_at), MV_OK);
        assert_int_equal(mv_delegation_verify(&d, ppk, d.issued_at), MV_ERR_AUTH);
        assert_int_equal(mv_delegation_encode(&d, enc, sizeof enc, &n), MV_OK);
        assert_int_equal(n, len);
        assert_memory_equal(enc, bin, len);
        /* Our signer, with the generator's keys (seeds 32 x 0x01 patient, 0x03 hospital),
         * writes the same bytes (Ed25519 is deterministic). */
        {
            uint8_t seed[32], pk[32], psk[64], hsk[64];
            mv_delegation e = d;
            memset(seed, 1, sizeof seed);
            assert_int_equal(mv_sign_seed_keypair(pk, psk, seed), MV_OK);
            memset(seed, 3, sizeof seed);
            assert_int_equal(mv_sign_seed_keypair(pk, hsk, seed), MV_OK);
            assert_int_equal(mv_delegation_sign(&e, psk), MV_OK);
            assert_int_equal(mv_delegation_countersign(&e, hpk, hsk), MV_OK);
            assert_int_equal(mv_delegation_encode(&e, enc, sizeof enc, &n), MV_OK);
            assert_int_equal(n, len);
            assert_memory_equal(enc, bin, len);
        }
        mv_free(bin);
        ran++;
    }
    assert_int_equal(ran, 2);
    size_t len = 0;
    uint8_t *bin = tu_json_hex(j, "patient_only", &len);
    assert_int_equal(mv_delegation_decode(bin, len, &d), MV_OK);
    assert_true(tu_all_zero(d.hospital_sig, 64));
    assert_int_equal(mv_delegation_verify_patient(&d), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, hpk, d.issued_at), MV_ERR_AUTH);
    mv_free(bin);
    mv_json_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_layout), cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_keys),       cmocka_unit_test(test_window), cmocka_unit_test(test_codec),
        cmocka_unit_test(test_b64),        cmocka_unit_test(test_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
