/* iot-user — people: accounts, passwords (Argon2id) and API tokens. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/command_table.h"
#include "cli/secret_check.h"
#include "base/config.h"
#include "pg/db.h"
#include "base/field_check.h"
#include "auth/keys.h"
#include "cli/output.h"
#include "registry/enroll.h"
#include "registry/user.h"

static const char help_text[] =
"Usage: iot-user [OPTION]... COMMAND [ARG]...\n"
"Manage IoTFlow users and their API tokens.\n"
"\n"
"Commands:\n"
"  add USER [--email=EMAIL] [--admin] [--no-password]\n"
"                           create a user; the password is read from the\n"
"                           terminal (asked twice) or as one line of stdin\n"
"  list                     every user\n"
"  show USER                one user\n"
"  set USER [--email=EMAIL | --no-email] [--admin | --no-admin]\n"
"           [--active | --inactive]\n"
"                           change a user\n"
"  disable USER             same as set USER --inactive: refuses its password\n"
"                           and tokens at once\n"
"  enable USER              same as set USER --active\n"
"  passwd USER              set a new password (terminal or stdin)\n"
"  verify USER              check a password (terminal or stdin): exit 0 or 4\n"
"  rm USER                  remove a user who owns no devices\n"
"  token create USER NAME [--expires=DURATION]\n"
"                           new API token, printed once; it expires after\n"
"                           DURATION (at most 100 years), default never\n"
"  token list USER          a user's tokens (never the tokens themselves)\n"
"  token revoke USER NAME   revoke a token at once\n"
"  token check              check API tokens read from stdin, one per line:\n"
"                           exit 0 when all are valid, 4 otherwise\n"
"  enroll create USER       new enrollment code, printed once: firmware that\n"
"                           sends it as user_id registers devices for USER\n"
"                           without a token (POST /api/v1/devices/register)\n"
"  enroll list [USER]       enrollment codes (prefixes only, never the codes)\n"
"  enroll revoke USER [PREFIX]\n"
"                           revoke one code (by its prefix), or all of USER's\n"
"\n"
"Options:\n"
"  -c, --config=FILE        read settings from FILE\n"
"  -d, --db=CONNINFO        PostgreSQL connection string (default: PG* variables)\n"
"      --format=FORMAT      ndjson (default), table or csv\n"
"  -q, --quiet              no warnings\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"DURATION is a number with an optional unit s, m, h, d or w (e.g. 90d).\n"
"Exit status: 0 ok, 1 rejected (duplicate, still owns devices), 2 usage,\n"
"3 not found, 4 wrong password (or PostgreSQL refused the credentials),\n"
"5 database unavailable, 6 internal error.\n"
"See iot-user(1).\n";

/* 100 years (36525 days): far beyond any sensible token lifetime, far
 * within what PostgreSQL's timestamps hold. */
#define MAX_EXPIRES_S (36525L * 86400)

enum {
	OPT_ACTIVE = 1 << 0, OPT_ADMIN = 1 << 1, OPT_EMAIL = 1 << 2, OPT_EXPIRES = 1 << 3,
	OPT_INACTIVE = 1 << 4, OPT_NO_ADMIN = 1 << 5, OPT_NO_EMAIL = 1 << 6, OPT_NO_PASSWORD = 1 << 7,
	OPT_FORMAT_LONG = 256
};

struct opts {
	const char *config, *db, *email;
	enum iot_format format;
	long expires;
	unsigned seen;
};

static const char *const user_cols[] = { "id", "username", "email", "is_admin", "is_active",
	"devices", "tokens", "created_at", "last_login", NULL };
static const char *const token_cols[] = { "id", "username", "name", "prefix", "state",
	"created_at", "expires_at", "last_used", "usage_count", NULL };
static const char *const token_new_cols[] = { "id", "username", "name", "expires_at", "token", NULL };
static const char *const enroll_cols[] = { "id", "username", "prefix", "state", "created_at",
	"last_used", "usage_count", NULL };
