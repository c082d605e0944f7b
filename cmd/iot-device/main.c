/* iot-device — provision devices from the shell: add (one or many), list,
 * show, set, rm, keys, typed configuration, online status and commands. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/command_table.h"
#include "base/config.h"
#include "pg/db.h"
#include "base/field_check.h"
#include "iot-device.h"

static const char help_text[] =
"Usage: iot-device [OPTION]... COMMAND [ARG]...\n"
"Provision IoTFlow devices, their API keys and configuration.\n"
"\n"
"Commands:\n"
"  add NAME --owner=USER [FIELD OPTION]...   add a device; prints its API key once\n"
"  add - [--owner=USER] [--strict]           add devices from NDJSON on stdin,\n"
"                                            one result line per input line\n"
"  list [--owner=USER] [--type=TYPE] [--status=STATUS] [--online | --offline]\n"
"                                            devices, filtered\n"
"  show DEVICE                               one device with its keys and config\n"
"  set DEVICE [--name=NAME] [--owner=USER] [FIELD OPTION]...\n"
"                                            change a device\n"
"  rm DEVICE                                 remove a device and its data\n"
"  key rotate DEVICE [--grace=DURATION]      new key; old keys stop now or after\n"
"                                            the grace period\n"
"  key revoke DEVICE [PREFIX]                revoke one key (by prefix) or all\n"
"  key list DEVICE                           a device's keys (prefixes, state)\n"
"  key check                                 check API keys read from stdin\n"
"  config get DEVICE [KEY]                   configuration values\n"
"  config set DEVICE KEY VALUE [--type=TYPE] set a value (string, integer,\n"
"                                            float, boolean or json)\n"
"  config rm DEVICE KEY                      remove a value\n"
"                                            (set and rm publish the device's\n"
"                                            whole config, retained, to MQTT)\n"
"  status [DEVICE] [--owner=USER] [--online | --offline] [--summary]\n"
"                                            online/offline and last_seen\n"
"  command send DEVICE COMMAND [--params=JSON] [--ttl=DURATION]\n"
"                                            send a command over MQTT (QoS 1)\n"
"  command list [--device=DEVICE] [--status=STATUS] [--limit=N]\n"
"                                            commands, newest first\n"
"  command retry                             send what the broker missed: pending\n"
"                                            commands, changed configs, removed\n"
"                                            devices' configs off; expire old\n"
"\n"
"DEVICE is a device id, OWNER/NAME, or a NAME only one device has.\n"
"\n"
"Field options (add, set):\n"
"      --type=TYPE          device type (default sensor)\n"
"      --description=TEXT   free text (up to 1000 characters)\n"
"      --location=TEXT      where it is (up to 200)\n"
"      --firmware=VERSION   firmware version (up to 50)\n"
"      --hardware=VERSION   hardware version (up to 50)\n"
"      --status=STATUS      active (default), inactive or maintenance\n"
"  On set, an empty TEXT or VERSION removes the value.\n"
"\n"
"Options:\n"
"  -c, --config=FILE        read settings from FILE\n"
"  -d, --db=CONNINFO        PostgreSQL connection string (default: PG* variables)\n"
"      --format=FORMAT      ndjson (default), table or csv\n"
"      --window=DURATION    online window (default: setting online_window, 5m)\n"
"      --params=JSON        command parameters, any JSON (default {})\n"
"      --ttl=DURATION       how long a command may wait for its device\n"
"                           (default: setting command_ttl, 1h)\n"
"      --device=DEVICE      command list: one device's commands\n"
"      --limit=N            command list: at most N (default 100)\n"
"  -q, --quiet              no warnings\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"DURATION is a number with an optional unit s, m, h, d or w (e.g. 24h).\n"
"Put -- before a VALUE that starts with '-'; options may follow it, as in\n"
"  iot-device config set DEVICE KEY -- -5 --type integer\n"
"Exit status: 0 ok, 1 rejected (duplicate name, bad NDJSON line), 2 usage or\n"
"invalid value (or an ambiguous NAME), 3 not found, 4 key refused (key check)\n"
"or PostgreSQL refused the credentials,\n"
"5 database unavailable, or Redis configured but the cache not told of a\n"
"change (committed; the message says what to run once Redis is back, and a\n"
"rotated key is in the output: do not rotate again; rm removes nothing then),\n"
"6 internal error. command send: 5 when the broker is unreachable (the\n"
"command is stored pending and printed), 4 when it refused the login;\n"
"config set/rm: the same when the change is stored but not published.\n"
"See iot-device(1).\n";

enum {
	O_DESCRIPTION = 1 << 0, O_FIRMWARE = 1 << 1, O_GRACE = 1 << 2, O_HARDWARE = 1 << 3,
	O_LOCATION = 1 << 4, O_NAME = 1 << 5, O_OFFLINE = 1 << 6, O_ONLINE = 1 << 7,
	O_OWNER = 1 << 8, O_STATUS = 1 << 9, O_STRICT = 1 << 10, O_SUMMARY = 1 << 11,
	O_TYPE = 1 << 12, O_WINDOW = 1 << 13, O_DEVICE = 1 << 14, O_LIMIT = 1 << 15, O_PARAMS = 1 << 16,
	O_TTL = 1 << 17,
};
static const char *const opt_names[] = { "--description", "--firmware", "--grace", "--hardware",
	"--location", "--name", "--offline", "--online", "--owner", "--status", "--strict",
	"--summary", "--type", "--window", "--device", "--limit", "--params", "--ttl" };
#define FIELD_OPTS (O_DESCRIPTION | O_FIRMWARE | O_HARDWARE | O_LOCATION | O_STATUS | O_TYPE)

static const char *const device_cols[] = { "id", "name", "owner", "type", "status", "online",
	"last_seen", "location", "key_prefix", NULL };
static const char *const added_cols[] = { "id", "name", "owner", "type", "status", "api_key", NULL };
static const char *const set_cols[] = { "id", "name", "owner", "type", "status", "location",
	"firmware_version", "hardware_version", NULL };
static const char *const removed_cols[] = { "id", "name", "owner", "removed", NULL };
static const char *const rotate_cols[] = { "id", "key_prefix", "previous_keys",
	"previous_valid_until", "api_key", NULL };
static const char *const revoke_cols[] = { "id", "revoked", "key_prefixes", NULL };
static const char *const key_cols[] = { "device_id", "key_prefix", "state", "created_at",
	"expires_at", "last_used", "usage_count", NULL };
static const char *const config_cols[] = { "device_id", "key", "type", "value", "updated_at", NULL };
static const char *const config_rm_cols[] = { "device_id", "key", "removed", NULL };
static const char *const status_cols[] = { "id", "name", "owner", "status", "online", "last_seen", NULL };
static const char *const summary_cols[] = { "devices", "online", "offline", "active", "inactive",
	"maintenance", NULL };

enum action { A_ADD, A_LIST, A_SHOW, A_SET, A_RM, A_ROTATE, A_REVOKE, A_KEYS, A_CHECK,
	A_CGET, A_CSET, A_CRM, A_STATUS, A_CSEND, A_CLIST, A_CRETRY };

static const iot_command commands[] = {
	{ "add", NULL, 1, 1, FIELD_OPTS | O_OWNER | O_STRICT, A_ADD, added_cols },
	{ "list", NULL, 0, 0, O_OWNER | O_TYPE | O_STATUS | O_ONLINE | O_OFFLINE | O_WINDOW, A_LIST, device_cols },
	{ "show", NULL, 1, 1, O_WINDOW, A_SHOW, device_cols },
	{ "set", NULL, 1, 1, FIELD_OPTS | O_NAME | O_OWNER, A_SET, set_cols },
	{ "rm", NULL, 1, 1, 0, A_RM, removed_cols },
	{ "key", "rotate", 1, 1, O_GRACE, A_ROTATE, rotate_cols },
	{ "key", "revoke", 1, 2, 0, A_REVOKE, revoke_cols },
	{ "key", "list", 1, 1, 0, A_KEYS, key_cols },
	{ "key", "check", 0, 0, 0, A_CHECK, NULL },
	{ "config", "get", 1, 2, 0, A_CGET, config_cols },
	{ "config", "set", 3, 3, O_TYPE, A_CSET, config_cols },
	{ "config", "rm", 2, 2, 0, A_CRM, config_rm_cols },
	{ "status", NULL, 0, 1, O_OWNER | O_ONLINE | O_OFFLINE | O_WINDOW | O_SUMMARY, A_STATUS, status_cols },
	{ "command", "send", 2, 2, O_PARAMS | O_TTL, A_CSEND, NULL },
	{ "command", "list", 0, 0, O_DEVICE | O_STATUS | O_LIMIT, A_CLIST, NULL },
	{ "command", "retry", 0, 0, 0, A_CRETRY, NULL },
};

static const iot_command_table command_table = {
	commands, sizeof commands / sizeof commands[0], opt_names, sizeof opt_names / sizeof opt_names[0],
};

static int set_text(struct dev_opts *o, unsigned bit, const char **field)
{
	o->seen |= bit;
	*field = optarg;
	return 0;
}

static int parse_duration_opt(const char *name, long min, long *out)
{
	if (iot_parse_duration(optarg, out) < 0 || *out < min)
		return iot_usage_error("invalid %s '%s' (e.g. 90s, 15m, 24h)", name, optarg);
	return 0;
}

static int parse_options(int argc, char **argv, struct dev_opts *o, int *done)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "description", required_argument, NULL, 'D' },
		{ "device", required_argument, NULL, 'E' },
		{ "firmware", required_argument, NULL, 'F' },
		{ "format", required_argument, NULL, 'f' },
		{ "grace", required_argument, NULL, 'g' },
		{ "hardware", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "limit", required_argument, NULL, 'l' },
		{ "location", required_argument, NULL, 'L' },
		{ "name", required_argument, NULL, 'n' },
		{ "offline", no_argument, NULL, '0' },
		{ "online", no_argument, NULL, '1' },
		{ "owner", required_argument, NULL, 'o' },
		{ "params", required_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "status", required_argument, NULL, 's' },
		{ "strict", no_argument, NULL, 'S' },
		{ "summary", no_argument, NULL, 'Y' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "type", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;
	static const char shortopts[] = "c:d:hqV";
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'd': o->db = optarg; break;
		case 'D': rc = set_text(o, O_DESCRIPTION, &o->f.description); break;
		case 'E': rc = set_text(o, O_DEVICE, &o->device); break;
		case 'F': rc = set_text(o, O_FIRMWARE, &o->f.firmware); break;
		case 'f':
			if (iot_format_parse(optarg, &o->format) < 0)
				return iot_usage_error("invalid --format '%s' (ndjson, table or csv)", optarg);
			break;
		case 'g': o->seen |= O_GRACE; rc = parse_duration_opt("--grace", 0, &o->grace); break;
		case 'H': rc = set_text(o, O_HARDWARE, &o->f.hardware); break;
		case 'h': *done = 1; return iot_print_help(help_text);
		case 'L': rc = set_text(o, O_LOCATION, &o->f.location); break;
		case 'l':
			o->seen |= O_LIMIT;
			if (iot_parse_long(optarg, 1, 10000, &o->limit) < 0)
				return iot_usage_error("invalid --limit '%s' (1 to 10000)", optarg);
			break;
		case 'n': rc = set_text(o, O_NAME, &o->f.name); break;
		case '0': o->seen |= O_OFFLINE; o->online = 0; break;
		case '1': o->seen |= O_ONLINE; o->online = 1; break;
		case 'o': rc = set_text(o, O_OWNER, &o->f.owner); break;
		case 'P': rc = set_text(o, O_PARAMS, &o->params); break;
		case 'q': iot_quiet = true; break;
		case 's': rc = set_text(o, O_STATUS, &o->f.status); break;
		case 'S': o->seen |= O_STRICT; o->strict = true; break;
		case 'Y': o->seen |= O_SUMMARY; o->summary = true; break;
		case 't': rc = set_text(o, O_TYPE, &o->type); break;
		case 'T':
			o->seen |= O_TTL;
			rc = parse_duration_opt("--ttl", 1, &o->ttl);
			if (rc == 0 && o->ttl > 30L * 86400)
				return iot_usage_error("invalid --ttl '%s' (at most 30d)", optarg);
			break;
		case 'V': *done = 1; return iot_print_version();
		case 'w': o->seen |= O_WINDOW; rc = parse_duration_opt("--window", 1, &o->window); break;
		default:
			return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	if (rc == 0 && (o->seen & O_ONLINE) && (o->seen & O_OFFLINE))
		return iot_usage_error("--online and --offline exclude each other");
	return rc;
}

/* Options may follow the operands even after "--" (which lets an operand
 * start with '-'): `config set DEV KEY -- -5 --type integer`. What follows
 * the named command's last operand is parsed as options; *argc drops it. */
