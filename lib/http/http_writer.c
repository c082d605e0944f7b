/* http_writer.c — the batch writer, kept alive. A batch writer that could
 * not store a batch within db_retry_time has failed for good (batch.h);
 * a daemon must not. The keeper thread replaces a failed writer: the old
 * one is closed (its queued submissions report failure, so their requests
 * get 503), new ones are tried until PostgreSQL answers again. While there
 * is no writer, telemetry requests are answered 503 at once. */
#include "http/http_int.h"

#include <signal.h>
#include <string.h>
#include <time.h>

static void *keeper_main(void *arg)
{
	iot_httpd *h = arg;
	struct http_keeper *k = &h->keeper;
	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (!k->broken && !k->stopping)
			pthread_cond_wait(&k->cv, &k->mu);
		if (k->stopping)
			break;
		k->broken = false;
		k->current = NULL;
		pthread_mutex_unlock(&k->mu);

		pthread_rwlock_wrlock(&k->lk);
		iot_writer *old = k->w;
		k->w = NULL;
		pthread_rwlock_unlock(&k->lk);
		iot_error err;
		if (old) {
			iot_config_notice(h->cfg, "the batch writer failed: telemetry is refused (503) until "
			                  "PostgreSQL answers again");
			iot_writer_close(old, &err);
		}
		iot_writer *w = NULL;
		for (;;) {
			pthread_mutex_lock(&k->mu);
			bool stop = k->stopping;
			pthread_mutex_unlock(&k->mu);
			if (stop)
				break;
			if ((w = iot_writer_new(h->cfg, &h->o.writer, &err)))
				break;
			struct timespec ts = { 1, 0 };
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&k->mu);
		if (w) {
			pthread_rwlock_wrlock(&k->lk);
			k->w = w;
			pthread_rwlock_unlock(&k->lk);
			k->current = w;
			atomic_fetch_add(&k->replaced, 1);
			iot_config_notice(h->cfg, "a new batch writer is storing telemetry again");
		}
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

int iot__http_keeper_start(iot_httpd *h, iot_error *err)
{
	struct http_keeper *k = &h->keeper;
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	/* Server threads take it for every submission: the keeper must not starve. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&k->lk, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->inited = true;
	if (!(k->w = iot_writer_new(h->cfg, &h->o.writer, err)))
		return -1;
	k->current = k->w;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&k->thread, NULL, keeper_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return iot_error_set(err, IOT_INTERNAL, "unable to start a thread");
	k->started = true;
	return 0;
}

int iot__http_keeper_stop(iot_httpd *h, iot_error *err)
{
	struct http_keeper *k = &h->keeper;
	if (k->started) {
		pthread_mutex_lock(&k->mu);
		k->stopping = true;
		pthread_cond_signal(&k->cv);
		pthread_mutex_unlock(&k->mu);
		pthread_join(k->thread, NULL);
		k->started = false;
	}
	int rc = 0;
	if (k->w) {
		rc = iot_writer_close(k->w, err);
		k->w = NULL;
	}
	if (k->inited) {
		pthread_rwlock_destroy(&k->lk);
		pthread_mutex_destroy(&k->mu);
		pthread_cond_destroy(&k->cv);
		k->inited = false;
	}
	return rc;
}

iot_writer *iot__http_writer_get(iot_httpd *h)
{
	pthread_rwlock_rdlock(&h->keeper.lk);
	if (h->keeper.w)
		return h->keeper.w;
	pthread_rwlock_unlock(&h->keeper.lk);
	return NULL;
}

void iot__http_writer_put(iot_httpd *h)
{
	pthread_rwlock_unlock(&h->keeper.lk);
}

void iot__http_writer_broken(iot_httpd *h, iot_writer *w)
{
	struct http_keeper *k = &h->keeper;
	pthread_mutex_lock(&k->mu);
	/* Only the writer in service: the failures a closing one reports are old news. */
	if (w && w == k->current && !k->broken) {
		k->broken = true;
		pthread_cond_signal(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
}
