/* getopt_error.c — one message for a mistaken option, in every program.
 * With opterr = 0, getopt_long() says nothing and tells little: '?' (or ':'
 * for a missing argument when shortopts starts with ':'), optopt (the
 * option's val, or 0 for an unknown or ambiguous long option) and optind,
 * past the word it refused when that word was a long option or the end of
 * a cluster of short ones. The rest is read back from argv and the tables. */
#include "cli/cli.h"

#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

/* The long option "--NAME[=VALUE]" names, matched as getopt_long() does:
 * exactly, or by a prefix. *n: 1, or how many different options the prefix
 * fits (0 when none). */
static const struct option *long_match(const char *name, size_t len, const struct option *longopts,
                                       int *n)
{
	const struct option *first = NULL;
	*n = 0;
	for (const struct option *o = longopts; o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (strlen(o->name) == len) {
			*n = 1;
			return o;
		}
		if (!first)
			first = o;
		/* Two names of one option (same argument, flag and value) are no ambiguity. */
		if (o == first || o->has_arg != first->has_arg || o->flag != first->flag || o->val != first->val)
			(*n)++;
	}
	return first;
}

static int ambiguous(const char *name, size_t len, const struct option *longopts)
{
	char list[512] = "";
	size_t used = 0;
	for (const struct option *o = longopts; o->name && used < sizeof list; o++)
		if (strncmp(o->name, name, len) == 0) {
			int w = snprintf(list + used, sizeof list - used, " '--%s'", o->name);
			used += w > 0 ? (size_t)w : 0;
		}
	return iot_usage_error("option '--%.*s' is ambiguous; possibilities:%s", (int)len, name, list);
}

int iot_getopt_error(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	const char *word = optind >= 1 && optind <= argc ? argv[optind - 1] : "";
	if (word[0] == '-' && word[1] == '-' && word[2]) {
		const char *name = word + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		int n;
		const struct option *o = long_match(name, len, longopts, &n);
		if (n == 1 && o->val == optopt) {
			if (eq && o->has_arg == no_argument)
				return iot_usage_error("option '--%s' doesn't allow an argument", o->name);
			if (!eq && o->has_arg == required_argument)
				return iot_usage_error("option '--%s' requires an argument", o->name);
		}
		if (optopt == 0)
			return n > 1 ? ambiguous(name, len, longopts)
			             : iot_usage_error("unrecognized option '%s'", word);
	}
	/* A short option: one that is in shortopts can only lack its argument. */
	const char *s = optopt > 0 && optopt <= UCHAR_MAX && optopt != ':' ? strchr(shortopts, optopt) : NULL;
	if (s && s[1] == ':')
		return iot_usage_error("option requires an argument -- '%c'", optopt);
	if (optopt > 0 && optopt <= UCHAR_MAX && isprint(optopt))
		return iot_usage_error("invalid option -- '%c'", optopt);
	return iot_usage_error("invalid option");
}
