/* decoy_synth.c - the decoy cloud's invented shapes for callers who did not prove their key
 * (mv_decoy_shape_synth, mv_decoy_synth_list; docs/decoy.md): records that exist nowhere,
 * decided by the seed and the id alone, whose content decoy_gen.c then generates like any
 * other decoy's. */
#include "medvault/mv_decoy.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_mem.h"
#include "decoy_drbg.h"

/* ---------- shapes for unverified callers ----------
 * An invented world that looks like the primary's since issue 12 (docs/decoy.md, "Callers who
 * did not prove their key"): invented reader sets (scopes: a doctor, and a patient's episode
 * or none), each with its MVK1 keyset made just before the scope's first record, and MVE2
 * records under it, all with time-ordered ids (mv_record_id_new's layout: 6 bytes of
 * milliseconds, 10 that look random). The 10 bytes of an invented id hide which scope and
 * member it is (a MAC under the seed, so nobody else can make or recognise one), which lets
 * mv_decoy_shape_synth answer from the id alone, as it must: the decoy cloud keeps no state
 * for these. */

/* Departments a synthetic record is filed under: generic ones this generator has content for;
 * never the deployment's own (the decoy cloud does not learn them from an unverified caller). */
static const char *const synth_depts[] = {"cardiology", "neurology", "oncology", "endocrinology", "emergency",
                                          "internal-medicine"};
#define SYNTH_DOCTORS 24     /* invented clinicians per department */
#define SYNTH_PATIENTS 4096  /* invented patients */
#define SYNTH_SCOPES 1024u   /* invented reader sets, one keyset each */
#define SYNTH_PER_SCOPE 4u   /* invented records per scope */
#define SYNTH_POOL (SYNTH_SCOPES * SYNTH_PER_SCOPE) /* invented record ids listings are drawn from */
#define DAY_MS 86400000ull
#define SYNTH_AGE_MAX_MS (2ull * 365 * DAY_MS) /* the invented history: two years before the anchor */
#define SYNTH_EPISODE_MS (60ull * DAY_MS)      /* a scope's records follow its keyset within */
#define SYNTH_TRIES 16                         /* scopes tried for a foreign id (synth_place) */
/* An id's first 6 bytes are its creation time when they read as a time from 2010 to 50 years
 * after the anchor: every id mv_record_id_new draws does; a random 16-byte id (the format
 * before issue 12) does with probability below 1%, and then gets that time, consistently. */
#define SYNTH_PLAUSIBLE_MIN 1262304000ull /* 2010-01-01 */
#define SYNTH_PLAUSIBLE_AHEAD (50ull * 365 * 86400)
enum { W_RECORD = 1, W_KEYSET = 2 };

/* Record sizes, measured on the primary (docs/decoy.md: 300 gen-emr prescriptions and
 * bench/gen_fhir.py resources of eight types, `medvault ls --json`): the MVE2 envelope's body
 * (envelope bytes - 49) and each block's ciphertext, per kind of resource, and how often the
 * kind is drawn (per cent). */
typedef struct synth_size {
    uint32_t body_lo, body_hi, n_blocks, blk_lo, blk_hi, weight;
} synth_size;
static const synth_size synth_sizes[] = {
    {311, 376, 1, 524, 552, 30}, /* prescriptions as gen-emr writes them */
    {244, 282, 1, 488, 536, 25}, /* MedicationRequest as common exporters write it */
    {208, 249, 1, 165, 250, 20}, /* Condition, Observation, AllergyIntolerance */
    {267, 340, 1, 27, 27, 7},    /* Encounter, Patient: a content block of a few bytes */
    {307, 332, 1, 133, 148, 5},  /* Procedure */
    {263, 272, 1, 121, 199, 8},  /* Immunization */
    {882, 921, 3, 290, 335, 5},  /* a small transaction Bundle */
};

/* The world's keys, from the seed alone: ks draws scopes and member times, kc and km make and
 * recognise ids (synth_id). */
typedef struct synth_world {
    uint8_t ks[32], kc[32], km[32];
    uint64_t anchor_ms;
} synth_world;

typedef struct synth_scope {
    uint32_t dept, doctor, patient; /* doctor: an index over every department's clinicians */
    int has_patient;
    uint8_t episode[16]; /* zero without a patient */
    uint64_t t0;          /* its keyset's creation, ms since the epoch */
} synth_scope;

