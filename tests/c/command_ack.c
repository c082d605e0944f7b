/* command_ack — feeds one ack payload to iot_command_ack (registry/command.h),
 * as the MQTT listener does for each message on
 * iotflow/devices/{DEVICE_ID}/commands/ack; for tests/commands.bats.
 *   command_ack DEVICE_ID PAYLOAD
 * Exit status: the error's status (0 ok, 1 rejected, 3 not found, 5
 * unavailable), with "command_ack: fatal: MSG" on stderr. PG* variables
 * name the database. */
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "cli/cli.h"
#include "pg/db.h"
#include "registry/command.h"

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	if (argc != 3)
		return iot_usage_error("usage: command_ack DEVICE_ID PAYLOAD");
	long dev;
	if (iot_parse_long(argv[1], 1, 2147483647L, &dev) < 0)
		return iot_usage_error("invalid DEVICE_ID '%s'", argv[1]);
	iot_error err = { 0 };
	iot_config *cfg = iot_config_new("command_ack");
	iot_db *db = NULL;
	int rc = 0;
	if (iot_config_setup(cfg, NULL, NULL, &err) < 0 || !(db = iot_db_connect(cfg, &err)) ||
	    iot_command_ack(db, dev, argv[2], strlen(argv[2]), &err) < 0)
		rc = iot_fatal_error(&err);
	iot_db_close(db);
	iot_config_free(cfg);
	return rc;
}
