/* cmd_genimaging.c - `medvault gen-imaging`: synthetic, seed-deterministic DICOM-like attachments
 * for benchmarks of content-defined chunking and dedup. Every name, identifier and pixel is
 * invented; nothing here is patient data, and the files are not meant to be clinically valid. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gen_common.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define MIB (1024u * 1024u)
#define DIM 512u                          /* rows = columns */
#define FRAME_BYTES (DIM * DIM * 2u)      /* 16-bit pixels: 512 KiB per frame */
#define MIN_FRAMES 4u                     /* 2 MiB */
#define MAX_FRAMES 32u                    /* 16 MiB */
#define MAX_EDIT (8u * 1024u)             /* inserted or changed bytes: 1 to 8 KiB */
#define MAX_MIB 65536u

enum { DOM_PLAN = 11, DOM_HEADER, DOM_PIXELS, DOM_EDIT };
enum { K_ORIGINAL, K_REHEADER, K_INSERT, K_MODIFY };
static const char *const kind_names[] = {"original", "reheader", "insert", "modify"};

typedef struct img {
    size_t frames;
    int kind;
    size_t src;           /* original it derives from (itself for an original) */
    size_t header_id;     /* whose header fields it carries */
    size_t edit_off;      /* offset of the edit inside the pixel data */
    size_t edit_len;      /* bytes inserted or changed (0 for reheader/original) */
    size_t header_bytes;  /* preamble + "DICM" + elements up to the pixel data value */
    size_t bytes;         /* whole file */
} img;

/* ---- DICOM-like header (PS3.10 file format, explicit VR little endian, PS3.5 section 7.1.2) - */

static const char *const given[] = {"JOHN", "MARY", "AHMED", "SOFIA", "WEI", "INGRID", "KOFI", "LUCIA",
                                    "PIERRE", "PRIYA", "MATEO", "CHLOE", "HIROSHI", "FATIMA", "LARS"};
static const char *const family[] = {"SMITH", "GARCIA", "OKAFOR", "KOWALSKI", "NGUYEN", "SCHMIDT",
                                     "ROSSI", "HADDAD", "TANAKA", "PATEL", "DUBOIS", "OBRIEN",
                                     "JOHANSSON", "VAN DER BERG", "MARTINEZ-LOPEZ"};
static const char *const descriptions[] = {"CT HEAD WO CONTRAST", "CT CHEST W CONTRAST", "CT ABDOMEN PELVIS",
                                           "MR BRAIN", "MR LUMBAR SPINE WO", "CT ANGIO CHEST PE PROTOCOL",
                                           "MR KNEE LEFT", "CT SINUS"};

typedef struct dcm_fields {
    char patient_name[80], patient_id[24], birth[12], study_date[12], study_time[12], accession[20];
    char study_uid[64], series_uid[64], sop_uid[64], physician[80];
    const char *description, *sex, *modality;
    unsigned series, instance;
} dcm_fields;

/* "2.25." followed by the decimal value of a 128-bit random number (PS3.5 section B.2). */
static void make_uid(gen_rng *r, char out[64])
{
    uint32_t limb[4];
    uint64_t a = gen_next(r), b = gen_next(r);
    limb[0] = (uint32_t)(a >> 32), limb[1] = (uint32_t)a, limb[2] = (uint32_t)(b >> 32), limb[3] = (uint32_t)b;
    limb[0] &= 0x7fffffffu; /* keep it below 2^127 so it never starts with a long run of digits */
    char digits[48];
    size_t nd = 0;
    int nonzero = 1;
    while (nonzero) {
        uint64_t rem = 0;
        nonzero = 0;
        for (int i = 0; i < 4; i++) {
            uint64_t cur = (rem << 32) | limb[i];
            limb[i] = (uint32_t)(cur / 10);
            rem = cur % 10;
            nonzero |= limb[i] != 0;
        }
        digits[nd++] = (char)('0' + rem);
    }
    size_t o = (size_t)snprintf(out, 64, "2.25.");
    while (nd && o < 63)
        out[o++] = digits[--nd];
    out[o] = '\0';
}

