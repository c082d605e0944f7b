/* secret_check.c — secrets on standard input, one a line, one row each. */
#include "cli/secret_check.h"

#include "cli/stdin_lines.h"

/* No key or token comes near this; a longer line is refused unread. */
#define SECRET_LINE_MAX 255

static int secret_line(void *arg, long lineno, const char *s, size_t len, json_t **row, iot_error *err)
{
	const iot_secret_checker *c = arg;
	json_t *found = NULL;
	(void)lineno;
	(void)len;
	if (!s)
		iot_error_set(err, IOT_DENIED, "%s", c->malformed);
	else if (c->check(c->arg, s, &found, err) == 0 && !found)
		iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (c->after_line)
		c->after_line(c->arg);
	if (found) {
		*row = json_pack("{s:b}", "valid", 1);
		json_object_update(*row, found);
		json_decref(found);
		return 0;
	}
	if (err->status != IOT_DENIED)
		return -1;
	*row = json_pack("{s:b,s:s}", "valid", 0, "error", err->msg);
	return 1;
}

int iot_check_secrets(enum iot_format fmt, const iot_secret_checker *c)
{
	iot_stdin_lines h = { .max_len = SECRET_LINE_MAX, .secret = true, .cols = c->cols,
	                      .line = secret_line, .arg = (void *)c };
	long refused;
	int rc = iot_stdin_lines_run(&h, fmt, &refused);
	return rc == 0 && refused ? IOT_DENIED : rc;
}