static mv_err synth_world_open(synth_world *w, const uint8_t seed[MV_DECOY_SEED_BYTES], uint64_t anchor)
{
    uint8_t k[96];
    mv_err rc = mv_hkdf_sha256(k, sizeof k, (const uint8_t *)"medvault-decoy-world-v2", 23, seed, MV_DECOY_SEED_BYTES,
                               NULL, 0);
    if (rc == MV_OK) {
        memcpy(w->ks, k, 32);
        memcpy(w->kc, k + 32, 32);
        memcpy(w->km, k + 64, 32);
    }
    w->anchor_ms = anchor * 1000;
    sodium_memzero(k, sizeof k);
    return rc;
}

static void synth_world_close(synth_world *w)
{
    sodium_memzero(w, sizeof *w);
}

/* Uniform in [0, n) for n above 32 bits (bias below 2^-27 for the spans used here). */
static uint64_t below64(drbg *d, uint64_t n)
{
    return drbg_u64(d) % n;
}

static void synth_scope_of(const synth_world *w, uint32_t c, synth_scope *sc)
{
    drbg d;
    drbg_init(&d, w->ks, DOM_CHOICE, c);
    memset(sc, 0, sizeof *sc);
    sc->dept = skewed(&d, (uint32_t)(sizeof synth_depts / sizeof *synth_depts));
    sc->doctor = sc->dept * SYNTH_DOCTORS + skewed(&d, SYNTH_DOCTORS);
    /* Most records are written for a patient (the keyset of doctor and patient for the
     * episode); some are the doctor's own (a keyset with her alone). */
    sc->has_patient = below(&d, 10) != 0;
    if (sc->has_patient) {
        sc->patient = below(&d, SYNTH_PATIENTS);
        drbg_bytes(&d, sc->episode, 16);
    }
    /* Old enough that its whole episode lies a day before the anchor. */
    uint64_t span = SYNTH_AGE_MAX_MS - SYNTH_EPISODE_MS - DAY_MS;
    uint64_t age = SYNTH_EPISODE_MS + DAY_MS + below64(&d, span);
    sc->t0 = w->anchor_ms > age ? w->anchor_ms - age : 1;
}

/* Creation time (ms) of member m of scope c: the first right after the keyset (a put stores
 * the keyset, then its records), the others spread over the episode. */
static uint64_t synth_member_ms(const synth_world *w, const synth_scope *sc, uint32_t c, uint32_t m)
{
    drbg d;
    drbg_init(&d, w->ks, DOM_TEXT, (uint64_t)c * SYNTH_PER_SCOPE + m);
    if (m == 0)
        return sc->t0 + range_u(&d, 3, 120);
    return sc->t0 + 1000 + below64(&d, SYNTH_EPISODE_MS);
}

/* The check and the mask of an invented id: check = HMAC(kc, time || payload)[0..6],
 * mask = HMAC(km, time || check)[0..4]; the id is time | payload ^ mask | check. */
static mv_err synth_mac(const uint8_t key[32], const uint8_t t[6], const uint8_t *x, size_t n, uint8_t h[32])
{
    uint8_t in[16];
    memcpy(in, t, 6);
    memcpy(in + 6, x, n);
    return mv_hmac_sha256(h, key, 32, in, 6 + n);
}

static mv_err synth_id(const synth_world *w, uint8_t type, uint32_t c, uint32_t m, uint64_t ms, uint8_t id[16])
{
    uint8_t p[4] = {type, (uint8_t)c, (uint8_t)(c >> 8), (uint8_t)m}, h[32];
    mv_err rc;
    for (int i = 0; i < 6; i++)
        id[i] = (uint8_t)(ms >> (8 * (5 - i)));
    if ((rc = synth_mac(w->kc, id, p, sizeof p, h)) != MV_OK)
        return rc;
    memcpy(id + 10, h, 6);
    if ((rc = synth_mac(w->km, id, id + 10, 6, h)) != MV_OK)
        return rc;
    for (int i = 0; i < 4; i++)
        id[6 + i] = p[i] ^ h[i];
    return MV_OK;
}

static uint64_t id_ms(const uint8_t id[16])
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms;
}

/* 1 if id is an invented one of this world (type, scope *c and member *m out), 0 otherwise
 * (also when the MAC or the time does not agree). */