static int trailing_options(int *argc, char **argv, struct dev_opts *o, int *done)
{
	if (*argc < 1)
		return 0;
	for (size_t i = 0; i < command_table.n; i++) {
		const iot_command *c = &command_table.cmds[i];
		if (strcmp(c->name, argv[0]) || (c->sub && (*argc < 2 || strcmp(c->sub, argv[1]))))
			continue;
		int first = (c->sub ? 2 : 1) + c->max_args;
		if (*argc <= first)
			return 0;
		/* getopt skips element 0 of what it is given: the last operand stands in. */
		char **tail = argv + first - 1;
		int tailc = *argc - first + 1;
		optind = 0;                    /* start afresh (glibc) */
		int rc = parse_options(tailc, tail, o, done);
		if (rc || *done || optind < tailc) /* operands left over: too many, said below */
			return rc;
		*argc = first;
		return 0;
	}
	return 0;
}

int dev_emit(json_t *v, const char *const *cols, enum iot_format fmt)
{
	return iot_output_json(stdout, fmt, cols, v);
}

void dev_cache_warning(iot_cache *cache)
{
	const char *w = iot_cache_take_warning(cache);
	if (w)
		iot_warn("%s", w);
}

/* Only the status columns, in every format. */
static json_t *status_only(json_t *dev)
{
	json_t *s = json_object();
	for (size_t i = 0; status_cols[i]; i++)
		json_object_set(s, status_cols[i], json_object_get(dev, status_cols[i]));
	return s;
}

