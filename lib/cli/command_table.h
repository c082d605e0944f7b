/* command_table.h — programs driven as `prog [OPTION]... COMMAND [SUB] ARG...`
 * (iot-user, iot-device, iot-migrate) describe their commands in one table;
 * this finds the command named on the command line and checks its operands
 * and the options given against it, with one wording for every mistake. */
#ifndef IOT_COMMAND_TABLE_H
#define IOT_COMMAND_TABLE_H

#include <stddef.h>

typedef struct iot_command {
	const char *name;          /* "add", or a group's name: "token" */
	const char *sub;           /* the subcommand within the group ("create"), or NULL */
	int min_args, max_args;    /* operands after the command's words */
	unsigned options;          /* the options that apply: bit i is opt_names[i] */
	int action;                /* the program's own code for it */
	const char *const *cols;   /* its output columns (cli/output.h), or NULL */
} iot_command;

typedef struct iot_command_table {
	const iot_command *cmds;
	size_t n;
	const char *const *opt_names; /* "--grace": what bit i of options and seen stands for */
	size_t n_opts;                /* at most 32 */
} iot_command_table;

/* The command argv[0] names (argv[0] argv[1] for a group), given that the
 * options with bits `seen` were set. Its operands in *args / *nargs.
 * On a mistake (no command, an unknown one, a group without or with an
 * unknown subcommand, too few or too many operands, an option that does not
 * apply) the usage error is printed (iot_usage_error) and NULL returned. */
const iot_command *iot_command_find(const iot_command_table *t, int argc, char **argv,
                                    unsigned seen, char ***args, int *nargs);

#endif