static int synth_decode(const synth_world *w, const uint8_t id[16], uint8_t *type, uint32_t *c, uint32_t *m,
                        synth_scope *sc)
{
    uint8_t h[32], p[4], want[16];
    if (synth_mac(w->km, id, id + 10, 6, h) != MV_OK)
        return 0;
    for (int i = 0; i < 4; i++)
        p[i] = id[6 + i] ^ h[i];
    *type = p[0];
    *c = (uint32_t)p[1] | (uint32_t)p[2] << 8;
    *m = p[3];
    if ((*type != W_RECORD && *type != W_KEYSET) || *c >= SYNTH_SCOPES || *m >= SYNTH_PER_SCOPE ||
        (*type == W_KEYSET && *m != 0))
        return 0;
    synth_scope_of(w, *c, sc);
    uint64_t ms = *type == W_KEYSET ? sc->t0 : synth_member_ms(w, sc, *c, *m);
    return synth_id(w, *type, *c, *m, ms, want) == MV_OK && sodium_memcmp(want, id, 16) == 0;
}

/* 1 if id's first 6 bytes read as a creation time a record could have (seconds in *t). */
static int plausible_time(const uint8_t id[16], uint64_t anchor, uint64_t *t)
{
    *t = id_ms(id) / 1000;
    return *t >= SYNTH_PLAUSIBLE_MIN && *t <= anchor + SYNTH_PLAUSIBLE_AHEAD;
}

/* Where a record id that is not one of the world's (a honeytoken, a real id, a guessed one)
 * belongs: a scope whose keyset is older than the record (*c), and the record's creation time
 * (*created, seconds): its id's time when plausible, else one of the invented history. */
static void synth_place(const synth_world *w, drbg *d, const uint8_t id[16], uint64_t anchor, uint32_t *c,
                        synth_scope *sc, uint64_t *created)
{
    int timed = plausible_time(id, anchor, created);
    if (!timed) {
        uint64_t age = 86400 + below64(d, SYNTH_AGE_MAX_MS / 1000);
        *created = anchor > age ? anchor - age : 1;
    }
    for (int t = 0; t < SYNTH_TRIES; t++) {
        *c = below(d, SYNTH_SCOPES);
        synth_scope_of(w, *c, sc);
        if (sc->t0 + 1000 <= *created * 1000)
            return;
    }
    /* No older scope among the tries (a time early in the history): an invented time can
     * follow the last scope's keyset; an id's own time stays (a real id is never this old). */
    if (!timed)
        *created = sc->t0 / 1000 + 1 + below64(d, SYNTH_EPISODE_MS / 1000);
}

/* A key pair of an invented person: a real Ed25519 key (it decodes to a curve point, as every
 * real key does) and an X25519 key, both from HMAC(k, who || index). */
static mv_err synth_person(const uint8_t k[32], const char *who, uint32_t index, uint8_t sign_pk[32],
                           uint8_t box_pk[32])
{
    uint8_t in[40], seed[32], sk[64], bsk[32];
    size_t n = strlen(who);
    if (n > 32)
        n = 32;
    memset(in, 0, sizeof in);
    memcpy(in, who, n);
    for (int i = 0; i < 4; i++)
        in[32 + i] = (uint8_t)(index >> (8 * i));
    mv_err rc = mv_hmac_sha256(seed, k, 32, in, sizeof in);
    if (rc == MV_OK && crypto_sign_seed_keypair(sign_pk, sk, seed) != 0)
        rc = MV_ERR_CRYPTO;
    seed[0] ^= 0x5a; /* a different seed for the encryption key */
    if (rc == MV_OK && crypto_box_seed_keypair(box_pk, bsk, seed) != 0)
        rc = MV_ERR_CRYPTO;
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(bsk, sizeof bsk);
    return rc;
}

/* The scope's people into out: department, owner (the doctor), patient and episode, and for a
 * keyset its readers (doctor and patient, sorted as a client seals them). */
static mv_err synth_people(const uint8_t dk[32], const synth_scope *sc, int keyset, mv_decoy_shape *out)
{
    uint8_t box[2][32];
    mv_err rc;
    snprintf(out->department, sizeof out->department, "%s", synth_depts[sc->dept]);
    if ((rc = synth_person(dk, "doctor", sc->doctor, out->owner, box[0])) != MV_OK)
        return rc;
    if (sc->has_patient) {
        if ((rc = synth_person(dk, "patient", sc->patient, out->patient, box[1])) != MV_OK)
            return rc;
        memcpy(out->episode, sc->episode, 16);
    }
    if (!keyset)
        return MV_OK;
    out->n_readers = sc->has_patient ? 2 : 1;
    int swap = sc->has_patient && memcmp(box[0], box[1], 32) > 0;
    memcpy(out->readers[0], box[swap], 32);
    if (sc->has_patient)
        memcpy(out->readers[1], box[!swap], 32);
    return MV_OK;
}

