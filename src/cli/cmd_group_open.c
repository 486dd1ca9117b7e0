/* cmd_group_open.c - `medvault group open|judge`: revealing the signer of a group operation
 * (opener quorum) and checking an opening (anyone). */
#include <stdio.h>

#include "cmd_group.h"

static int not_yet(const char *what)
{
    fprintf(stderr, "medvault group %s: not built yet\n", what);
    return 2;
}

int cmd_group_open(int argc, char **argv) { (void)argc; (void)argv; return not_yet("open"); }
int cmd_group_judge(int argc, char **argv) { (void)argc; (void)argv; return not_yet("judge"); }
