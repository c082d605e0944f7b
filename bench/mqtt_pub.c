/* mqtt_pub — a QoS 1 publisher that counts its PUBACKs (for bench/mqtt and
 * tests/mqtt_listen*.bats): Debian 12's `mosquitto_pub -l` drops the tail of
 * large bursts and still exits 0, so nothing here trusts what was sent.
 *
 *   mqtt_pub HOST PORT [INFLIGHT] < LINES
 *
 * Each line of stdin is "TOPIC PAYLOAD" (split at the first space),
 * published at QoS 1 with at most INFLIGHT (default 100) unacknowledged.
 * At EOF it waits until every message is acknowledged by the broker (60 s
 * at most) and prints "acked N of M" on stdout; exit 0 when N == M, 1 when
 * not, 2 on usage. MQTT v3.1.1, clean session, anonymous (IOTFLOW_MQTT_USER
 * and IOTFLOW_MQTT_PASSWORD when set). */
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long acked, connected;

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	(void)m, (void)obj, (void)mid;
	pthread_mutex_lock(&mu);
	acked++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)m, (void)obj;
	pthread_mutex_lock(&mu);
	connected = rc == 0 ? 1 : -1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void deadline(struct timespec *ts, int s)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += s;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mqtt_pub HOST PORT [INFLIGHT] < 'TOPIC PAYLOAD' lines\n");
		return 2;
	}
	long inflight = argc == 4 ? strtol(argv[3], NULL, 10) : 100;
	if (inflight < 1)
		inflight = 1;
	mosquitto_lib_init();
	char id[64];
	snprintf(id, sizeof id, "mqtt_pub-%ld", (long)getpid());
	struct mosquitto *m = mosquitto_new(id, true, NULL);
	if (!m)
		return 1;
	const char *user = getenv("IOTFLOW_MQTT_USER");
	if (user)
		mosquitto_username_pw_set(m, user, getenv("IOTFLOW_MQTT_PASSWORD"));
	mosquitto_publish_callback_set(m, on_publish);
	mosquitto_connect_callback_set(m, on_connect);
	if (mosquitto_connect(m, argv[1], atoi(argv[2]), 60) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "mqtt_pub: unable to connect\n");
		return 1;
	}
	struct timespec ts;
	pthread_mutex_lock(&mu);
	deadline(&ts, 10);
	while (connected == 0 && pthread_cond_timedwait(&cv, &mu, &ts) == 0)
		;
	pthread_mutex_unlock(&mu);
	if (connected != 1) {
		fprintf(stderr, "mqtt_pub: the broker did not accept the connection\n");
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long sent = 0;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		pthread_mutex_lock(&mu);
		while (sent - acked >= inflight)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		int rc = mosquitto_publish(m, NULL, line, (int)(n - (sp + 1 - line)), sp + 1, 1, false);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "mqtt_pub: publish failed: %s\n", mosquitto_strerror(rc));
			break;
		}
		sent++;
	}
	free(line);
	pthread_mutex_lock(&mu);
	deadline(&ts, 60);
	while (acked < sent && pthread_cond_timedwait(&cv, &mu, &ts) == 0)
		;
	long done = acked;
	pthread_mutex_unlock(&mu);
	printf("acked %ld of %ld\n", done, sent);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return done == sent ? 0 : 1;
}