mv_err mv_decoy_shape_synth(const uint8_t seed[static MV_DECOY_SEED_BYTES], const uint8_t id[static 16],
                            uint64_t anchor, mv_decoy_shape *out)
{
    uint8_t k[32], dk[32];
    synth_world w;
    synth_scope sc;
    drbg d;
    mv_err rc;
    if (!out)
        return MV_ERR_INVAL;
    mv_decoy_shape_clear(out);
    if (!seed || !id)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    memset(&w, 0, sizeof w);
    /* Its own key (a different salt from mv_decoy_generate's): nothing here is shared with the
     * decoy of a real record of the same id. Version 2: the world of issue 12 (MVE2 records
     * under keysets, time-ordered ids); version 1 made MVE1 shapes. */
    if ((rc = mv_hkdf_sha256(k, 32, (const uint8_t *)"medvault-decoy-synth-v2", 23, seed, MV_DECOY_SEED_BYTES, id,
                             16)) != MV_OK ||
        (rc = mv_hkdf_sha256(dk, 32, (const uint8_t *)"medvault-decoy-people-v1", 24, seed, MV_DECOY_SEED_BYTES,
                             NULL, 0)) != MV_OK ||
        (rc = synth_world_open(&w, seed, anchor)) != MV_OK)
        goto out;
    drbg_init(&d, k, DOM_CHOICE, 0);
    memcpy(out->id, id, 16);
    uint8_t type = 0;
    uint32_t c = 0, m = 0;
    int mine = synth_decode(&w, id, &type, &c, &m, &sc);
    if (mine && type == W_KEYSET) {
        /* The scope's keyset: its readers' key sealed to each, nothing else. */
        out->kind = MV_DECOY_MVK1;
        memcpy(out->kid, id, 16);
        out->created = sc.t0 / 1000;
        if ((rc = synth_people(dk, &sc, 1, out)) != MV_OK)
            goto out;
        out->env_len = KEYSET_FIXED + ENV_ENTRY * out->n_readers;
        rc = MV_OK;
        goto out;
    }
    if (mine) /* a record of the world: created when its id says */
        out->created = id_ms(id) / 1000;
    else
        synth_place(&w, &d, id, anchor, &c, &sc, &out->created);
    out->kind = MV_DECOY_MVE2;
    if ((rc = synth_id(&w, W_KEYSET, c, 0, sc.t0, out->kid)) != MV_OK || (rc = synth_people(dk, &sc, 0, out)) != MV_OK)
        goto out;
    /* Now and then shared with one more clinician of the department: an entry of its own. */
    if (below(&d, 8) == 0) {
        uint8_t spk[32], box[32], own[32];
        if ((rc = synth_person(dk, "doctor", sc.dept * SYNTH_DOCTORS + below(&d, SYNTH_DOCTORS), spk, box)) !=
                MV_OK ||
            (rc = synth_person(dk, "doctor", sc.doctor, spk, own)) != MV_OK)
            goto out;
        if (memcmp(box, own, 32) != 0) {
            memcpy(out->readers[0], box, 32);
            out->n_readers = 1;
        }
    }
    /* A kind of record by its share (the weights sum to 100). */
    uint32_t x = below(&d, 100), i = 0, acc = synth_sizes[0].weight;
    while (acc <= x)
        acc += synth_sizes[++i].weight;
    const synth_size *z = &synth_sizes[i];
    out->n_blocks = z->n_blocks;
    if (!(out->block_len = mv_mallocarray(out->n_blocks, sizeof(uint32_t)))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (uint32_t b = 0; b < out->n_blocks; b++)
        out->block_len[b] = range_u(&d, z->blk_lo, z->blk_hi);
    out->env_len = ENV2_FIXED + ENV_ENTRY * out->n_readers + range_u(&d, z->body_lo, z->body_hi);
    rc = MV_OK;
out:
    sodium_memzero(k, sizeof k);
    sodium_memzero(dk, sizeof dk);
    synth_world_close(&w);
    if (rc != MV_OK)
        mv_decoy_shape_clear(out);
    return rc;
}

/* Appends the keyset of the scope id belongs to, unless ids[0..*n) holds it or cap is
 * reached. */
static mv_err add_keyset(const synth_world *w, const uint8_t id[16], uint64_t anchor,
                         const uint8_t seed[MV_DECOY_SEED_BYTES],
                         uint8_t (*ids)[16], size_t *n, size_t cap)
{
    uint8_t type, kid[16], k[32];
    uint32_t c, m;
    synth_scope sc;
    mv_err rc = MV_OK;
    if (!synth_decode(w, id, &type, &c, &m, &sc)) {
        /* A foreign id: the scope mv_decoy_shape_synth places it in. */
        drbg d;
        uint64_t created;
        if ((rc = mv_hkdf_sha256(k, 32, (const uint8_t *)"medvault-decoy-synth-v2", 23, seed, MV_DECOY_SEED_BYTES,
                                 id, 16)) != MV_OK)
            goto out;
        drbg_init(&d, k, DOM_CHOICE, 0);
        synth_place(w, &d, id, anchor, &c, &sc, &created);
    }
    if ((rc = synth_id(w, W_KEYSET, c, 0, sc.t0, kid)) != MV_OK)
        goto out;
    for (size_t i = 0; i < *n; i++)
        if (memcmp(ids[i], kid, 16) == 0)
            goto out;
    if (*n < cap)
        memcpy(ids[(*n)++], kid, 16);
out:
    sodium_memzero(k, sizeof k);
    return rc;
}

size_t mv_decoy_synth_list(const uint8_t seed[static MV_DECOY_SEED_BYTES], const uint8_t *selector,
                           uint64_t anchor, const uint8_t (*extra)[16], size_t n_extra, uint8_t (*ids)[16],
                           size_t cap)
{
    uint8_t k[32];
    static const uint8_t anonymous[32];
    uint32_t picked[MV_DECOY_SYNTH_RECORDS_MAX];
    synth_world w;
    drbg d;
    size_t n = 0, n_rec = 0;
    memset(&w, 0, sizeof w);
    if (!seed || !ids || cap == 0 || (n_extra && !extra) || n_extra > MV_DECOY_MAX_SHAPES)
        return 0;
    if (mv_crypto_init() != MV_OK ||
        mv_hkdf_sha256(k, 32, (const uint8_t *)"medvault-decoy-list-v1", 22, seed, MV_DECOY_SEED_BYTES,
                       selector ? selector : anonymous, 32) != MV_OK ||
        synth_world_open(&w, seed, anchor) != MV_OK)
        goto out;
    drbg_init(&d, k, DOM_CHOICE, 0);
    size_t want = range_u(&d, 12, MV_DECOY_SYNTH_RECORDS_MAX), universe = SYNTH_POOL + n_extra;
    if (want > cap)
        want = cap;
    /* Distinct members of one pool (the invented ids and the extra ones alike), so that no id
     * shows in more listings than another: a listing claimed for another key draws again. */
    while (n_rec < want) {
        uint32_t j = below(&d, (uint32_t)universe), dup = 0;
        for (size_t i = 0; i < n_rec && !dup; i++)
            dup = picked[i] == j;
        if (dup)
            continue;
        picked[n_rec] = j;
        if (j >= SYNTH_POOL) {
            memcpy(ids[n_rec], extra[j - SYNTH_POOL], 16);
        } else {
            uint32_t c = j / SYNTH_PER_SCOPE, m = j % SYNTH_PER_SCOPE;
            synth_scope sc;
            synth_scope_of(&w, c, &sc);
            if (synth_id(&w, W_RECORD, c, m, synth_member_ms(&w, &sc, c, m), ids[n_rec]) != MV_OK) {
                n = 0;
                goto out;
            }
        }
        n_rec++;
    }
    /* The keysets of those records' scopes, listed as a real user's are (blocks 0). */
    n = n_rec;
    for (size_t i = 0; i < n_rec; i++)
        if (add_keyset(&w, ids[i], anchor, seed, ids, &n, cap) != MV_OK) {
            n = 0;
            goto out;
        }
out:
    sodium_memzero(k, sizeof k);
    synth_world_close(&w);
    return n;
}