static void header_fields(uint64_t seed, size_t id, dcm_fields *f)
{
    gen_rng r;
    gen_rng_init(&r, seed, DOM_HEADER, id);
    memset(f, 0, sizeof *f);
    snprintf(f->patient_name, sizeof f->patient_name, "%s^%s", family[gen_below(&r, 15)], given[gen_below(&r, 15)]);
    snprintf(f->patient_id, sizeof f->patient_id, "PID%07llu", (unsigned long long)gen_below(&r, 10000000));
    snprintf(f->birth, sizeof f->birth, "%04u%02u%02u", (unsigned)gen_range(&r, 1930, 2015),
             (unsigned)gen_range(&r, 1, 12), (unsigned)gen_range(&r, 1, 28));
    snprintf(f->study_date, sizeof f->study_date, "2025%02u%02u", (unsigned)gen_range(&r, 1, 12),
             (unsigned)gen_range(&r, 1, 28));
    snprintf(f->study_time, sizeof f->study_time, "%02u%02u%02u", (unsigned)gen_range(&r, 7, 19),
             (unsigned)gen_below(&r, 60), (unsigned)gen_below(&r, 60));
    snprintf(f->accession, sizeof f->accession, "ACC%09llu", (unsigned long long)gen_below(&r, 1000000000));
    snprintf(f->physician, sizeof f->physician, "%s^%s", family[gen_below(&r, 15)], given[gen_below(&r, 15)]);
    make_uid(&r, f->study_uid);
    make_uid(&r, f->series_uid);
    make_uid(&r, f->sop_uid);
    f->description = descriptions[gen_below(&r, sizeof descriptions / sizeof descriptions[0])];
    f->modality = f->description[0] == 'M' ? "MR" : "CT";
    f->sex = gen_chance(&r, 50) ? "F" : "M";
    f->series = (unsigned)gen_range(&r, 1, 12);
    f->instance = 1;
}

static int long_vr(const char *vr)
{
    return !strcmp(vr, "OB") || !strcmp(vr, "OW") || !strcmp(vr, "SQ") || !strcmp(vr, "UN") || !strcmp(vr, "UT");
}

/* Appends one element; string values are padded to even length (UI with NUL, others space). */
static mv_err el(mv_buf *b, uint16_t group, uint16_t elem, const char *vr, const void *val, size_t len)
{
    uint8_t h[12];
    size_t hl, pad = len & 1;
    uint32_t vl = (uint32_t)(len + pad);
    h[0] = (uint8_t)group, h[1] = (uint8_t)(group >> 8), h[2] = (uint8_t)elem, h[3] = (uint8_t)(elem >> 8);
    h[4] = (uint8_t)vr[0], h[5] = (uint8_t)vr[1];
    if (long_vr(vr)) {
        h[6] = h[7] = 0;
        h[8] = (uint8_t)vl, h[9] = (uint8_t)(vl >> 8), h[10] = (uint8_t)(vl >> 16), h[11] = (uint8_t)(vl >> 24);
        hl = 12;
    } else {
        h[6] = (uint8_t)vl, h[7] = (uint8_t)(vl >> 8);
        hl = 8;
    }
    mv_err rc = mv_buf_append(b, h, hl);
    if (rc == MV_OK && len)
        rc = mv_buf_append(b, val, len);
    if (rc == MV_OK && pad)
        rc = mv_buf_append(b, !strcmp(vr, "UI") ? "\0" : " ", 1);
    return rc;
}

static mv_err el_str(mv_buf *b, uint16_t group, uint16_t elem, const char *vr, const char *s)
{
    return el(b, group, elem, vr, s, strlen(s));
}

static mv_err el_us(mv_buf *b, uint16_t group, uint16_t elem, unsigned v)
{
    uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return el(b, group, elem, "US", le, 2);
}

/* Builds everything before the pixel data value: preamble, "DICM", the file meta group, the
 * data set and the (7FE0,0010) OW element header announcing pixel_len bytes. */
