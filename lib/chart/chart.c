/* chart.c — chart definitions: add, list, show, set, rm, duplicate, and
 * their devices and measurements, each change in one transaction. Whose
 * charts, the object's shape and the field rules: chart.h. */
#include "chart/chart_int.h"
#include "base/field_check.h"
#include "base/json_util.h"
#include "registry/device.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_JSON \
	"json_build_object('id', c.id, 'name', c.name, 'title', c.title, 'description', c.description," \
	" 'type', c.chart_type, 'user_id', c.user_id," \
	" 'owner', (SELECT u.username FROM users u WHERE u.id = c.user_id)," \
	" 'devices', coalesce((SELECT json_agg(cd.device_id ORDER BY cd.device_id) FROM chart_devices cd" \
	"   WHERE cd.chart_id = c.id), '[]'::json)," \
	" 'measurements', coalesce((SELECT json_agg(m.measurement_name ORDER BY m.id)" \
	"   FROM chart_measurements m WHERE m.chart_id = c.id), '[]'::json)," \
	" 'measurement_details', coalesce((SELECT json_agg(json_build_object('name', m.measurement_name," \
	"   'display_name', m.display_name, 'color', m.color, 'unit', m.unit) ORDER BY m.id)" \
	"   FROM chart_measurements m WHERE m.chart_id = c.id), '[]'::json)," \
	" 'time_range', c.time_range, 'refresh_interval', c.refresh_interval," \
	" 'aggregation', c.aggregation, 'group_by', c.group_by, 'appearance_config', c.appearance_config," \
	" 'created_at', " IOT_SQL_TS("c.created_at") ", 'updated_at', " IOT_SQL_TS("c.updated_at") ")::text"

static void id_text(int64_t v, char buf[24])
{
	snprintf(buf, 24, "%" PRId64, v);
}

