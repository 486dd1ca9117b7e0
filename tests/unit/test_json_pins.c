/* test_json_pins.c - the exact bytes of JSON documents that other programs read or that are
 * compared byte for byte (alerts on the wire, metadata the decoy must mirror, --json output).
 * Each expectation was taken from the hand-written code before it moved to the mv_jw writer,
 * so a writer change that alters one byte fails here. */
#include "testutil.h"
#include <stdio.h>
#include <string.h>
#include "medvault/mv_alert.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"

static void test_alert(void **state)
{
    (void)state;
    static const uint8_t pk[32] = {0xab, 0x01};
    mv_alert a;
    mv_buf b;
    mv_alert_fill(&a, 1795247509, "storage", "honeytoken", pk, "127.0.0.1", "rec\"1", "honeytoken read");
    mv_buf_init(&b, 4096);
    assert_int_equal(mv_alert_to_json(&a, 3, &b), MV_OK);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    assert_string_equal((char *)b.ptr,
                        "{\"at\":1795247509,\"source\":\"storage\",\"kind\":\"honeytoken\",\"principal\":"
                        "\"ab01000000000000000000000000000000000000000000000000000000000000\","
                        "\"address\":\"127.0.0.1\",\"object\":\"rec\\\"1\",\"reason\":\"honeytoken read\",\"count\":3}");
    /* An unknown principal is the empty string, not null. */
    mv_alert_fill(&a, 0, "decoy", "decoy_served", NULL, "", "", "");
    mv_buf_reset(&b);
    assert_int_equal(mv_alert_to_json(&a, 0, &b), MV_OK);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    assert_string_equal((char *)b.ptr, "{\"at\":0,\"source\":\"decoy\",\"kind\":\"decoy_served\",\"principal\":\"\","
                                       "\"address\":\"\",\"object\":\"\",\"reason\":\"\",\"count\":0}");
    /* The cap still holds: a buffer too small for the object is MV_ERR_TOO_LARGE. */
    mv_buf_clear(&b);
    mv_buf_init(&b, 16);
    assert_int_equal(mv_alert_to_json(&a, 0, &b), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
}

/* share.json: a key server started by a later build must read what this one wrote. */
static void test_share_file(void **state)
{
    (void)state;
    mv_ks_share s;
    uint8_t k[32] = {7};
    char path[4096], sh[65], p1[65], p2[65];
    mv_buf b, want;
    memset(&s, 0, sizeof s);
    s.index = 1;
    s.threshold = 1;
    s.n = 2;
    s.epoch = 3;
    memcpy(s.share, k, 32);
    mv_r255_smul_base_any(s.public_shares[0], k);
    mv_r255_smul_base_any(s.public_shares[1], k); /* threshold 1: one polynomial value */
    const char *dir = tu_tmpdir();
    assert_int_equal(mv_ks_share_save(dir, &s), MV_OK);
    assert_true((size_t)snprintf(path, sizeof path, "%s/share.json", dir) < sizeof path);
    mv_buf_init(&b, 1 << 16);
    mv_buf_init(&want, 1 << 16);
    assert_int_equal(mv_file_read(path, 1 << 16, &b), MV_OK);
    assert_int_equal(mv_hex_encode(sh, sizeof sh, k, 32), MV_OK);
    assert_int_equal(mv_hex_encode(p1, sizeof p1, s.public_shares[0], 32), MV_OK);
    assert_int_equal(mv_hex_encode(p2, sizeof p2, s.group_pk, 32), MV_OK);
    assert_string_equal(p1, p2); /* t = 1: the group key is the one public share */
    assert_int_equal(mv_buf_printf(&want,
                                   "{\"version\":1,\"index\":1,\"threshold\":1,\"servers\":2,\"epoch\":3,\"share\":\"%s\","
                                   "\"group_public_key\":\"%s\",\"public_shares\":[\"%s\",\"%s\"]}\n",
                                   sh, p1, p1, p1),
                     MV_OK);
    assert_int_equal(b.len, want.len);
    assert_memory_equal(b.ptr, want.ptr, want.len);
    mv_buf_clear(&b);
    mv_buf_clear(&want);
}

/* dir/name must hold exactly want. */
static void expect_file(const char *dir, const char *name, const char *want)
{
    char path[4096];
    mv_buf got;
    assert_true((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) < sizeof path);
    mv_buf_init(&got, 1 << 16);
    assert_int_equal(mv_file_read(path, 1 << 16, &got), MV_OK);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
    mv_buf_clear(&got);
}

/* An identity's files (keys, public.json, hospital.pin) as older builds wrote them. */
static void test_identity_files(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    mv_identity *id = NULL;
    char seed[65], bsk[65], bpk[65], spk[65], hosp[65], want[512];
    static const uint8_t hpk[32] = {0x11, 0x22};
    assert_int_equal(mv_identity_create(dir, &id), MV_OK);
    assert_int_equal(mv_hex_encode(seed, sizeof seed, mv_identity_sign_sk(id), 32), MV_OK); /* sk = seed || pk */
    assert_int_equal(mv_hex_encode(bsk, sizeof bsk, mv_identity_box_sk(id), 32), MV_OK);
    assert_int_equal(mv_hex_encode(bpk, sizeof bpk, mv_identity_box_pk(id), 32), MV_OK);
    assert_int_equal(mv_hex_encode(spk, sizeof spk, mv_identity_sign_pk(id), 32), MV_OK);
    assert_int_equal(mv_hex_encode(hosp, sizeof hosp, hpk, 32), MV_OK);
    snprintf(want, sizeof want, "{\"version\":1,\"sign_seed\":\"%s\",\"box_secret\":\"%s\",\"box_public\":\"%s\"}\n",
             seed, bsk, bpk);
    expect_file(dir, "keys", want);
    snprintf(want, sizeof want, "{\"sign_public_key\":\"%s\",\"box_public_key\":\"%s\"}\n", spk, bpk);
    expect_file(dir, "public.json", want);
    assert_int_equal(mv_identity_pin_hospital(dir, hpk), MV_OK);
    snprintf(want, sizeof want, "{\"hospital_public_key\":\"%s\"}\n", hosp);
    expect_file(dir, "hospital.pin", want);
    mv_wipe(seed, sizeof seed);
    mv_wipe(bsk, sizeof bsk);
    mv_wipe(want, sizeof want);
    mv_identity_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert),
        cmocka_unit_test(test_share_file),
        cmocka_unit_test(test_identity_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