static mv_err build_header(const dcm_fields *f, size_t frames, size_t pixel_len, mv_buf *b)
{
    static const char ts[] = "1.2.840.10008.1.2.1"; /* Explicit VR Little Endian */
    static const char impl_uid[] = "2.25.153640617374129405581284290346021563129";
    const char *sop_class = !strcmp(f->modality, "MR") ? "1.2.840.10008.5.1.4.1.1.4" : "1.2.840.10008.5.1.4.1.1.2";
    uint8_t zero[128] = {0};
    char t[32];
    mv_buf meta;
    mv_err rc;
    mv_buf_reset(b);
    mv_buf_init(&meta, 4096);
    rc = mv_buf_append(b, zero, sizeof zero);
    if (rc == MV_OK)
        rc = mv_buf_append(b, "DICM", 4);
    if (rc == MV_OK)
        rc = el(&meta, 0x0002, 0x0001, "OB", "\x00\x01", 2);
    if (rc == MV_OK)
        rc = el_str(&meta, 0x0002, 0x0002, "UI", sop_class);
    if (rc == MV_OK)
        rc = el_str(&meta, 0x0002, 0x0003, "UI", f->sop_uid);
    if (rc == MV_OK)
        rc = el_str(&meta, 0x0002, 0x0010, "UI", ts);
    if (rc == MV_OK)
        rc = el_str(&meta, 0x0002, 0x0012, "UI", impl_uid);
    if (rc == MV_OK)
        rc = el_str(&meta, 0x0002, 0x0013, "SH", "MEDVAULT_010");
    if (rc == MV_OK) {
        uint32_t gl = (uint32_t)meta.len;
        uint8_t le[4] = {(uint8_t)gl, (uint8_t)(gl >> 8), (uint8_t)(gl >> 16), (uint8_t)(gl >> 24)};
        rc = el(b, 0x0002, 0x0000, "UL", le, 4);
    }
    if (rc == MV_OK)
        rc = mv_buf_append(b, meta.ptr, meta.len);
    mv_buf_clear(&meta);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0005, "CS", "ISO_IR 100");
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\AXIAL");
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0016, "UI", sop_class);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0018, "UI", f->sop_uid);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0020, "DA", f->study_date);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0030, "TM", f->study_time);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0050, "SH", f->accession);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0060, "CS", f->modality);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0070, "LO", "MEDVAULT SYNTHETIC");
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x0090, "PN", f->physician);
    if (rc == MV_OK)
        rc = el_str(b, 0x0008, 0x1030, "LO", f->description);
    if (rc == MV_OK)
        rc = el_str(b, 0x0010, 0x0010, "PN", f->patient_name);
    if (rc == MV_OK)
        rc = el_str(b, 0x0010, 0x0020, "LO", f->patient_id);
    if (rc == MV_OK)
        rc = el_str(b, 0x0010, 0x0030, "DA", f->birth);
    if (rc == MV_OK)
        rc = el_str(b, 0x0010, 0x0040, "CS", f->sex);
    if (rc == MV_OK)
        rc = el_str(b, 0x0020, 0x000D, "UI", f->study_uid);
    if (rc == MV_OK)
        rc = el_str(b, 0x0020, 0x000E, "UI", f->series_uid);
    if (rc == MV_OK)
        rc = el_str(b, 0x0020, 0x0010, "SH", f->accession + 3);
    snprintf(t, sizeof t, "%u", f->series);
    if (rc == MV_OK)
        rc = el_str(b, 0x0020, 0x0011, "IS", t);
    snprintf(t, sizeof t, "%u", f->instance);
    if (rc == MV_OK)
        rc = el_str(b, 0x0020, 0x0013, "IS", t);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0002, 1);
    if (rc == MV_OK)
        rc = el_str(b, 0x0028, 0x0004, "CS", "MONOCHROME2");
    snprintf(t, sizeof t, "%zu", frames);
    if (rc == MV_OK)
        rc = el_str(b, 0x0028, 0x0008, "IS", t);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0010, DIM);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0011, DIM);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0100, 16);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0101, 12);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0102, 11);
    if (rc == MV_OK)
        rc = el_us(b, 0x0028, 0x0103, 0);
    if (rc == MV_OK)
        rc = el_str(b, 0x0028, 0x1050, "DS", "40");
    if (rc == MV_OK)
        rc = el_str(b, 0x0028, 0x1051, "DS", "400");
    if (rc == MV_OK) { /* the OW element header only; the caller writes the value */
        uint32_t vl = (uint32_t)pixel_len;
        uint8_t h[12] = {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0,
                         (uint8_t)vl, (uint8_t)(vl >> 8), (uint8_t)(vl >> 16), (uint8_t)(vl >> 24)};
        rc = mv_buf_append(b, h, sizeof h);
    }
    return rc;
}

