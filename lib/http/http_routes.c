/* http_routes.c — the route table: dispatch, the Allow header of 405s and
 * the route label of every metric come from here. {id} is a positive
 * integer (the Flask service's <int:...>); a path matching no template is
 * 404, a template matched with a method it lacks is 405. */
#include "http/http_int.h"
#include "http/http_dev.h"
#include "http/http_control.h"
#include "http/http_stream.h"

const struct http_route iot__http_routes[] = {
	{ "/", { { HM_GET, iot__http_root, false } } },
	/* The dashboard's files (http_web.c): looked up in a fixed list. */
	{ "/ui/*", { { HM_GET, iot__http_web_asset, false } } },
	{ "/health", { { HM_GET, iot__http_health, false } } },
	{ "/status", { { HM_GET, iot__http_status, false } } },
	{ "/metrics", { { HM_GET, iot__http_metrics_page, false } } },
	{ "/api/v1/telemetry", { { HM_POST, iot__http_telemetry_post, true } } },
	/* The read side (http_read.c, over lib/query). */
	{ "/api/v1/telemetry/status", { { HM_GET, iot__http_telemetry_status, false } } },
	{ "/api/v1/telemetry/user/{id}", { { HM_GET, iot__http_telemetry_user, false } } },
	{ "/api/v1/telemetry/{id}", { { HM_GET, iot__http_telemetry_range, false }, { HM_DELETE, iot__http_telemetry_delete, true } } },
	{ "/api/v1/telemetry/{id}/latest", { { HM_GET, iot__http_telemetry_latest, false } } },
	{ "/api/v1/telemetry/{id}/aggregated", { { HM_GET, iot__http_telemetry_aggregated, false } } },
	/* Long responses (http_stream.c, http_export.c). */
	{ "/api/v1/telemetry/{id}/stream", { { HM_GET, iot__http_telemetry_stream, false } } },
	{ "/api/v1/telemetry/{id}/export", { { HM_GET, iot__http_telemetry_export, false } } },
	/* Device routes (http_devices.c, http_dev_config.c, http_register.c). */
	{ "/api/v1/devices/register", { { HM_POST, iot__http_dev_register, true } } },
	{ "/api/v1/devices/statuses", { { HM_GET, iot__http_dev_statuses, false } } },
	{ "/api/v1/devices/{id}/status", { { HM_GET, iot__http_dev_id_status, false } } },
	/* Admin routes (http_admin.c); the Flask Redis-sync ones answer 410. */
	{ "/api/v1/admin/devices", { { HM_GET, iot__http_admin_devices, false } } },
	{ "/api/v1/admin/devices/{id}", { { HM_GET, iot__http_admin_device, false },
	                                  { HM_DELETE, iot__http_admin_device_delete, false } } },
	{ "/api/v1/admin/devices/{id}/status", { { HM_PUT, iot__http_admin_device_status, true } } },
	{ "/api/v1/admin/stats", { { HM_GET, iot__http_admin_stats, false } } },
	{ "/api/v1/admin/cache/device-status", { { HM_GET, iot__http_admin_gone, false },
	                                         { HM_DELETE, iot__http_admin_gone, false } } },
	{ "/api/v1/admin/cache/devices/{id}", { { HM_DELETE, iot__http_admin_gone, false } } },
	{ "/api/v1/admin/redis-db-sync/status", { { HM_GET, iot__http_admin_gone, false } } },
	{ "/api/v1/admin/redis-db-sync/enable", { { HM_POST, iot__http_admin_gone, false } } },
	{ "/api/v1/admin/redis-db-sync/disable", { { HM_POST, iot__http_admin_gone, false } } },
	{ "/api/v1/admin/redis-db-sync/force-sync/{id}", { { HM_POST, iot__http_admin_gone, false } } },
	{ "/api/v1/admin/redis-db-sync/bulk-sync", { { HM_POST, iot__http_admin_gone, false } } },
	{ "/api/v1/devices/status", { { HM_GET, iot__http_dev_status, false } } },
	{ "/api/v1/devices/telemetry", { { HM_GET, iot__http_dev_telemetry_get, false },
	                                 { HM_POST, iot__http_dev_telemetry_post, true } } },
	{ "/api/v1/devices/heartbeat", { { HM_POST, iot__http_dev_heartbeat, false } } },
	{ "/api/v1/devices/credentials", { { HM_GET, iot__http_dev_credentials, false } } },
	{ "/api/v1/devices/mqtt-credentials", { { HM_GET, iot__http_dev_mqtt_credentials, false } } },
	{ "/api/v1/devices/config", { { HM_GET, iot__http_dev_config_get, false }, { HM_POST, iot__http_dev_config_post, true },
	                              { HM_PUT, iot__http_dev_config_put, true } } },
	/* Commands to devices and the broker routes (http_control.c, http_mqtt.c). */
	{ "/api/v1/devices/{id}/control", { { HM_POST, iot__http_control_send, true } } },
	{ "/api/v1/devices/{id}/control/{id}/status", { { HM_POST, iot__http_control_status, true } } },
	{ "/api/v1/devices/{id}/control/pending", { { HM_GET, iot__http_control_pending, false } } },
	{ "/api/v1/mqtt/status", { { HM_GET, iot__http_mqtt_status, false } } },
	{ "/api/v1/mqtt/publish", { { HM_POST, iot__http_mqtt_publish, true } } },
	{ "/api/v1/mqtt/subscribe", { { HM_POST, iot__http_mqtt_gone, false } } },
	{ "/api/v1/mqtt/topics/device/{id}", { { HM_GET, iot__http_mqtt_topics_device, false } } },
	{ "/api/v1/mqtt/topics/structure", { { HM_GET, iot__http_mqtt_topics_structure, false } } },
	{ "/api/v1/mqtt/topics/validate", { { HM_POST, iot__http_mqtt_topics_validate, true } } },
	{ "/api/v1/mqtt/device/{id}/command", { { HM_POST, iot__http_mqtt_device_command, true } } },
	{ "/api/v1/mqtt/fleet/{id}/command", { { HM_POST, iot__http_mqtt_gone, false } } },
	{ "/api/v1/mqtt/monitoring/metrics", { { HM_GET, iot__http_mqtt_monitoring, false } } },
	{ "/api/v1/mqtt/telemetry/{id}", { { HM_POST, iot__http_mqtt_gone, false } } },
	/* What the web dashboard reads (http_dashboard.c). */
	{ "/api/v1/dashboard/devices", { { HM_GET, iot__http_dashboard_devices, false } } },
	{ "/api/v1/dashboard/devices/{id}", { { HM_GET, iot__http_dashboard_device, false } } },
	{ "/api/v1/dashboard/stream", { { HM_GET, iot__http_dashboard_stream, false } } },
	/* Charts (http_charts.c, over lib/chart). */
	{ "/api/v1/charts", { { HM_GET, iot__http_charts_list, false }, { HM_POST, iot__http_charts_create, true } } },
	{ "/api/v1/charts/{id}", { { HM_GET, iot__http_chart_get, false }, { HM_PUT, iot__http_chart_update, true },
	                           { HM_DELETE, iot__http_chart_delete, false } } },
	{ "/api/v1/charts/{id}/duplicate", { { HM_POST, iot__http_chart_duplicate, false } } },
	{ "/api/v1/charts/{id}/data", { { HM_GET, iot__http_chart_data, false } } },
	{ "/api/v1/charts/{id}/render.svg", { { HM_GET, iot__http_chart_render, false } } },
};
const size_t iot__http_nroutes = sizeof iot__http_routes / sizeof iot__http_routes[0];
