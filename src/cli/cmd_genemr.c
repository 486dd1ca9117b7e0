/* cmd_genemr.c - `medvault gen-emr`: a synthetic, seed-deterministic FHIR R4 prescription
 * workload for tests and benchmarks. Every name, date and identifier is invented; nothing here
 * is patient data. Drug codes are RxNorm-like (most are real RxCUIs of the named clinical drug,
 * some are only plausible): good enough for workloads, never for care. This file is the command
 * (options, departments, the main loop); genemr.h names the files of the model and its output. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "genemr.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

static int parse_departments(const char *arg, gen *g)
{
    size_t n = 0;
    const char *s = arg;
    while (1) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || len > 32) {
            cli_err("--departments: each name must be 1 to 32 characters");
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
                cli_err("--departments: names use lowercase letters, digits and '-'");
                return -1;
            }
        }
        if (n == MAX_DEPTS) {
            cli_err("--departments: at most %d departments", MAX_DEPTS);
            return -1;
        }
        if (len == 7 && !memcmp(s, "bundles", 7)) {
            cli_err("--departments: 'bundles' is reserved");
            return -1;
        }
        memcpy(g->depts[n].name, s, len);
        g->depts[n].name[len] = '\0';
        for (size_t j = 0; j < n; j++)
            if (!strcmp(g->depts[j].name, g->depts[n].name)) {
                cli_err("--departments: '%s' given twice", g->depts[n].name);
                return -1;
            }
        n++;
        if (!e)
            break;
        s = e + 1;
    }
    g->ndept = n;
    return 0;
}

static const char genemr_usage[] =
    "usage: medvault gen-emr OUTDIR N [--departments a,b,c] [--seed S] [--patients P]\n"
    "                        [--doctors D] [--bundles] [--json]\n\n"
    "Generates N synthetic FHIR R4 MedicationRequest resources (a prescription workload for tests\n"
    "and benchmarks), the same bytes for the same arguments. Prescriptions are split evenly over the\n"
    "departments (default cardiology,neurology,oncology,endocrinology; other names get a general\n"
    "formulary). Each department has a formulary of RxNorm-coded drugs and a set of regimens (drug,\n"
    "dose, route, frequency, duration, quantity, refills) whose popularity follows Zipf's law\n"
    "(s = 1.1), so a few regimens dominate as in real prescribing. Patients (default N/3, at least\n"
    "one per department) belong to one department each; D doctors (default 8) per department.\n"
    "authoredOn dates spread over 2025. Names, identifiers and dates are invented.\n\n"
    "Writes OUTDIR/<dept>/rx-<n>.json (n = 1..N, pretty-printed), with --bundles also\n"
    "OUTDIR/bundles/bundle-<p>.json (one transaction Bundle per patient: the Patient and their\n"
    "prescriptions), and OUTDIR/manifest.json (seed, counts per department, regimens used,\n"
    "doctors, and every drug name used). OUTDIR must be absent or empty. N <= 10,000,000.\n"
    "--seed S (default 1) picks the workload; --json prints a summary object.\n";

int cmd_genemr(int argc, char **argv)
{
    static const struct option opts[] = {
        {"departments", required_argument, NULL, 'D'}, {"seed", required_argument, NULL, 's'},
        {"patients", required_argument, NULL, 'p'},    {"doctors", required_argument, NULL, 'd'},
        {"bundles", no_argument, NULL, 'b'},           {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    const char *depts_arg = "cardiology,neurology,oncology,endocrinology";
    uint64_t seed = 1, npat = 0, ndoc = 8, nrx = 0;
    int c, json = 0, bundles = 0, ret = CLI_FAIL;
    gen g;
    genemr_vocab voc;
    mv_buf b;
    uint32_t *pat_of = NULL;
    double t0, t1;

    memset(&g, 0, sizeof g);
    memset(&voc, 0, sizeof voc);
    mv_buf_init(&b, 64u << 20);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': depts_arg = optarg; break;
        case 's': if (cli_u64_arg(optarg, 0, UINT64_MAX, &seed, "--seed")) return CLI_USAGE; break;
        case 'p': if (cli_u64_arg(optarg, 1, MAX_PATIENTS, &npat, "--patients")) return CLI_USAGE; break;
        case 'd': if (cli_u64_arg(optarg, 1, MAX_DOCTORS, &ndoc, "--doctors")) return CLI_USAGE; break;
        case 'b': bundles = 1; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(genemr_usage, 1);
        default: return cli_usage(genemr_usage, 0);
        }
    }
    if (optind != argc - 2)
        return cli_usage(genemr_usage, 0);
    if (cli_u64_arg(argv[optind + 1], 1, MAX_RX, &nrx, "N"))
        return CLI_USAGE;
    g.depts = mv_calloc(MAX_DEPTS, sizeof *g.depts);
    if (!g.depts) {
        cli_err("out of memory");
        return CLI_FAIL;
    }
    mv_err vrc = genemr_vocab_load(&voc);
    if (vrc != MV_OK) {
        cli_err("cannot read the built-in vocabulary: %s", mv_strerror(vrc));
        goto out;
    }
    g.voc = &voc;
    if (parse_departments(depts_arg, &g) != 0) {
        ret = CLI_USAGE;
        goto out;
    }
    if (npat == 0)
        npat = nrx / 3 > g.ndept ? nrx / 3 : g.ndept;
    if (npat < g.ndept) {
        cli_err("--patients must be at least the number of departments (%zu)", g.ndept);
        ret = CLI_USAGE;
        goto out;
    }
    g.seed = seed;
    g.nrx = (size_t)nrx;
    g.npat = (size_t)npat;
    g.ndoc = (size_t)ndoc;
    g.outdir = argv[optind];
    if (strlen(g.outdir) > 3000) {
        cli_err("OUTDIR is too long");
        ret = CLI_USAGE;
        goto out;
    }
    t0 = mv_mono_seconds();
    if (!gen_prepare_outdir(g.outdir))
        goto out;
    for (size_t i = 0; i < g.ndept; i++) {
        dept *d = &g.depts[i];
        char path[4096];
        if (!(d->docs = mv_calloc(g.ndoc, sizeof *d->docs))) {
            cli_err("out of memory");
            goto out;
        }
        d->npatients = (g.npat - i + g.ndept - 1) / g.ndept;
        d->nrx = (g.nrx - i + g.ndept - 1) / g.ndept;
        dept_setup(&g, i);
        snprintf(path, sizeof path, "%s/%s", g.outdir, d->name);
        if (gen_mkdir(path) != 0)
            goto out;
    }
    if (bundles && !(pat_of = mv_mallocarray(g.nrx, sizeof *pat_of))) {
        cli_err("out of memory");
        goto out;
    }
    for (size_t n = 0; n < g.nrx; n++) {
        rx x;
        patient p;
        jw w;
        char path[4096];
        rx_get(&g, n, &x);
        patient_get(&g, x.pat, &p);
        dept *d = &g.depts[x.dept];
        d->reg_count[x.reg_index]++;
        d->drug_used[x.reg->d - d->drugs] = 1;
        if (pat_of)
            pat_of[n] = (uint32_t)x.pat;
        mv_buf_reset(&b);
        jw_init(&w, &b);
        write_rx(&w, NULL, &g, &x, &p);
        jw_put(&w, "\n", 1);
        if (w.rc != MV_OK) {
            cli_err("cannot build prescription %zu: %s", n + 1, mv_strerror(w.rc));
            goto out;
        }
        snprintf(path, sizeof path, "%s/%s/rx-%zu.json", g.outdir, d->name, n + 1);
        if (write_file(&g, path, &b) != 0)
            goto out;
        if ((n & 1023) == 0)
            cli_progress("prescriptions", n, g.nrx);
    }
    cli_progress("prescriptions", g.nrx, g.nrx);
    if (pat_of && write_bundles(&g, pat_of, &b) != 0)
        goto out;
    if (write_manifest(&g, &b) != 0)
        goto out;
    t1 = mv_mono_seconds();
    double secs = t1 - t0;
    if (json) {
        mv_buf_reset(&b);
        mv_err rc = mv_buf_puts(&b, "{\"outdir\":");
        if (rc == MV_OK)
            rc = mv_json_write_str(&b, g.outdir, strlen(g.outdir));
        if (rc == MV_OK)
            rc = mv_buf_printf(&b,
                               ",\"seed\":%llu,\"prescriptions\":%zu,\"patients\":%zu,\"departments\":%zu,"
                               "\"doctors\":%zu,\"bundles\":%zu,\"files\":%llu,\"bytes\":%llu,\"seconds\":%.3f}\n",
                               (unsigned long long)g.seed, g.nrx, g.npat, g.ndept, g.ndoc * g.ndept,
                               bundles ? g.npat : 0, g.files, g.bytes, secs);
        if (rc != MV_OK) {
            cli_err("cannot build the summary: %s", mv_strerror(rc));
            goto out;
        }
        ret = cli_print_buf(&b);
    } else {
        printf("%zu prescriptions for %zu patients in %zu departments%s: %llu files, %.1f MB in %s (%.1f s)\n",
               g.nrx, g.npat, g.ndept, bundles ? " with bundles" : "", g.files, (double)g.bytes / 1e6, g.outdir,
               secs);
        ret = CLI_OK;
    }
out:
    if (g.depts)
        for (size_t i = 0; i < MAX_DEPTS; i++)
            mv_free(g.depts[i].docs);
    mv_free(g.depts);
    mv_free(pat_of);
    genemr_vocab_clear(&voc);
    mv_buf_clear(&b);
    return ret;
}