/* ---- pixels ------------------------------------------------------------------------------- */

/* A smooth synthetic volume: an elliptical body with a denser rim and a few soft blobs over
 * air, a slow per-slice drift, and triangular noise (about 6 bits in the body, 3 in the air),
 * 12 bits stored in 16. zstd -3 gets about 2x from it: somewhat, not hugely. */
static void gen_pixels(uint64_t seed, size_t id, size_t frames, uint8_t *out, uint16_t *anatomy, int16_t *drift)
{
    gen_rng r;
    gen_rng_init(&r, seed, DOM_PIXELS, id);
    const double cx = 256 + (double)gen_range(&r, 0, 40) - 20, cy = 256 + (double)gen_range(&r, 0, 40) - 20;
    const double ax = (double)gen_range(&r, 170, 235), ay = (double)gen_range(&r, 140, 220);
    double bx[3], by[3], br[3], bv[3];
    for (int k = 0; k < 3; k++) {
        bx[k] = cx + ((double)gen_below(&r, 200) - 100);
        by[k] = cy + ((double)gen_below(&r, 160) - 80);
        br[k] = 20 + (double)gen_below(&r, 50);
        bv[k] = (double)gen_below(&r, 500) - 150;
    }
    const double fx = 0.01 + gen_unit(&r) * 0.03, fy = 0.01 + gen_unit(&r) * 0.03, tissue = 900 + (double)gen_below(&r, 200);
    for (unsigned y = 0; y < DIM; y++) {
        for (unsigned x = 0; x < DIM; x++) {
            double dx = ((double)x - cx) / ax, dy = ((double)y - cy) / ay, e = dx * dx + dy * dy, v;
            if (e > 1.0) {
                v = 24;
            } else {
                v = tissue + 60 * sin(fx * x) + 60 * cos(fy * y);
                if (e > 0.86)
                    v += 1400 * (e - 0.86) / 0.14; /* bone-like rim */
                for (int k = 0; k < 3; k++) {
                    double ddx = (double)x - bx[k], ddy = (double)y - by[k];
                    v += bv[k] * exp(-(ddx * ddx + ddy * ddy) / (2 * br[k] * br[k]));
                }
            }
            anatomy[y * DIM + x] = (uint16_t)(v < 0 ? 0 : v > 3800 ? 3800 : v);
        }
    }
    for (unsigned x = 0; x < DIM; x++)
        drift[x] = (int16_t)(40 * sin(0.02 * x + gen_unit(&r) * 0.1));
    for (size_t z = 0; z < frames; z++) {
        uint8_t *fr = out + z * FRAME_BYTES;
        unsigned shift = (unsigned)(z * 3) % DIM;
        uint64_t bits = 0;
        unsigned avail = 0;
        for (unsigned i = 0; i < DIM * DIM; i++) {
            if (avail < 12) {
                bits = gen_next(&r);
                avail = 64;
            }
            unsigned a = (unsigned)(bits & 63), c = (unsigned)((bits >> 6) & 63);
            bits >>= 12;
            avail -= 12;
            int base = anatomy[i];
            int noise = base > 100 ? (int)(a + c) - 63 : (int)((a & 7) + (c & 7)) - 7;
            int v = base + (base > 100 ? drift[((i % DIM) + shift) % DIM] : 0) + noise;
            v = v < 0 ? 0 : v > 4095 ? 4095 : v;
            fr[2 * i] = (uint8_t)v;
            fr[2 * i + 1] = (uint8_t)(v >> 8);
        }
    }
}

