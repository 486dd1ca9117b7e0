/* cmd_group.h - the subcommands of `medvault group`, one file per concern: administration and
 * membership (cmd_group.c), the group's files (cmd_group_files.c), opening and judging
 * (cmd_group_open.c). */
#ifndef MV_CMD_GROUP_H
#define MV_CMD_GROUP_H

int cmd_group_put(int argc, char **argv);
int cmd_group_get(int argc, char **argv);
int cmd_group_modify(int argc, char **argv);
int cmd_group_rm(int argc, char **argv);
int cmd_group_history(int argc, char **argv);
int cmd_group_files(int argc, char **argv);
int cmd_group_open(int argc, char **argv);
int cmd_group_judge(int argc, char **argv);
int cmd_group_case(int argc, char **argv);

#endif
