/* batch_producers — several producer threads against one batch writer and a
 * real PostgreSQL: one with good points, one whose points are partly bad,
 * one using callbacks; then a replay. Each waits for the commit that holds
 * its points and checks every point's outcome. Prints "ok"/"not ok" lines;
 * exits 1 on any failure.
 * Usage: batch_producers GOOD_DEVICE BAD_DEVICE CB_DEVICE  (PG* variables name the database) */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/batch.h"
#include "base/clock.h"
#include "base/config.h"
#include "pg/db.h"

#define ROUNDS 40
#define PER 10

static iot_writer *W;
static int64_t base_us;
static atomic_int failures;

static void check(int cond, const char *what)
{
	printf("%s - %s\n", cond ? "ok" : "not ok", what);
	if (!cond)
		atomic_fetch_add(&failures, 1);
}

static void make_points(iot_point *p, int64_t dev, int round, bool with_bad)
{
	static const char *names[PER] = { "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9" };
	for (int i = 0; i < PER; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].device_id = dev;
		p[i].ts_us = base_us + round * 1000;
		p[i].measurement = names[i];
		p[i].type = IOT_VAL_NUMBER;
		p[i].num = round + i / 10.0;
		if (with_bad && (i == 3 || i == 7)) {
			/* Passes no decoder, but the writer must survive it: invalid JSON for jsonb. */
			p[i].type = IOT_VAL_JSON;
			p[i].text = "{not json";
		}
	}
}

struct job { int64_t dev; bool bad; int stored, duplicates, rejected, wrong_reason; };

static void *producer(void *arg)
{
	struct job *j = arg;
	iot_point pts[PER];
	for (int r = 0; r < ROUNDS; r++) {
		make_points(pts, j->dev, r, j->bad);
		iot_error err;
		iot_ticket *t = iot_writer_submit(W, pts, PER, &err);
		if (!t) {
			j->rejected = -1000;
			return NULL;
		}
		const iot_submit_result *res = iot_ticket_wait(t);
		j->stored += (int)res->stored;
		j->duplicates += (int)res->duplicates;
		j->rejected += (int)res->rejected;
		for (size_t i = 0; i < res->npoints; i++)
			if (res->outcome[i] == IOT_POINT_REJECTED &&
			    (!res->reason[i] || !strstr(res->reason[i], "json") || (i != 3 && i != 7)))
				j->wrong_reason++;
		iot_ticket_free(t);
	}
	return NULL;
}

static atomic_int cb_stored, cb_calls;
static int cb_ctx; /* its address is the context every callback must get back */

static void on_done(const iot_submit_result *res, void *ctx, uint64_t tag)
{
	if (ctx != &cb_ctx || tag >= ROUNDS)
		atomic_fetch_add(&failures, 1);
	atomic_fetch_add(&cb_stored, (int)res->stored);
	atomic_fetch_add(&cb_calls, 1);
}

static void *cb_producer(void *arg)
{
	int64_t dev = *(int64_t *)arg;
	iot_point pts[PER];
	for (int r = 0; r < ROUNDS; r++) {
		make_points(pts, dev, r, false);
		iot_error err;
		if (iot_writer_submit_cb(W, pts, PER, on_done, &cb_ctx, (uint64_t)r, &err) < 0)
			atomic_fetch_add(&failures, 1);
	}
	return NULL;
}

static long count_rows(iot_db *db, int64_t dev)
{
	char d[24];
	snprintf(d, sizeof d, "%" PRId64, dev);
	const char *p[] = { d };
	iot_error err;
	PGresult *r = iot_db_exec(db, "SELECT count(*) FROM telemetry_data WHERE device_id = $1", 1, p, &err);
	long n = r ? atol(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: batch_producers GOOD_DEVICE BAD_DEVICE CB_DEVICE\n");
		return 2;
	}
	int64_t good = atoll(argv[1]), bad = atoll(argv[2]), cbdev = atoll(argv[3]);
	base_us = (iot_now_us() / 1000000 - 3600) * 1000000;
	iot_config *cfg = iot_config_new("batch_producers");
	iot_error err;
	iot_writer_opts o;
	iot_writer_opts_default(&o);
	o.batch_size = 64;   /* small: many batches, producers mixed within them */
	o.flush_ms = 20;
	if (iot_config_load(cfg, NULL, &err) < 0 || !(W = iot_writer_new(cfg, &o, &err))) {
		fprintf(stderr, "batch_producers: %s\n", err.msg);
		return 1;
	}
	struct job jg = { .dev = good }, jb = { .dev = bad, .bad = true };
	pthread_t tg, tb, tc;
	pthread_create(&tg, NULL, producer, &jg);
	pthread_create(&tb, NULL, producer, &jb);
	pthread_create(&tc, NULL, cb_producer, &cbdev);
	pthread_join(tg, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	check(iot_writer_flush(W, &err) == 0, "flush after concurrent producers");
	check(jg.stored == ROUNDS * PER && jg.rejected == 0, "good producer: every point stored");
	check(jb.stored == ROUNDS * (PER - 2), "bad producer: the good points of each submission stored");
	check(jb.rejected == ROUNDS * 2 && jb.wrong_reason == 0, "bad producer: exactly the bad points rejected, with PostgreSQL's reason");
	check(atomic_load(&cb_calls) == ROUNDS && atomic_load(&cb_stored) == ROUNDS * PER, "callback producer: every callback ran, every point stored");
	iot_db *db = iot_db_connect(cfg, &err);
	check(db && count_rows(db, good) == ROUNDS * PER, "database holds the good producer's rows");
	check(db && count_rows(db, bad) == ROUNDS * (PER - 2), "database holds the bad producer's good rows only");
	check(db && count_rows(db, cbdev) == ROUNDS * PER, "database holds the callback producer's rows");
	/* Replay: the same points again are duplicates, nothing new is stored. */
	struct job jr = { .dev = good };
	producer(&jr);
	check(jr.duplicates == ROUNDS * PER && jr.stored == 0, "replayed points reported as duplicates");
	check(db && count_rows(db, good) == ROUNDS * PER, "replay stored nothing twice");
	iot_metric *const *m;
	size_t n = iot_writer_metrics(W, &m);
	check(n > 0 && iot_metric_get(m[1]) == (uint64_t)(2 * ROUNDS * PER + ROUNDS * (PER - 2)), "stored-points counter matches");
	check(iot_writer_close(W, &err) == 0, "close");
	iot_db_close(db);
	iot_config_free(cfg);
	return atomic_load(&failures) ? 1 : 0;
}