/* ---- plan and write ----------------------------------------------------------------------- */

/* Decides every file: sizes sum to exactly mib MiB of pixel data before edits; file k (k >= 1)
 * is derived when floor(3(k+1)/10) > floor(3k/10), i.e. 3 files in 10, from an earlier original
 * whose size still fits. Returns the number of files. */
static size_t plan(uint64_t seed, uint64_t mib, img *imgs, size_t cap)
{
    gen_rng r;
    gen_rng_init(&r, seed, DOM_PLAN, 0);
    size_t remaining = (size_t)mib * 2, n = 0; /* in frames of 512 KiB */
    while (remaining > 0 && n < cap) {
        img *m = &imgs[n];
        memset(m, 0, sizeof *m);
        m->src = n;
        m->header_id = n;
        int derive = n >= 1 && (3 * (n + 1)) / 10 > (3 * n) / 10;
        if (derive) {
            size_t fits[64], nf = 0; /* a sample of fitting originals is enough */
            for (size_t k = 0; k < n && nf < 64; k++) {
                size_t j = n - 1 - k;
                if (imgs[j].kind == K_ORIGINAL && imgs[j].frames <= remaining &&
                    (imgs[j].frames == remaining || remaining - imgs[j].frames >= MIN_FRAMES))
                    fits[nf++] = j;
            }
            if (nf) {
                const img *s = &imgs[fits[gen_below(&r, nf)]];
                m->src = (size_t)(s - imgs);
                m->frames = s->frames;
                m->kind = (int)gen_range(&r, K_REHEADER, K_MODIFY);
                if (m->kind != K_REHEADER) {
                    m->header_id = s->header_id;
                    size_t px = m->frames * FRAME_BYTES;
                    m->edit_off = (px / 4 + (size_t)gen_below(&r, px / 2)) & ~(size_t)1;
                    m->edit_len = (size_t)gen_range(&r, 512, MAX_EDIT / 2) * 2;
                }
            }
        }
        if (m->frames == 0) {
            m->kind = K_ORIGINAL;
            if (remaining <= MAX_FRAMES)
                m->frames = remaining;
            else
                m->frames = (size_t)gen_range(&r, MIN_FRAMES,
                                              remaining - MIN_FRAMES < MAX_FRAMES ? remaining - MIN_FRAMES : MAX_FRAMES);
        }
        remaining -= m->frames;
        n++;
    }
    return n;
}

/* The header of file k into hdr (scratch: another buffer for the source's header). */
static mv_err file_header(uint64_t seed, const img *imgs, size_t k, size_t pixel_len, mv_buf *hdr, mv_buf *scratch)
{
    const img *m = &imgs[k];
    dcm_fields f, sf;
    mv_err rc;
    header_fields(seed, m->header_id, &f);
    if (m->kind != K_REHEADER)
        return build_header(&f, m->frames, pixel_len, hdr);
    /* Another patient's study: make sure the header length changes so that the pixel data
     * really shifts (values of equal padded length would not move it). Appending a letter to
     * the name changes the padded length within two tries. */
    header_fields(seed, imgs[m->src].header_id, &sf);
    if ((rc = build_header(&sf, m->frames, pixel_len, scratch)) != MV_OK)
        return rc;
    for (size_t tries = 0; tries < 4; tries++) {
        if ((rc = build_header(&f, m->frames, pixel_len, hdr)) != MV_OK || hdr->len != scratch->len)
            return rc;
        size_t l = strlen(f.patient_name);
        f.patient_name[l] = tries & 1 ? 'E' : 'A';
        f.patient_name[l + 1] = '\0';
    }
    return MV_ERR_BAD_STATE; /* unreachable: the length changes by the second try */
}

