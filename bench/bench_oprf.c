/* bench_oprf.c - throughput of the RFC 9497 VOPRF key-server path (BlindEvaluate + batched
 * DLEQ proof) on one thread, the client's per-element cost, and the libsodium scalar
 * multiplication that bounds both (the server needs ~2 per element: k*B_i and d_i*B_i).
 *   bench_oprf [--json] [--seconds S]      (S per measurement, default 2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"

#define BENCH_NAME "bench_oprf"
#include "bench_common.h"

#define MAXB 256

typedef struct result {
    size_t batch;
    double server_evals_per_s; /* BlindEvaluate + prove, per element */
    double server_us_per_elem;
    double client_us_per_elem; /* blind + verify (amortised) + finalize */
    double smul_us;            /* crypto_scalarmult_ristretto255, measured just before */
} result;

static double smul_cost(const uint8_t s[32], const uint8_t p[32], uint8_t q[32], double secs)
{
    size_t n = 0;
    double t0 = now(), t1;
    do {
        for (int i = 0; i < 100; i++)
            if (crypto_scalarmult_ristretto255(q, s, p) != 0)
                die("crypto_scalarmult_ristretto255", MV_ERR_CRYPTO);
        n += 100;
        t1 = now();
    } while (t1 - t0 < secs);
    return (t1 - t0) * 1e6 / (double)n;
}

int main(int argc, char **argv)
{
    int json = 0;
    double secs = 2.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end = NULL;
            secs = strtod(argv[++i], &end);
            if (!end || *end || secs <= 0) {
                fprintf(stderr, "usage: bench_oprf [--json] [--seconds S]\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_oprf [--json] [--seconds S]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return 1;

    static uint8_t blinds[MAXB * 32], blinded[MAXB * 32], evaluated[MAXB * 32];
    static uint8_t inputs[MAXB][32];
    uint8_t sk[32], pk[32], seed[32] = {0x42}, proof[64], out[64];
    mv_err rc;
    if ((rc = mv_oprf_derive_keypair(MV_OPRF_MODE_VOPRF, seed, (const uint8_t *)"bench", 5, sk, pk)) != MV_OK)
        die("derive_keypair", rc);
    randombytes_buf(inputs, sizeof inputs);
    for (size_t i = 0; i < MAXB; i++)
        if ((rc = mv_oprf_blind(MV_OPRF_MODE_VOPRF, inputs[i], 32, NULL, blinds + 32 * i, blinded + 32 * i)) != MV_OK)
            die("blind", rc);

    /* Raw libsodium scalar multiplication (variable base), the unit of cost; measured again
     * before each row because the machine may be shared (the ratio is what matters). */
    uint8_t s[32], p[32], q[32];
    mv_r255_scalar_random(s);
    memcpy(p, blinded, 32);
    double t0, t1;
    static const size_t batches[] = {1, 64, 256};
    result res[3];
    double smul_sum = 0;
    for (size_t bi = 0; bi < 3; bi++) {
        size_t b = batches[bi], elems = 0;
        res[bi].smul_us = smul_cost(s, p, q, secs / 4);
        smul_sum += res[bi].smul_us;
        t0 = now();
        do {
            if ((rc = mv_oprf_blind_evaluate(sk, blinded, b, evaluated)) != MV_OK)
                die("blind_evaluate", rc);
            if ((rc = mv_voprf_prove(sk, pk, blinded, evaluated, b, NULL, proof)) != MV_OK)
                die("prove", rc);
            elems += b;
            t1 = now();
        } while (t1 - t0 < secs);
        res[bi].batch = b;
        res[bi].server_evals_per_s = (double)elems / (t1 - t0);
        res[bi].server_us_per_elem = (t1 - t0) * 1e6 / (double)elems;

        /* Client, per element: blind, then (per batch) verify, then finalize. The server
         * answer for the current blinds is computed once, outside the timed regions. */
        if ((rc = mv_oprf_blind_evaluate(sk, blinded, b, evaluated)) != MV_OK)
            die("blind_evaluate", rc);
        if ((rc = mv_voprf_prove(sk, pk, blinded, evaluated, b, NULL, proof)) != MV_OK)
            die("prove", rc);
        double client = 0;
        elems = 0;
        do {
            double c0 = now();
            for (size_t i = 0; i < b; i++)
                if ((rc = mv_oprf_blind(MV_OPRF_MODE_VOPRF, inputs[i], 32, blinds + 32 * i, blinds + 32 * i,
                                        blinded + 32 * i)) != MV_OK)
                    die("blind", rc);
            if ((rc = mv_voprf_verify(pk, blinded, evaluated, b, proof)) != MV_OK)
                die("verify", rc);
            for (size_t i = 0; i < b; i++)
                if ((rc = mv_oprf_finalize(MV_OPRF_MODE_VOPRF, inputs[i], 32, blinds + 32 * i, evaluated + 32 * i,
                                           out)) != MV_OK)
                    die("finalize", rc);
            client += now() - c0;
            elems += b;
        } while (client < secs / 2);
        res[bi].client_us_per_elem = client * 1e6 / (double)elems;
    }

    /* The ristretto255 addition: libsodium decodes both inputs and encodes the sum (three
     * field exponentiations), and the prover needs one per element for the composite. */
    size_t adds = 0;
    t0 = now();
    do {
        for (int i = 0; i < 100; i++)
            if (crypto_core_ristretto255_add(q, p, blinded) != 0)
                die("crypto_core_ristretto255_add", MV_ERR_CRYPTO);
        adds += 100;
        t1 = now();
    } while (t1 - t0 < secs / 4);
    double add_us = (t1 - t0) * 1e6 / (double)adds;

    double smul_us = smul_sum / 3;
    double limit = 1e6 / (2 * smul_us);
    if (json) {
        printf("{\"scalarmult_us\":%.2f,\"add_us\":%.2f,\"limit_evals_per_s\":%.0f,\"batches\":[", smul_us,
               add_us, limit);
        for (size_t bi = 0; bi < 3; bi++)
            printf("%s{\"batch\":%zu,\"server_evals_per_s\":%.0f,\"server_us_per_elem\":%.2f,"
                   "\"server_smuls_per_elem\":%.2f,\"client_us_per_elem\":%.2f,\"scalarmult_us\":%.2f}",
                   bi ? "," : "", res[bi].batch, res[bi].server_evals_per_s, res[bi].server_us_per_elem,
                   res[bi].server_us_per_elem / res[bi].smul_us, res[bi].client_us_per_elem, res[bi].smul_us);
        printf("]}\n");
    } else {
        printf("libsodium crypto_scalarmult_ristretto255: %.2f us  (limit at 2 per element: %.0f evals/s)\n", smul_us,
               limit);
        printf("libsodium crypto_core_ristretto255_add:   %.2f us  (the composite needs 1 per element)\n", add_us);
        printf("%6s  %16s  %14s  %14s  %16s\n", "batch", "server evals/s", "server us/el", "server smul/el",
               "client us/el");
        for (size_t bi = 0; bi < 3; bi++)
            printf("%6zu  %16.0f  %14.2f  %14.2f  %16.2f\n", res[bi].batch, res[bi].server_evals_per_s,
                   res[bi].server_us_per_elem, res[bi].server_us_per_elem / res[bi].smul_us, res[bi].client_us_per_elem);
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(blinds, sizeof blinds);
    return 0;
}
