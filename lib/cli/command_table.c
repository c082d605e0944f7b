/* command_table.c — finding a program's command in its table. */
#include "cli/command_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* The name of command i at this level: the command's (group NULL) or, within
 * group, its subcommand's; NULL when it is not at this level. */
static const char *level_name(const iot_command_table *t, size_t i, const char *group)
{
	const iot_command *c = &t->cmds[i];
	if (!group)
		return c->name;
	return c->sub && !strcmp(c->name, group) ? c->sub : NULL;
}

/* "a, b or c": the names at this level, each once, in table order. */
static const char *name_list(const iot_command_table *t, const char *group, char *buf, size_t cap)
{
	const char *names[64];
	size_t n = 0, used = 0;
	for (size_t i = 0; i < t->n && n < sizeof names / sizeof names[0]; i++) {
		const char *name = level_name(t, i, group);
		bool again = false;
		for (size_t j = 0; name && j < n; j++)
			again = again || !strcmp(names[j], name);
		if (name && !again)
			names[n++] = name;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < cap; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(buf + used, cap - used, "%s%s", sep, names[i]);
		used += w > 0 ? (size_t)w : 0;
	}
	return buf;
}

static bool is_group(const iot_command_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->cmds[i].sub && !strcmp(t->cmds[i].name, name))
			return true;
	return false;
}

static int count_error(const char *full, const iot_command *c)
{
	int lo = c->min_args, hi = c->max_args;
	if (hi == 0)
		return iot_usage_error("%s: expected no arguments", full);
	if (lo == hi)
		return iot_usage_error("%s: expected %d argument%s", full, lo, lo == 1 ? "" : "s");
	if (lo == 0)
		return iot_usage_error("%s: expected at most %d argument%s", full, hi, hi == 1 ? "" : "s");
	return iot_usage_error("%s: expected %d to %d arguments", full, lo, hi);
}

const iot_command *iot_command_find(const iot_command_table *t, int argc, char **argv,
                                    unsigned seen, char ***args, int *nargs)
{
	char list[512], full[256];
	if (argc < 1) {
		iot_usage_error("missing command (%s)", name_list(t, NULL, list, sizeof list));
		return NULL;
	}
	bool group = is_group(t, argv[0]);
	if (group && argc < 2) {
		iot_usage_error("%s: missing subcommand (%s)", argv[0], name_list(t, argv[0], list, sizeof list));
		return NULL;
	}
	snprintf(full, sizeof full, "%s%s%s", argv[0], group ? " " : "", group ? argv[1] : "");
	const iot_command *c = NULL;
	for (size_t i = 0; i < t->n && !c; i++)
		if (!strcmp(t->cmds[i].name, argv[0]) &&
		    (group ? t->cmds[i].sub && !strcmp(t->cmds[i].sub, argv[1]) : !t->cmds[i].sub))
			c = &t->cmds[i];
	if (!c) {
		iot_usage_error("unknown command '%s'", full);
		return NULL;
	}
	int skip = group ? 2 : 1;
	if (argc - skip < c->min_args || argc - skip > c->max_args) {
		count_error(full, c);
		return NULL;
	}
	for (size_t i = 0; i < t->n_opts; i++)
		if ((seen & (1u << i)) && !(c->options & (1u << i))) {
			iot_usage_error("%s does not apply to '%s'", t->opt_names[i], full);
			return NULL;
		}
	*args = argv + skip;
	*nargs = argc - skip;
	return c;
}