int iot_chart_user_id(iot_registry *id, const char *username, int64_t *out, iot_error *err)
{
	if (iot_username_check(username, err) < 0)
		return -1;
	const char *params[1] = { username };
	PGresult *res = iot_db_exec(id->db, "SELECT id FROM users WHERE username = $1", 1, params, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown user '%s'", username);
}

int iot_chart_resolve(iot_registry *id, const char *spec, int64_t *out, iot_error *err)
{
	if (iot_field_check("chart", spec, 1, 200, false, err) < 0)
		return -1;
	/* One statement for the three forms: $1 an id, or $2 an owner and $3 a name. */
	static const char sql[] =
		"SELECT c.id, u.username || '/' || c.name, count(*) OVER ()"
		" FROM charts c JOIN users u ON u.id = c.user_id"
		" WHERE CASE WHEN $1::bigint IS NOT NULL THEN c.id = $1"
		"  ELSE c.name = $3 AND ($2::text IS NULL OR u.username = $2) END"
		" ORDER BY u.username LIMIT 5";
	char idt[24], owner[80];
	const char *params[3] = { NULL, NULL, spec };
	const char *slash = strchr(spec, '/');
	long long num = iot_parse_id(spec);
	if (num > 0) {
		id_text(num, idt);
		params[0] = idt;
	} else if (strspn(spec, "0123456789") == strlen(spec)) {
		return iot_error_set(err, IOT_USAGE, "chart: expected an id, OWNER/NAME or NAME, not '%s'", spec);
	} else if (slash && slash > spec && slash[1]) {
		size_t ol = (size_t)(slash - spec);
		if (ol >= sizeof owner)
			return iot_error_set(err, IOT_NOT_FOUND, "unknown chart '%s'", spec);
		memcpy(owner, spec, ol);
		owner[ol] = '\0';
		params[1] = owner;
		params[2] = slash + 1;
	}
	PGresult *res = iot_db_exec(id->db, sql, 3, params, err);
	if (!res)
		return -1;
	int rc = iot_registry_pick_one(res, "chart", spec, out, err);
	PQclear(res);
	return rc;
}

/* ---- reading ---- */

/* The one row of sql ($1 the chart, $2 the owner or NULL for any): the
 * chart's JSON, or IOT_NOT_FOUND. tx: inside a transaction (one attempt). */
static int chart_row(iot_db *db, bool tx, const char *sql, int64_t chart_id, int64_t owner, json_t **out,
                     iot_error *err)
{
	char idt[24], ot[24];
	id_text(chart_id, idt);
	id_text(owner, ot);
	const char *params[2] = { idt, owner > 0 ? ot : NULL };
	PGresult *res = tx ? iot_db_query(db, sql, 2, params, err) : iot_db_exec(db, sql, 2, params, err);
	if (!res)
		return -1;
	char what[64];
	snprintf(what, sizeof what, "unknown chart %" PRId64, chart_id);
	*out = iot_registry_row(res, what, err);
	PQclear(res);
	return *out ? 0 : -1;
}

static int get_in(iot_db *db, bool tx, int64_t chart_id, int64_t owner, json_t **out, iot_error *err)
{
	return chart_row(db, tx, "SELECT " CHART_JSON " FROM charts c WHERE c.id = $1"
	                 " AND ($2::bigint IS NULL OR c.user_id = $2)", chart_id, owner, out, err);
}

int iot_chart_get(iot_registry *id, int64_t chart_id, int64_t owner, json_t **out, iot_error *err)
{
	return get_in(id->db, false, chart_id, owner, out, err);
}

int iot_chart_list(iot_registry *id, int64_t owner, json_t **out, iot_error *err)
{
	char ot[24];
	id_text(owner, ot);
	const char *params[1] = { owner > 0 ? ot : NULL };
	PGresult *res = iot_db_exec(id->db,
		"SELECT " CHART_JSON " FROM charts c JOIN users u ON u.id = c.user_id"
		" WHERE $1::bigint IS NULL OR c.user_id = $1 ORDER BY u.username, c.name", 1, params, err);
	if (!res)
		return -1;
	*out = iot_registry_rows(res, err);
	PQclear(res);
	return *out ? 0 : -1;
}

/* ---- writing: one transaction per change ---- */

struct change {
	int64_t chart_id, owner;       /* owner: the caller's scope (0 any) */
	int64_t user_id;               /* the chart's owner, once known */
	const iot_chart_fields *f;
	json_t *appearance, *devices, *measurements;   /* normalised */
	const char *new_name;          /* duplicate */
	const int64_t *device_ids;     /* devices added, or the one removed */
	size_t ndevices;
	bool remove;                   /* one device or measurement: off the chart */
	json_t *out;
};

/* Replace the device list: every device must be the chart owner's (or the
 * owner an admin). */
static int set_devices(iot_db *db, struct change *c, iot_error *err)
{
	char idt[24], ut[24];
	id_text(c->chart_id, idt);
	id_text(c->user_id, ut);
	char *list = json_dumps(c->devices, JSON_COMPACT);
	if (!list)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	const char *params[2] = { idt, list }, *check[2] = { list, ut };
	PGresult *res = iot_db_query(db,
		"SELECT e::int FROM jsonb_array_elements_text($1::jsonb) e WHERE NOT EXISTS ("
		" SELECT 1 FROM devices d JOIN users u ON u.id = $2::bigint"
		" WHERE d.id = e::int AND (u.is_admin OR d.user_id = u.id)) LIMIT 1", 2, check, err);
	int rc = -1;
	if (!res)
		goto out;
	if (PQntuples(res) == 1) {
		rc = iot_error_set(err, IOT_USAGE, "devices: device %s does not exist or is not the chart"
		                   " owner's", PQgetvalue(res, 0, 0));
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (iot_db_command(db, "DELETE FROM chart_devices WHERE chart_id = $1", 1, params, err) < 0)
		goto out;
	res = iot_db_query(db, "INSERT INTO chart_devices (chart_id, device_id)"
	                   " SELECT $1::bigint, e::int FROM jsonb_array_elements_text($2::jsonb) e", 2,
	                   params, err);
	rc = res ? 0 : -1;
out:
	if (res)
		PQclear(res);
	free(list);
	return rc;
}

/* Measurements in list (normalised) that are on the chart get the members
 * given ("" removes one); the others are added after them, in order. */
static int upsert_measurements(iot_db *db, const char *chart_id, const json_t *measurements,
                               iot_error *err)
{
	char *list = json_dumps(measurements, JSON_COMPACT);
	if (!list)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	const char *params[2] = { chart_id, list };
	int rc = iot_db_command(db,
		"UPDATE chart_measurements m SET"
		" display_name = CASE WHEN e ? 'display_name' THEN nullif(e->>'display_name', '')"
		"  ELSE m.display_name END,"
		" color = CASE WHEN e ? 'color' THEN nullif(e->>'color', '') ELSE m.color END,"
		" unit = CASE WHEN e ? 'unit' THEN nullif(e->>'unit', '') ELSE m.unit END"
		" FROM jsonb_array_elements($2::jsonb) e"
		" WHERE m.chart_id = $1 AND m.measurement_name = e->>'name'", 2, params, err);
	if (rc == 0)
		rc = iot_db_command(db,
			"INSERT INTO chart_measurements (chart_id, measurement_name, display_name, color, unit)"
			" SELECT $1::bigint, e->>'name', nullif(e->>'display_name', ''), nullif(e->>'color', ''),"
			"  nullif(e->>'unit', '')"
			" FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(e, i) ORDER BY i"
			" ON CONFLICT (chart_id, measurement_name) DO NOTHING", 2, params, err);
	free(list);
	return rc;
}

/* Replace the measurement list; the names that stay keep what is not given again. */
static int set_measurements(iot_db *db, struct change *c, iot_error *err)
{
	char idt[24];
	id_text(c->chart_id, idt);
	char *list = json_dumps(c->measurements, JSON_COMPACT);
	if (!list)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	const char *params[2] = { idt, list };
	int rc = iot_db_command(db, "DELETE FROM chart_measurements WHERE chart_id = $1 AND measurement_name"
		" NOT IN (SELECT e->>'name' FROM jsonb_array_elements($2::jsonb) e)", 2, params, err);
	free(list);
	return rc < 0 ? -1 : upsert_measurements(db, idt, c->measurements, err);
}

/* The chart as it is now, into c->out (a retried transaction's dropped). */
static int reread(iot_db *db, struct change *c, int64_t chart_id, iot_error *err)
{
	json_decref(c->out);
	c->out = NULL;
	return get_in(db, true, chart_id, 0, &c->out, err);
}

static int finish(iot_db *db, struct change *c, iot_error *err)
{
	if (c->devices && set_devices(db, c, err) < 0)
		return -1;
	if (c->measurements && set_measurements(db, c, err) < 0)
		return -1;
	return reread(db, c, c->chart_id, err);
}

static char *appearance_text(const json_t *a, iot_error *err)
{
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	if (a && !s)
		iot_error_set(err, IOT_INTERNAL, "out of memory");
	return s;
}

static int refresh_text(long refresh, char buf[24])
{
	snprintf(buf, 24, "%ld", refresh);
	return refresh >= 0;
}

static int add_tx(iot_db *db, void *arg, iot_error *err)
{
	struct change *c = arg;
	const iot_chart_fields *f = c->f;
	char ut[24], rt[24];
	id_text(c->user_id, ut);
	const char *p1[1] = { ut };
	PGresult *res = iot_db_query(db, "SELECT count(*) FROM charts WHERE user_id = $1", 1, p1, err);
	if (!res)
		return -1;
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (n >= IOT_CHART_PER_USER_MAX)
		return iot_error_set(err, IOT_REJECTED, "the owner has %d charts already, the most allowed",
		                     IOT_CHART_PER_USER_MAX);
	char *app = appearance_text(c->appearance, err);
	if (c->appearance && !app)
		return -1;
	const char *agg = f->aggregation ? iot__chart_aggregation(f->aggregation) : NULL;
	const char *params[10] = { ut, f->name, f->title, f->description, f->type, f->time_range,
		refresh_text(f->refresh, rt) ? rt : NULL, agg, f->group_by, app };
	res = iot_db_query(db,
		"INSERT INTO charts (user_id, name, title, description, chart_type, time_range,"
		" refresh_interval, aggregation, group_by, appearance_config)"
		" VALUES ($1, $2, nullif($3, ''), nullif($4, ''), coalesce($5, 'line'), coalesce($6, '24h'),"
		" coalesce($7::int, 60), coalesce($8, 'none'), nullif($9, ''),"
		" jsonb_strip_nulls(coalesce($10::jsonb, '{}'::jsonb))) RETURNING id", 10, params, err);
	free(app);
	if (!res)
		return -1;
	c->chart_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return finish(db, c, err);
}

static int normalise(struct change *c, iot_error *err)
{
	const iot_chart_fields *f = c->f;
	if (!f)
		return 0;
	if (f->appearance && !(c->appearance = iot__chart_appearance(f->appearance, err)))
		return -1;
	if (f->devices && !(c->devices = iot__chart_devices(f->devices, err)))
		return -1;
	if (f->measurements && !(c->measurements = iot__chart_measurements(f->measurements, err)))
		return -1;
	return 0;
}

static void change_free(struct change *c)
{
	json_decref(c->appearance);
	json_decref(c->devices);
	json_decref(c->measurements);
}

/* Run fn over c in a transaction; a duplicate name is IOT_REJECTED. */
static int run(iot_registry *id, struct change *c, iot_db_tx_fn fn, json_t **out, iot_error *err)
{
	int rc = normalise(c, err);
	if (rc == 0 && (rc = iot_db_transaction(id->db, fn, c, err)) < 0) {
		char dup[200];
		const char *name = c->new_name ? c->new_name : c->f ? c->f->name : NULL;
		snprintf(dup, sizeof dup, "the owner has a chart named '%.120s' already", name ? name : "?");
		iot_registry_db_error(id, err, dup, "unknown user");
	}
	change_free(c);
	if (rc < 0) {
		json_decref(c->out);
		return -1;
	}
	*out = c->out;
	return 0;
}

int iot_chart_add(iot_registry *id, int64_t owner_id, const iot_chart_fields *f, json_t **out,
                  iot_error *err)
{
	if (owner_id <= 0)
		return iot_error_set(err, IOT_USAGE, "owner: missing");
	if (iot_chart_fields_check(f, true, err) < 0)
		return -1;
	struct change c = { .user_id = owner_id, .f = f };
	return run(id, &c, add_tx, out, err);
}

/* The chart in the caller's scope, locked: its owner in c->user_id. */
static int lock_chart(iot_db *db, struct change *c, iot_error *err)
{
	char idt[24], ot[24];
	id_text(c->chart_id, idt);
	id_text(c->owner, ot);
	const char *params[2] = { idt, c->owner > 0 ? ot : NULL };
	PGresult *res = iot_db_query(db, "SELECT user_id FROM charts WHERE id = $1"
	                             " AND ($2::bigint IS NULL OR user_id = $2) FOR UPDATE", 2, params, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		c->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown chart %" PRId64, c->chart_id);
}

static int update_tx(iot_db *db, void *arg, iot_error *err)
{
	struct change *c = arg;
	const iot_chart_fields *f = c->f;
	if (lock_chart(db, c, err) < 0)
		return -1;
	char idt[24], rt[24];
	id_text(c->chart_id, idt);
	char *app = appearance_text(c->appearance, err);
	if (c->appearance && !app)
		return -1;
	const char *agg = f->aggregation ? iot__chart_aggregation(f->aggregation) : NULL;
	const char *params[11] = { idt, f->name, f->title, f->description, f->type, f->time_range,
		refresh_text(f->refresh, rt) ? rt : NULL, agg, f->group_by, app,
		f->appearance_replace ? "true" : "false" };
	int rc = iot_db_command(db,
		"UPDATE charts SET name = coalesce($2, name),"
		" title = CASE WHEN $3::text IS NULL THEN title ELSE nullif($3, '') END,"
		" description = CASE WHEN $4::text IS NULL THEN description ELSE nullif($4, '') END,"
		" chart_type = coalesce($5, chart_type), time_range = coalesce($6, time_range),"
		" refresh_interval = coalesce($7::int, refresh_interval), aggregation = coalesce($8, aggregation),"
		" group_by = CASE WHEN $9::text IS NULL THEN group_by ELSE nullif($9, '') END,"
		" appearance_config = CASE WHEN $10::jsonb IS NULL THEN appearance_config ELSE jsonb_strip_nulls("
		"  CASE WHEN $11::boolean THEN '{}'::jsonb ELSE appearance_config END || $10::jsonb) END,"
		" updated_at = now() WHERE id = $1", 11, params, err);
	free(app);
	return rc < 0 ? -1 : finish(db, c, err);
}

int iot_chart_update(iot_registry *id, int64_t chart_id, int64_t owner, const iot_chart_fields *f,
                     json_t **out, iot_error *err)
{
	if (iot_chart_fields_check(f, false, err) < 0)
		return -1;
	struct change c = { .chart_id = chart_id, .owner = owner, .f = f };
	return run(id, &c, update_tx, out, err);
}

int iot_chart_remove(iot_registry *id, int64_t chart_id, int64_t owner, json_t **out, iot_error *err)
{
	return chart_row(id->db, false,
		"WITH c AS (DELETE FROM charts WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2)"
		" RETURNING id, name, user_id)"
		" SELECT json_build_object('id', c.id, 'name', c.name, 'owner', u.username, 'removed', true)::text"
		" FROM c JOIN users u ON u.id = c.user_id", chart_id, owner, out, err);
}

static int duplicate_tx(iot_db *db, void *arg, iot_error *err)
{
	struct change *c = arg;
	if (lock_chart(db, c, err) < 0)
		return -1;
	char idt[24];
	id_text(c->chart_id, idt);
	const char *params[2] = { idt, c->new_name };
	/* The first free name of "NAME (copy)", "NAME (copy 2)", ... (names are
	 * at most 100 characters: the base is cut to leave room). */
	PGresult *res = iot_db_query(db,
		"INSERT INTO charts (user_id, name, title, description, chart_type, time_range,"
		" refresh_interval, aggregation, group_by, appearance_config)"
		" SELECT s.user_id, coalesce($2, (SELECT left(s.name, 88) || ' (copy' ||"
		"   CASE WHEN k = 1 THEN '' ELSE ' ' || k END || ')' FROM generate_series(1, 1000) k"
		"   WHERE NOT EXISTS (SELECT 1 FROM charts o WHERE o.user_id = s.user_id AND o.name ="
		"    left(s.name, 88) || ' (copy' || CASE WHEN k = 1 THEN '' ELSE ' ' || k END || ')')"
		"   ORDER BY k LIMIT 1)),"
		" s.title, s.description, s.chart_type, s.time_range, s.refresh_interval, s.aggregation,"
		" s.group_by, s.appearance_config FROM charts s WHERE s.id = $1 RETURNING id", 2, params, err);
	if (!res)
		return -1;
	int64_t new_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	char nt[24];
	id_text(new_id, nt);
	const char *p2[2] = { nt, idt };
	if (iot_db_command(db, "INSERT INTO chart_devices (chart_id, device_id) SELECT $1, device_id"
	                   " FROM chart_devices WHERE chart_id = $2", 2, p2, err) < 0 ||
	    iot_db_command(db, "INSERT INTO chart_measurements (chart_id, measurement_name, display_name,"
	                   " color, unit) SELECT $1, measurement_name, display_name, color, unit"
	                   " FROM chart_measurements WHERE chart_id = $2 ORDER BY id", 2, p2, err) < 0)
		return -1;
	return reread(db, c, new_id, err);   /* c->chart_id stays the source, for a rerun */
}

int iot_chart_duplicate(iot_registry *id, int64_t chart_id, int64_t owner, const char *new_name,
                        json_t **out, iot_error *err)
{
	if (new_name && iot_field_check("name", new_name, 1, 100, false, err) < 0)
		return -1;
	struct change c = { .chart_id = chart_id, .owner = owner, .new_name = new_name };
	return run(id, &c, duplicate_tx, out, err);
}

/* ---- one device, one measurement ---- */

static int one_device_tx(iot_db *db, void *arg, iot_error *err)
{
	struct change *c = arg;
	if (lock_chart(db, c, err) < 0)
		return -1;
	char idt[24];
	id_text(c->chart_id, idt);
	const char *params[1] = { idt };
	PGresult *res = iot_db_query(db, "SELECT coalesce(json_agg(device_id), '[]'::json)::text"
	                             " FROM chart_devices WHERE chart_id = $1", 1, params, err);
	if (!res)
		return -1;
	json_t *list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!list)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	int rc = 0;
	for (size_t k = 0; k < c->ndevices && rc == 0; k++) {
		json_int_t dev = c->device_ids[k];
		size_t i, at = (size_t)-1;
		json_t *e;
		json_array_foreach(list, i, e)
			if (json_integer_value(e) == dev)
				at = i;
		if (c->remove && at == (size_t)-1)
			rc = iot_error_set(err, IOT_NOT_FOUND, "device %" PRId64 " is not on chart %" PRId64,
			                   (int64_t)dev, c->chart_id);
		else if (c->remove)
			json_array_remove(list, at);
		else if (at == (size_t)-1 && json_array_size(list) >= IOT_CHART_DEVICES_MAX)
			rc = iot_error_set(err, IOT_USAGE, "devices: at most %d on a chart", IOT_CHART_DEVICES_MAX);
		else if (at == (size_t)-1)
			json_array_append_new(list, json_integer(dev));
	}
	if (rc == 0) {
		json_decref(c->devices);       /* a retried transaction's */
		c->devices = list;
		return finish(db, c, err);
	}
	json_decref(list);
	return rc;
}

/* Every spec resolved before anything changes, then one transaction: an
 * unknown device or a full chart leaves the chart as it was. */
static int devices_change(iot_registry *id, int64_t chart_id, const char *const *specs, size_t n, bool remove,
                          json_t **out, iot_error *err)
{
	int64_t dev[IOT_CHART_DEVICES_MAX];
	if (n == 0 || n > IOT_CHART_DEVICES_MAX)
		return iot_error_set(err, IOT_USAGE, "devices: 1 to %d at a time", IOT_CHART_DEVICES_MAX);
	for (size_t i = 0; i < n; i++)
		if (iot_device_resolve(id, specs[i], &dev[i], err) < 0)
			return -1;
	struct change c = { .chart_id = chart_id, .device_ids = dev, .ndevices = n, .remove = remove };
	return run(id, &c, one_device_tx, out, err);
}

int iot_chart_device_add(iot_registry *id, int64_t chart_id, const char *const *device_specs, size_t n,
                         json_t **out, iot_error *err)
{
	return devices_change(id, chart_id, device_specs, n, false, out, err);
}

int iot_chart_device_remove(iot_registry *id, int64_t chart_id, const char *device_spec,
                            json_t **out, iot_error *err)
{
	return devices_change(id, chart_id, &device_spec, 1, true, out, err);
}

static int one_measurement_tx(iot_db *db, void *arg, iot_error *err)
{
	struct change *c = arg;
	if (lock_chart(db, c, err) < 0)
		return -1;
	char idt[24];
	id_text(c->chart_id, idt);
	const json_t *m = json_array_get(c->measurements, 0);
	const char *name = iot_json_str(m, "name");
	const char *params[2] = { idt, name };
	PGresult *res;
	if (c->remove) {
		res = iot_db_query(db, "DELETE FROM chart_measurements WHERE chart_id = $1"
		                   " AND measurement_name = $2 RETURNING id", 2, params, err);
		if (!res)
			return -1;
		int n = PQntuples(res);
		PQclear(res);
		if (n == 0)
			return iot_error_set(err, IOT_NOT_FOUND, "measurement '%s' is not on chart %" PRId64, name,
			                     c->chart_id);
	} else {
		res = iot_db_query(db, "SELECT count(*) FROM chart_measurements WHERE chart_id = $1"
		                   " AND measurement_name <> $2", 2, params, err);
		if (!res)
			return -1;
		long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (n >= IOT_CHART_MEASUREMENTS_MAX)
			return iot_error_set(err, IOT_USAGE, "measurements: at most %d on a chart",
			                     IOT_CHART_MEASUREMENTS_MAX);
		if (upsert_measurements(db, idt, c->measurements, err) < 0)
			return -1;
	}
	return reread(db, c, c->chart_id, err);
}

static int one_measurement(iot_registry *id, int64_t chart_id, json_t *m, bool remove, json_t **out,
                           iot_error *err)
{
	json_t *list = json_pack("[O]", m);
	/* Removing needs only the name: one stored before names were checked
	 * can go too. */
	json_t *norm = remove ? json_pack("[{s:O}]", "name", json_object_get(m, "name"))
	                      : iot__chart_measurements(list, err);
	json_decref(list);
	if (!norm)
		return -1;
	struct change c = { .chart_id = chart_id, .measurements = norm, .remove = remove };
	return run(id, &c, one_measurement_tx, out, err);
}

int iot_chart_measurement_add(iot_registry *id, int64_t chart_id, const char *name,
                              const char *display_name, const char *color, const char *unit,
                              json_t **out, iot_error *err)
{
	json_t *m = json_pack("{s:s}", "name", name);
	if (display_name)
		json_object_set_new(m, "display_name", json_string(display_name));
	if (color)
		json_object_set_new(m, "color", json_string(color));
	if (unit)
		json_object_set_new(m, "unit", json_string(unit));
	int rc = one_measurement(id, chart_id, m, false, out, err);
	json_decref(m);
	return rc;
}

int iot_chart_measurement_remove(iot_registry *id, int64_t chart_id, const char *name,
                                 json_t **out, iot_error *err)
{
	json_t *m = json_pack("{s:s}", "name", name);
	int rc = one_measurement(id, chart_id, m, true, out, err);
	json_decref(m);
	return rc;
}