static const char *const enroll_new_cols[] = { "id", "username", "prefix", "code", NULL };
static const char *const result_cols[] = { "id", "username", "removed", NULL };
static const char *const passwd_cols[] = { "username", "password_changed", NULL };
static const char *const verify_cols[] = { "username", "ok", "rehashed", NULL };

enum action { A_ADD, A_LIST, A_SHOW, A_SET, A_DISABLE, A_ENABLE, A_PASSWD, A_VERIFY, A_RM,
	A_TOKEN_CREATE, A_TOKEN_LIST, A_TOKEN_REVOKE, A_TOKEN_CHECK,
	A_ENROLL_CREATE, A_ENROLL_LIST, A_ENROLL_REVOKE };

static const iot_command commands[] = {
	{ "add", NULL, 1, 1, OPT_EMAIL | OPT_ADMIN | OPT_NO_PASSWORD, A_ADD, user_cols },
	{ "list", NULL, 0, 0, 0, A_LIST, user_cols },
	{ "show", NULL, 1, 1, 0, A_SHOW, user_cols },
	{ "set", NULL, 1, 1, OPT_EMAIL | OPT_NO_EMAIL | OPT_ADMIN | OPT_NO_ADMIN | OPT_ACTIVE | OPT_INACTIVE,
	  A_SET, user_cols },
	{ "disable", NULL, 1, 1, 0, A_DISABLE, user_cols },
	{ "enable", NULL, 1, 1, 0, A_ENABLE, user_cols },
	{ "passwd", NULL, 1, 1, 0, A_PASSWD, passwd_cols },
	{ "verify", NULL, 1, 1, 0, A_VERIFY, verify_cols },
	{ "rm", NULL, 1, 1, 0, A_RM, result_cols },
	{ "token", "create", 2, 2, OPT_EXPIRES, A_TOKEN_CREATE, token_new_cols },
	{ "token", "list", 1, 1, 0, A_TOKEN_LIST, token_cols },
	{ "token", "revoke", 2, 2, 0, A_TOKEN_REVOKE, token_cols },
	{ "token", "check", 0, 0, 0, A_TOKEN_CHECK, NULL },
	{ "enroll", "create", 1, 1, 0, A_ENROLL_CREATE, enroll_new_cols },
	{ "enroll", "list", 0, 1, 0, A_ENROLL_LIST, enroll_cols },
	{ "enroll", "revoke", 1, 2, 0, A_ENROLL_REVOKE, enroll_cols },
};

/* In the order of the OPT_ bits. */
static const char *const opt_names[] = { "--active", "--admin", "--email", "--expires",
	"--inactive", "--no-admin", "--no-email", "--no-password" };

static const iot_command_table command_table = {
	commands, sizeof commands / sizeof commands[0], opt_names, sizeof opt_names / sizeof opt_names[0],
};

