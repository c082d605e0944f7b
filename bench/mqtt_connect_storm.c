/* mqtt_connect_storm.c — a connect storm against a broker, and what it does
 * to an unrelated client meanwhile. Built and run by bench/mqtt-connect;
 * prints one NDJSON line, asserts nothing.
 *
 * Usage: mqtt_connect_storm PORT CONCURRENCY < CREDENTIALS
 * CREDENTIALS: "username password" lines; each connects once (CONNECT,
 * CONNACK, DISCONNECT), CONCURRENCY at a time, driven by one poll(2) loop;
 * one the broker closes without a CONNACK is tried again, as a device would.
 * connects_per_s counts answered CONNECTs (accepted or refused).
 * With PROBE_USER/PROBE_PASS/PROBE_TOPIC set, a probe client publishes QoS 1
 * to PROBE_TOPIC every 5 ms during the storm and times each PUBACK. */
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONC 1024
#define MAX_PROBES 200000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct slot {
	struct mosquitto *m;
	size_t cred;
	int state;                     /* 0 free, 1 connecting, 2 done, 3 lost (to retry), 4 closing */
};

static long n_ok, n_refused, n_lost;

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct slot *s = obj;
	if (rc == 0) {
		n_ok++;
		mosquitto_disconnect(m);
		s->state = 4;              /* wait for the broker to close first */
	} else {
		n_refused++;
		s->state = 2;
	}
}

/* The broker closes after our DISCONNECT: its side keeps the TIME_WAIT, on
 * its own port. Closing first would leave thousands of ephemeral ports in
 * TIME_WAIT, where other programs on this machine pick listening ports. */
static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	(void)rc;
	struct slot *s = obj;
	if (s->state == 4)
		s->state = 2;
}

/* ---- the probe ---- */

static struct {
	struct mosquitto *m;
	const char *topic;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool acked;
	double lat[MAX_PROBES];
	size_t n;
	long lost;
} probe = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void probe_on_publish(struct mosquitto *m, void *obj, int mid)
{
	(void)m;
	(void)obj;
	(void)mid;
	pthread_mutex_lock(&probe.mu);
	probe.acked = true;
	pthread_cond_signal(&probe.cv);
	pthread_mutex_unlock(&probe.mu);
}

