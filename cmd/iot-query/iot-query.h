/* iot-query.h — what the parts of iot-query share. */
#ifndef IOT_QUERY_CMD_H
#define IOT_QUERY_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/output.h"
#include "query/query.h"
#include "registry/registry.h"

/* The options as given (checked in main.c), and what they mean. */
struct q_opts {
	const char *config, *db;
	enum iot_format format;
	const char **devices, **measurements;   /* --device, --measurement, in order */
	size_t ndevices, nmeasurements;
	const char *since, *until, *limit, *order, *owner, *type, *fn, *window, *fill;
	bool metadata;
	unsigned seen;
	/* Parsed before connecting. */
	int64_t since_us, until_us;
	long limit_n;
	bool ascending;
	enum iot_agg_fn agg_fn;
	int64_t window_us;
	enum iot_agg_fill agg_fill;
};

/* range, latest, lastpoint, aggregate: the result on stdout. Returns the
 * exit code. */
int q_range(iot_registry *reg, const struct q_opts *o);
int q_latest(iot_registry *reg, const struct q_opts *o);
int q_lastpoint(iot_registry *reg, const struct q_opts *o);
int q_aggregate(iot_registry *reg, const struct q_opts *o);
/* export: the points streamed to stdout, progress on a terminal. */
int q_export(iot_registry *reg, const struct q_opts *o);

/* follow: points as they are committed, until a signal. */
int q_follow(iot_registry *reg, const struct q_opts *o);
/* Every --device resolved (iot_device_resolve) into a malloc'd array. */
int q_resolve_devices(iot_registry *reg, const struct q_opts *o, int64_t **ids, iot_error *err);
/* Standard output could not be written: say why (errno) once, here, and
 * return IOT_INTERNAL (the stream's error is cleared, so that
 * iot_finish_stdout does not say it again, with a stale errno). */
int q_write_error(void);
/* An error as the exit code: a usage error (one line and the hint) for
 * IOT_USAGE, else fatal. */
int q_fail(const iot_error *err);

#endif
