/* mv_dealer.c - test helper: a trusted dealer that prints a Shamir sharing of a key.
 *
 * Production keys come from the key servers' DKG, where no process holds the key; tests
 * use this dealer to load known or deliberately different keys into real key servers
 * (import-share), e.g. to play a server that evaluates with the wrong share.
 * usage: mv_dealer T N [SECRET_HEX]   -> JSON {"secret","group_public_key","shares":[..],"public_shares":[..]} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

static void hex_print(const uint8_t *b, size_t n)
{
    char h[65];
    if (mv_hex_encode(h, sizeof h, b, n) != MV_OK)
        exit(1);
    printf("\"%s\"", h);
}

int main(int argc, char **argv)
{
    uint8_t secret[32], shares[16 * 32], pub[32], group[32];
    if (argc < 3 || mv_crypto_init() != MV_OK)
        return 2;
    long t = strtol(argv[1], NULL, 10), n = strtol(argv[2], NULL, 10);
    if (t < 1 || n < t || n > 16)
        return 2;
    if (argc > 3) {
        if (mv_hex_decode_exact(secret, 32, argv[3], strlen(argv[3])) != MV_OK || mv_r255_scalar_check(secret) != MV_OK)
            return 2;
    } else {
        mv_r255_scalar_random(secret);
    }
    if (mv_shamir_split(secret, (size_t)t, (size_t)n, NULL, shares) != MV_OK || mv_r255_smul_base(group, secret) != MV_OK)
        return 1;
    printf("{\"threshold\":%ld,\"secret\":", t);
    hex_print(secret, 32);
    printf(",\"group_public_key\":");
    hex_print(group, 32);
    printf(",\"shares\":[");
    for (long i = 0; i < n; i++) {
        printf(i ? "," : "");
        hex_print(shares + i * 32, 32);
    }
    printf("],\"public_shares\":[");
    for (long i = 0; i < n; i++) {
        if (mv_r255_smul_base(pub, shares + i * 32) != MV_OK)
            return 1;
        printf(i ? "," : "");
        hex_print(pub, 32);
    }
    printf("]}\n");
    return 0;
}