static void *probe_run(void *arg)
{
	(void)arg;
	while (!atomic_load(&probe.stop)) {
		double t0 = now_s();
		pthread_mutex_lock(&probe.mu);
		probe.acked = false;
		pthread_mutex_unlock(&probe.mu);
		if (mosquitto_publish(probe.m, NULL, probe.topic, 4, "ping", 1, false) != MOSQ_ERR_SUCCESS) {
			probe.lost++;
			usleep(5000);
			continue;
		}
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 30;
		pthread_mutex_lock(&probe.mu);
		while (!probe.acked && pthread_cond_timedwait(&probe.cv, &probe.mu, &dl) == 0)
			;
		bool ok = probe.acked;
		pthread_mutex_unlock(&probe.mu);
		if (!ok)
			probe.lost++;
		else if (probe.n < MAX_PROBES)
			probe.lat[probe.n++] = (now_s() - t0) * 1000;
		usleep(5000);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int probe_start(int port, pthread_t *th)
{
	const char *u = getenv("PROBE_USER"), *p = getenv("PROBE_PASS");
	probe.topic = getenv("PROBE_TOPIC");
	if (!probe.topic)
		return 0;
	probe.m = mosquitto_new("storm-probe", true, NULL);
	if (!probe.m)
		return -1;
	if (u && *u)
		mosquitto_username_pw_set(probe.m, u, p);
	mosquitto_publish_callback_set(probe.m, probe_on_publish);
	if (mosquitto_connect(probe.m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(probe.m) != MOSQ_ERR_SUCCESS)
		return -1;
	usleep(200000);
	return pthread_create(th, NULL, probe_run, NULL) ? -1 : 1;
}

/* ---- the storm ---- */

struct cred {
	char *user, *pass;
};

static struct cred *creds;
static size_t ncreds;
/* Credentials still to connect: each once, and again when the broker
 * closed it without a CONNACK (turned away while busy: a device retries). */
static size_t *queue, qhead, qlen;
static long n_retries;

static void enqueue(size_t i)
{
	queue[(qhead + qlen++) % ncreds] = i;
}

static int read_creds(void)
{
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	while (getline(&line, &cap, stdin) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		if (ncreds == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			struct cred *c = realloc(creds, alloc * sizeof *c);
			if (!c)
				return -1;
			creds = c;
		}
		creds[ncreds].user = strdup(line);
		creds[ncreds].pass = strdup(sp + 1);
		ncreds++;
	}
	free(line);
	if (!ncreds || !(queue = calloc(ncreds, sizeof *queue)))
		return -1;
	for (size_t i = 0; i < ncreds; i++)
		enqueue(i);
	return 0;
}

static void start_one(struct slot *s, int port, size_t i, long seq)
{
	char id[48];
	snprintf(id, sizeof id, "storm-%ld", seq);
	s->cred = i;
	s->m = mosquitto_new(id, true, s);
	if (!s->m) {
		enqueue(i);
		return;
	}
	mosquitto_username_pw_set(s->m, creds[i].user, creds[i].pass);
	mosquitto_connect_callback_set(s->m, on_connect);
	mosquitto_disconnect_callback_set(s->m, on_disconnect);
	s->state = 1;
	if (mosquitto_connect(s->m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
		n_lost++;
		s->state = 3;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mqtt_connect_storm PORT CONCURRENCY < CREDENTIALS\n");
		return 2;
	}
	int port = atoi(argv[1]), conc = atoi(argv[2]);
	if (conc < 1 || conc > MAX_CONC)
		conc = 64;
	if (read_creds() < 0) {
		fprintf(stderr, "mqtt_connect_storm: no credentials on stdin\n");
		return 2;
	}
	mosquitto_lib_init();
	pthread_t th;
	int probing = probe_start(port, &th);
	if (probing < 0) {
		fprintf(stderr, "mqtt_connect_storm: the probe client could not connect\n");
		return 1;
	}
	static struct slot slots[MAX_CONC];
	struct pollfd pfd[MAX_CONC];
	int idx[MAX_CONC];
	long seq = 0;
	double t0 = now_s();
	for (;;) {
		int active = 0;
		for (int i = 0; i < conc; i++) {
			struct slot *s = &slots[i];
			if (s->state == 2 || s->state == 3) {
				if (s->state == 3) {   /* lost: again later */
					n_retries++;
					enqueue(s->cred);
				}
				mosquitto_loop_write(s->m, 1);
				mosquitto_destroy(s->m);
				s->m = NULL;
				s->state = 0;
			}
			if (s->state == 0 && qlen) {
				size_t c = queue[qhead];
				qhead = (qhead + 1) % ncreds;
				qlen--;
				start_one(s, port, c, seq++);
			}
			if (s->state == 1 || s->state == 4) {
				pfd[active].fd = mosquitto_socket(s->m);
				pfd[active].events = POLLIN | (mosquitto_want_write(s->m) ? POLLOUT : 0);
				idx[active++] = i;
			}
		}
		if (!active && !qlen)
			break;
		if (active && poll(pfd, (nfds_t)active, 1000) < 0)
			break;
		for (int k = 0; k < active; k++) {
			struct slot *s = &slots[idx[k]];
			int rc = MOSQ_ERR_SUCCESS;
			if (pfd[k].revents & POLLOUT)
				rc = mosquitto_loop_write(s->m, 1);
			if (rc == MOSQ_ERR_SUCCESS && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				rc = mosquitto_loop_read(s->m, 1);
			if (rc != MOSQ_ERR_SUCCESS && s->state == 1) {
				n_lost++;          /* closed without a CONNACK */
				s->state = 3;
			} else if (rc != MOSQ_ERR_SUCCESS && s->state == 4) {
				s->state = 2;      /* closed by the broker, as wanted */
			}
		}
	}
	double secs = now_s() - t0;
	atomic_store(&probe.stop, true);
	double pmax = 0, p99 = 0, p50 = 0;
	if (probing > 0) {
		pthread_join(th, NULL);
		mosquitto_disconnect(probe.m);
		mosquitto_loop_stop(probe.m, false);
		mosquitto_destroy(probe.m);
		if (probe.n) {
			qsort(probe.lat, probe.n, sizeof probe.lat[0], cmp_double);
			pmax = probe.lat[probe.n - 1];
			p99 = probe.lat[(size_t)((double)(probe.n - 1) * 0.99)];
			p50 = probe.lat[probe.n / 2];
		}
	}
	printf("{\"clients\":%zu,\"connected\":%ld,\"refused\":%ld,\"lost_and_retried\":%ld,\"seconds\":%.3f,"
	       "\"connects_per_s\":%.0f,\"probe_publishes\":%zu,\"probe_unacked\":%ld,"
	       "\"probe_p50_ms\":%.2f,\"probe_p99_ms\":%.2f,\"probe_max_ms\":%.2f}\n",
	       ncreds, n_ok, n_refused, n_retries, secs, (double)(n_ok + n_refused) / secs, probe.n, probe.lost,
	       p50, p99, pmax);
	mosquitto_lib_cleanup();
	return 0;
}