static int status_cmd(iot_registry *id, char **args, int nargs, const struct dev_opts *o,
                      json_t **out, iot_error *err)
{
	json_t *all = NULL, *one = NULL;
	if (nargs == 1) {
		if (iot_device_show(id, args[0], o->window, &one, err) < 0)
			return -1;
		*out = status_only(one);
		json_decref(one);
		return 0;
	}
	iot_device_filter flt = { .owner = o->f.owner, .online = o->online, .window_s = o->window };
	if (iot_device_list(id, &flt, &all, err) < 0)
		return -1;
	if (o->summary) {
		*out = iot_device_summary(all);
	} else {
		size_t i;
		json_t *dev;
		*out = json_array();
		json_array_foreach(all, i, dev)
			json_array_append_new(*out, status_only(dev));
	}
	json_decref(all);
	return 0;
}

static int run(iot_registry *id, const iot_command *cmd, char **args, int nargs,
               struct dev_opts *o, json_t **out, iot_error *err)
{
	iot_device_filter flt = { .owner = o->f.owner, .type = o->type, .status = o->f.status,
	                          .online = o->online, .window_s = o->window };
	switch ((enum action)cmd->action) {
	case A_ADD:
		o->f.name = args[0];
		o->f.type = o->type;
		return iot_device_add(id, &o->f, out, err);
	case A_LIST: return iot_device_list(id, &flt, out, err);
	case A_SHOW: return iot_device_show(id, args[0], o->window, out, err);
	case A_SET:
		o->f.type = o->type;
		return iot_device_update(id, args[0], &o->f, out, err);
	case A_RM: return iot_device_remove(id, args[0], out, err);
	case A_ROTATE: return iot_device_key_rotate(id, args[0], o->grace, out, err);
	case A_REVOKE: return iot_device_key_revoke(id, args[0], nargs > 1 ? args[1] : NULL, out, err);
	case A_KEYS: return iot_device_key_list(id, args[0], out, err);
	case A_CGET: return iot_device_config_get(id, args[0], nargs > 1 ? args[1] : NULL, out, err);
	case A_CSET: return iot_device_config_set(id, args[0], args[1], args[2], o->type, out, err);
	case A_CRM: return iot_device_config_remove(id, args[0], args[1], out, err);
	case A_STATUS: return status_cmd(id, args, nargs, o, out, err);
	case A_CHECK:
	case A_CSEND:
	case A_CLIST:
	case A_CRETRY: break;
	}
	return iot_error_set(err, IOT_INTERNAL, "unhandled command");
}

