/* mqtt_url_check — print what iot_mqtt_url_parse makes of each argument:
 * "host=H port=P tls=0|1 user=U password=set|none", or "error: MSG". */
#include <stdio.h>

#include "mqtt/mqtt_url.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		iot_mqtt_url u;
		iot_error err = { 0 };
		if (iot_mqtt_url_parse(argv[i], &u, &err) < 0) {
			printf("error: %s\n", err.msg);
			continue;
		}
		char addr[300];
		iot_mqtt_url_address(&u, addr, sizeof addr);
		printf("host=%s port=%d tls=%d user=%s password=%s addr=%s\n", u.host, u.port, u.tls,
		       u.username, u.password[0] ? u.password : "none", addr);
		iot_mqtt_url_clear(&u);
	}
	return 0;
}
