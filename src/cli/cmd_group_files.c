/* cmd_group_files.c - `medvault group put|get|modify|rm|history`: the group's files. */
#include <stdio.h>

#include "cmd_group.h"

static int not_yet(const char *what)
{
    fprintf(stderr, "medvault group %s: not built yet\n", what);
    return 2;
}

int cmd_group_put(int argc, char **argv) { (void)argc; (void)argv; return not_yet("put"); }
int cmd_group_get(int argc, char **argv) { (void)argc; (void)argv; return not_yet("get"); }
int cmd_group_modify(int argc, char **argv) { (void)argc; (void)argv; return not_yet("modify"); }
int cmd_group_rm(int argc, char **argv) { (void)argc; (void)argv; return not_yet("rm"); }
int cmd_group_history(int argc, char **argv) { (void)argc; (void)argv; return not_yet("history"); }