static const char *const *columns_for(const iot_command *cmd, const struct dev_opts *o)
{
	if (cmd->action == A_STATUS && o->summary)
		return summary_cols;
	if (cmd->action == A_STATUS)
		return status_cols;
	return cmd->cols;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	struct dev_opts o = { .format = IOT_FMT_NDJSON, .online = -1 };
	iot_error err = { 0 };
	iot_config *cfg = NULL;
	iot_db *db = NULL;
	iot_cache *cache = NULL;
	json_t *result = NULL;
	int done = 0, rc = parse_options(argc, argv, &o, &done);
	if (rc || done)
		return rc ? rc : iot_finish_stdout(0);
	argc -= optind;
	argv += optind;
	if ((rc = trailing_options(&argc, argv, &o, &done)) || done)
		return rc ? rc : iot_finish_stdout(0);
	char **args;
	int nargs;
	const iot_command *cmd = iot_command_find(&command_table, argc, argv, o.seen, &args, &nargs);
	if (!cmd)
		return IOT_USAGE;
	bool bulk = cmd->action == A_ADD && !strcmp(args[0], "-");
	if (iot_args_utf8_check(argc, argv, &err) < 0 ||
	    (o.f.description && iot_args_utf8_check(1, (char **)&o.f.description, &err) < 0)) {
		rc = iot_usage_error("%s", err.msg);
		goto out;
	}
	if (cmd->action == A_ADD && !bulk && !o.f.owner) {
		rc = iot_usage_error("add: --owner is required");
		goto out;
	}
	if (cmd->action == A_ADD || cmd->action == A_ROTATE) {
		rc = cmd->action == A_ROTATE
		   ? iot_secret_output("the new key", "the rotation is committed and its new key lost: rotate again")
		   : iot_secret_output(bulk ? "the new keys" : "the new key",
		                       bulk ? "the devices added are committed and keys not shown are lost: rotate those"
		                            : "the device is added and its key lost: give it one with key rotate");
		if (rc)
			goto out;
	}
	cfg = iot_config_new(iot_progname);
	if (iot_config_setup(cfg, o.config, o.db, &err) < 0 ||
	    !(cache = iot_cache_connect(cfg, &err)) || !(db = iot_db_connect(cfg, &err)))
		goto fail;
	iot_registry id = { .cfg = cfg, .db = db, .cache = cache };
	if (bulk || cmd->action == A_CHECK) {
		rc = bulk ? dev_bulk_add(&id, &o) : dev_key_check(&id, &o);
		goto out;
	}
	if (cmd->action == A_CSEND || cmd->action == A_CLIST || cmd->action == A_CRETRY) {
		if (cmd->action == A_CSEND && !o.ttl)
			o.ttl = iot_config_get_long(cfg, "command_ttl");
		rc = cmd->action == A_CSEND ? dev_command_send(&id, args, &o)
		   : cmd->action == A_CLIST ? dev_command_list(&id, &o) : dev_command_retry(&id, &o);
		goto out;
	}
	if (run(&id, cmd, args, nargs, &o, &result, &err) < 0) {
		/* A committed change whose invalidation failed still has a result
		 * to show (a rotated key would otherwise be lost). */
		if (result && dev_emit(result, columns_for(cmd, &o), o.format) < 0)
			iot_warn("unable to write the result");
		goto fail;
	}
	dev_cache_warning(cache);
	rc = dev_emit(result, columns_for(cmd, &o), o.format) < 0 ? IOT_INTERNAL : 0;
	if (rc == 0 && (cmd->action == A_CSET || cmd->action == A_CRM))
		rc = dev_config_publish(&id, result);
	goto out;
fail:
	dev_cache_warning(cache);
	rc = iot_fatal_error(&err);
out:
	json_decref(result);
	iot_db_close(db);
	iot_cache_free(cache);
	iot_config_free(cfg);
	return iot_finish_stdout(rc);
}