static int parse_options(int argc, char **argv, struct opts *o, int *done)
{
	static const struct option longopts[] = {
		{ "active", no_argument, NULL, 'A' },
		{ "admin", no_argument, NULL, 'a' },
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "email", required_argument, NULL, 'e' },
		{ "expires", required_argument, NULL, 'x' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "inactive", no_argument, NULL, 'I' },
		{ "no-admin", no_argument, NULL, 'N' },
		{ "no-email", no_argument, NULL, 'E' },
		{ "no-password", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	static const char shortopts[] = "c:d:hqV";
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'A': o->seen |= OPT_ACTIVE; break;
		case 'a': o->seen |= OPT_ADMIN; break;
		case 'c': o->config = optarg; break;
		case 'd': o->db = optarg; break;
		case 'e': o->seen |= OPT_EMAIL; o->email = optarg; break;
		case 'E': o->seen |= OPT_NO_EMAIL; break;
		case 'f':
			if (iot_format_parse(optarg, &o->format) < 0)
				return iot_usage_error("invalid --format '%s' (ndjson, table or csv)", optarg);
			break;
		case 'h': *done = 1; return iot_print_help(help_text);
		case 'I': o->seen |= OPT_INACTIVE; break;
		case 'N': o->seen |= OPT_NO_ADMIN; break;
		case 'P': o->seen |= OPT_NO_PASSWORD; break;
		case 'q': iot_quiet = true; break;
		case 'V': *done = 1; return iot_print_version();
		case 'x':
			if (iot_parse_duration(optarg, &o->expires) < 0 || o->expires < 1 ||
			    o->expires > MAX_EXPIRES_S)
				return iot_usage_error("invalid --expires '%s' (1s to 100 years, e.g. 90d)", optarg);
			o->seen |= OPT_EXPIRES;
			break;
		default:
			return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	if ((o->seen & OPT_ADMIN) && (o->seen & OPT_NO_ADMIN))
		return iot_usage_error("--admin and --no-admin exclude each other");
	if ((o->seen & OPT_ACTIVE) && (o->seen & OPT_INACTIVE))
		return iot_usage_error("--active and --inactive exclude each other");
	if ((o->seen & OPT_EMAIL) && (o->seen & OPT_NO_EMAIL))
		return iot_usage_error("--email and --no-email exclude each other");
	return 0;
}

static void secret_error(iot_error *err)
{
	if (errno == EMSGSIZE)
		iot_error_set(err, IOT_USAGE, "password: longer than %d bytes", IOT_PASSWORD_MAX);
	else if (errno == EINVAL)
		iot_error_set(err, IOT_USAGE, "password: contains a NUL byte");
	else if (errno)
		iot_error_set(err, IOT_INTERNAL, "unable to read the password: %s", strerror(errno));
	else
		iot_error_set(err, IOT_USAGE, "no password on standard input");
}

/* A password from the terminal (asked twice) or one line of stdin. */
static char *read_password(bool confirm, iot_error *err)
{
	char *pw = iot_read_secret("Password: ");
	if (!pw) {
		secret_error(err);
		return NULL;
	}
	if (confirm && isatty(STDIN_FILENO)) {
		char *again = iot_read_secret("Retype password: ");
		if (!again)
			secret_error(err);
		bool same = again && !strcmp(pw, again);
		if (again) {
			sodium_memzero(again, strlen(again));
			free(again);
		}
		if (!same) {
			sodium_memzero(pw, strlen(pw));
			free(pw);
			if (again)
				iot_error_set(err, IOT_USAGE, "passwords do not match");
			return NULL;
		}
	}
	return pw;
}

static void free_password(char *pw)
{
	if (pw) {
		sodium_memzero(pw, strlen(pw));
		free(pw);
	}
}

/* add, passwd, verify: a password first. */
static int run_with_password(iot_registry *id, int action, const char *user, const struct opts *o,
                             json_t **out, iot_error *err)
{
	if (iot_username_check(user, err) < 0)
		return -1;
	char *pw = NULL;
	if (!(o->seen & OPT_NO_PASSWORD) && !(pw = read_password(action != A_VERIFY, err)))
		return -1;
	int rc;
	if (action == A_ADD) {
		rc = iot_user_add(id, user, (o->seen & OPT_NO_EMAIL) ? "" : o->email,
		                  (o->seen & OPT_ADMIN) != 0, pw, out, err);
	} else if (action == A_PASSWD) {
		rc = iot_user_set_password(id, user, pw, err);
		if (rc == 0)
			*out = json_pack("{s:s,s:b}", "username", user, "password_changed", 1);
	} else {
		rc = iot_user_verify_password(id, user, pw, out, err);
	}
	free_password(pw);
	return rc;
}

static int run(iot_registry *id, const iot_command *cmd, char **args, const struct opts *o,
               json_t **out, iot_error *err)
{
	int admin = (o->seen & OPT_ADMIN) ? 1 : (o->seen & OPT_NO_ADMIN) ? 0 : -1;
	int active = (o->seen & OPT_ACTIVE) ? 1 : (o->seen & OPT_INACTIVE) ? 0 : -1;
	const char *email = (o->seen & OPT_NO_EMAIL) ? "" : o->email;
	switch ((enum action)cmd->action) {
	case A_LIST: return iot_user_list(id, out, err);
	case A_SHOW: return iot_user_show(id, args[0], out, err);
	case A_SET: return iot_user_update(id, args[0], email, admin, active, out, err);
	case A_DISABLE: return iot_user_update(id, args[0], NULL, -1, 0, out, err);
	case A_ENABLE: return iot_user_update(id, args[0], NULL, -1, 1, out, err);
	case A_RM: return iot_user_remove(id, args[0], out, err);
	case A_ADD: case A_PASSWD: case A_VERIFY:
		return run_with_password(id, cmd->action, args[0], o, out, err);
	case A_TOKEN_CREATE: return iot_token_create(id, args[0], args[1], o->expires, out, err);
	case A_TOKEN_LIST: return iot_token_list(id, args[0], out, err);
	case A_ENROLL_CREATE: return iot_enroll_create(id, args[0], out, err);
	case A_ENROLL_LIST: return iot_enroll_list(id, args[0], out, err);
	case A_ENROLL_REVOKE: return iot_enroll_revoke(id, args[0], args[1], out, err);
	case A_TOKEN_REVOKE: return iot_token_revoke(id, args[0], args[1], out, err);
	case A_TOKEN_CHECK: break;
	}
	return iot_error_set(err, IOT_INTERNAL, "unhandled command");
}

static int token_check_one(void *auth, const char *token, json_t **row, iot_error *err)
{
	iot_user_ref u;
	if (iot_auth_user_token(auth, token, &u, err) < 0)
		return -1;
	*row = json_pack("{s:I,s:b}", "user_id", (json_int_t)u.id, "is_admin", u.is_admin);
	return 0;
}

/* token check: tokens on stdin, one result line each; never echoes a token. */
static int token_check(iot_registry *id, enum iot_format fmt)
{
	static const char *const cols[] = { "line", "valid", "user_id", "is_admin", "error", NULL };
	iot_error err = { 0 };
	iot_auth *auth = iot_auth_new(id->cfg, id->db, NULL, &err);
	if (!auth)
		return iot_fatal_error(&err);
	iot_secret_checker checker = { .check = token_check_one, .arg = auth, .cols = cols,
	                               .malformed = "invalid API token" };
	int rc = iot_check_secrets(fmt, &checker);
	if (iot_auth_flush_usage(auth, &err) < 0)
		iot_warn("unable to record token usage: %s", err.msg);
	iot_auth_free(auth);
	return rc;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	struct opts o = { .format = IOT_FMT_NDJSON };
	iot_error err = { 0 };
	iot_config *cfg = NULL;
	iot_db *db = NULL;
	json_t *result = NULL;
	int done = 0, rc = parse_options(argc, argv, &o, &done);
	if (rc || done)
		return rc ? rc : iot_finish_stdout(0);
	argc -= optind;
	argv += optind;
	char **args;
	int nargs;
	const iot_command *cmd = iot_command_find(&command_table, argc, argv, o.seen, &args, &nargs);
	if (!cmd)
		return IOT_USAGE;
	if (iot_args_utf8_check(argc, argv, &err) < 0) {
		rc = iot_usage_error("%s", err.msg);
		goto out;
	}
	if (cmd->action == A_TOKEN_CREATE || cmd->action == A_ENROLL_CREATE) {
		rc = cmd->action == A_TOKEN_CREATE
		   ? iot_secret_output("the new token", "the token is created and lost: revoke it and create another")
		   : iot_secret_output("the new code", "the code is created and lost: revoke it and create another");
		if (rc)
			goto out;
	}
	cfg = iot_config_new(iot_progname);
	if (iot_config_setup(cfg, o.config, o.db, &err) < 0 || !(db = iot_db_connect(cfg, &err)))
		goto fail;
	iot_registry id = { .cfg = cfg, .db = db, .cache = NULL };
	if (cmd->action == A_TOKEN_CHECK) {
		rc = token_check(&id, o.format);
		goto out;
	}
	if (run(&id, cmd, args, &o, &result, &err) < 0)
		goto fail;
	rc = iot_output_json(stdout, o.format, cmd->cols, result) < 0 ? IOT_INTERNAL : 0;
	goto out;
fail:
	rc = iot_fatal_error(&err);
out:
	json_decref(result);
	iot_db_close(db);
	iot_config_free(cfg);
	return iot_finish_stdout(rc);
}