static const char genimaging_usage[] =
    "usage: medvault gen-imaging OUTDIR --mib M [--seed S] [--json]\n\n"
    "Generates about M MiB of synthetic imaging attachments for benchmarks, the same bytes for the\n"
    "same arguments: OUTDIR/img-NNNN.dcm files of 2 to 16 MiB laid out like DICOM Part 10 (128-byte\n"
    "preamble, \"DICM\", explicit VR little endian elements, then 16-bit pixel data of a smooth\n"
    "synthetic volume with noise, which zstd compresses somewhat but not hugely). About 30% of the\n"
    "files are shifted duplicates of an earlier file: the same pixels under another patient's\n"
    "header (so everything after the header moves), or with 1 to 8 KiB inserted or changed in the\n"
    "middle. OUTDIR/manifest.json lists every file, its size and what it derives from. OUTDIR must\n"
    "be absent or empty. M <= 65536; --seed S defaults to 1; --json prints a summary object.\n";

int cmd_genimaging(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mib", required_argument, NULL, 'm'}, {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t seed = 1, mib = 0;
    int c, json = 0, ret = CLI_FAIL;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': if (cli_u64_arg(optarg, 1, MAX_MIB, &mib, "--mib")) return CLI_USAGE; break;
        case 's': if (cli_u64_arg(optarg, 0, UINT64_MAX, &seed, "--seed")) return CLI_USAGE; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(genimaging_usage, 1);
        default: return cli_usage(genimaging_usage, 0);
        }
    }
    if (optind != argc - 1 || mib == 0)
        return cli_usage(genimaging_usage, 0);
    const char *outdir = argv[optind];
    if (strlen(outdir) > 3000) {
        cli_err("OUTDIR is too long");
        return CLI_USAGE;
    }
    size_t cap = (size_t)mib * 2 / MIN_FRAMES + 2, n = 0, originals = 0;
    img *imgs = mv_calloc(cap, sizeof *imgs);
    uint8_t *px = mv_malloc((size_t)MAX_FRAMES * FRAME_BYTES + MAX_EDIT);
    uint16_t *anatomy = mv_mallocarray(DIM * DIM, sizeof *anatomy);
    int16_t *drift = mv_mallocarray(DIM, sizeof *drift);
    uint8_t edit[MAX_EDIT];
    unsigned long long total = 0;
    mv_buf hdr, src_hdr, man;
    double t0, t1;
    mv_buf_init(&hdr, 1u << 16);
    mv_buf_init(&src_hdr, 1u << 16);
    mv_buf_init(&man, 64u << 20);
    if (!imgs || !px || !anatomy || !drift) {
        cli_err("out of memory");
        goto out;
    }
    t0 = mv_mono_seconds();
    if (!gen_prepare_outdir(outdir))
        goto out;
    n = plan(seed, mib, imgs, cap);
    for (size_t k = 0; k < n; k++) {
        img *m = &imgs[k];
        size_t pixel_len = m->frames * FRAME_BYTES + (m->kind == K_INSERT ? m->edit_len : 0);
        mv_err hrc = file_header(seed, imgs, k, pixel_len, &hdr, &src_hdr);
        if (hrc != MV_OK) {
            cli_err("cannot build a header: %s", mv_strerror(hrc));
            goto out;
        }
        gen_pixels(seed, m->src, m->frames, px, anatomy, drift);
        if (m->kind == K_INSERT || m->kind == K_MODIFY) {
            gen_rng er;
            gen_rng_init(&er, seed, DOM_EDIT, k);
            for (size_t i = 0; i < m->edit_len; i += 2) {
                /* Changed words always differ; inserted ones look like their neighbours. */
                size_t at = m->kind == K_MODIFY ? m->edit_off + i : m->edit_off - m->edit_len + i;
                unsigned old = (unsigned)px[at] | (unsigned)px[at + 1] << 8;
                unsigned v = (old + 1 + (unsigned)gen_below(&er, 63)) & 0x0fffu;
                edit[i] = (uint8_t)v;
                edit[i + 1] = (uint8_t)(v >> 8);
            }
            if (m->kind == K_MODIFY)
                memcpy(px + m->edit_off, edit, m->edit_len);
        }
        m->header_bytes = hdr.len;
        m->bytes = hdr.len + pixel_len;
        char path[4096];
        snprintf(path, sizeof path, "%s/img-%04zu.dcm", outdir, k + 1);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            cli_err("cannot create %s: %s", path, strerror(errno));
            goto out;
        }
        size_t split = m->kind == K_INSERT ? m->edit_off : m->frames * FRAME_BYTES;
        int bad = gen_write_all(fd, hdr.ptr, hdr.len) != 0 || gen_write_all(fd, px, split) != 0 ||
                  (m->kind == K_INSERT && gen_write_all(fd, edit, m->edit_len) != 0) ||
                  gen_write_all(fd, px + split, m->frames * FRAME_BYTES - split) != 0;
        int e = errno;
        if (close(fd) != 0 && !bad) {
            bad = 1;
            e = errno;
        }
        if (bad) {
            cli_err("cannot write %s: %s", path, strerror(e));
            goto out;
        }
        total += m->bytes;
        originals += m->kind == K_ORIGINAL;
        cli_progress("imaging MiB", (size_t)(total / MIB), (size_t)mib + 1);
    }
    cli_progress("imaging MiB", (size_t)mib + 1, (size_t)mib + 1);

    mv_err rc = mv_buf_printf(&man, "{\n  \"seed\": %llu,\n  \"mib\": %llu,\n  \"total_bytes\": %llu,\n"
                                    "  \"originals\": %zu,\n  \"derived\": %zu,\n  \"files\": [",
                              (unsigned long long)seed, (unsigned long long)mib, total, originals, n - originals);
    for (size_t k = 0; rc == MV_OK && k < n; k++) {
        const img *m = &imgs[k];
        rc = mv_buf_printf(&man,
                           "%s\n    {\"name\": \"img-%04zu.dcm\", \"bytes\": %zu, \"frames\": %zu, "
                           "\"header_bytes\": %zu, \"kind\": \"%s\", ",
                           k ? "," : "", k + 1, m->bytes, m->frames, m->header_bytes, kind_names[m->kind]);
        if (rc == MV_OK && m->kind == K_ORIGINAL)
            rc = mv_buf_puts(&man, "\"derived_from\": null}");
        else if (rc == MV_OK)
            rc = mv_buf_printf(&man, "\"derived_from\": \"img-%04zu.dcm\", \"edit_offset\": %zu, \"edit_bytes\": %zu}",
                               m->src + 1, m->kind == K_REHEADER ? 0 : m->header_bytes + m->edit_off, m->edit_len);
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&man, "\n  ]\n}\n");
    if (rc != MV_OK) {
        cli_err("cannot build the manifest: %s", mv_strerror(rc));
        goto out;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", outdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int bad = fd < 0 || gen_write_all(fd, man.ptr, man.len) != 0, e = errno;
    if (fd >= 0 && close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        cli_err("cannot write %s: %s", path, strerror(e));
        goto out;
    }
    t1 = mv_mono_seconds();
    double secs = t1 - t0;
    if (json) {
        mv_buf_reset(&man);
        rc = mv_buf_puts(&man, "{\"outdir\":");
        if (rc == MV_OK)
            rc = mv_json_write_str(&man, outdir, strlen(outdir));
        if (rc == MV_OK)
            rc = mv_buf_printf(&man,
                               ",\"seed\":%llu,\"mib\":%llu,\"files\":%zu,\"originals\":%zu,\"derived\":%zu,"
                               "\"bytes\":%llu,\"seconds\":%.3f}\n",
                               (unsigned long long)seed, (unsigned long long)mib, n, originals, n - originals, total,
                               secs);
        if (rc != MV_OK) {
            cli_err("cannot build the summary: %s", mv_strerror(rc));
            goto out;
        }
        ret = cli_print_buf(&man);
    } else {
        printf("%zu imaging files (%zu derived from earlier ones), %.1f MiB in %s (%.1f s)\n", n, n - originals,
               (double)total / MIB, outdir, secs);
        ret = CLI_OK;
    }
out:
    mv_free(imgs);
    mv_free(px);
    mv_free(anatomy);
    mv_free(drift);
    mv_buf_clear(&hdr);
    mv_buf_clear(&src_hdr);
    mv_buf_clear(&man);
    return ret;
}
