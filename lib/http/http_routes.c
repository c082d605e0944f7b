/* http_routes.c — the route table: dispatch, the Allow header of 405s and
 * the route label of every metric come from here. {id} is a positive
 * integer (the Flask service's <int:...>); a path matching no template is
 * 404, a template matched with a method it lacks is 405. */
#include "http/http_int.h"

const struct http_route iot__http_routes[] = {
	{ "/", { { HM_GET, iot__http_root, false } } },
	{ "/health", { { HM_GET, iot__http_health, false } } },
	{ "/status", { { HM_GET, iot__http_status, false } } },
	{ "/metrics", { { HM_GET, iot__http_metrics_page, false } } },
	{ "/api/v1/telemetry", { { HM_POST, iot__http_telemetry_post, true } } },
	{ "/api/v1/telemetry/status", { { HM_GET, iot__http_telemetry_status, false } } },
	{ "/api/v1/telemetry/user/{id}", { { HM_GET, iot__http_telemetry_user, false } } },
	{ "/api/v1/telemetry/{id}", { { HM_GET, iot__http_telemetry_range, false }, { HM_DELETE, iot__http_telemetry_delete, true } } },
	{ "/api/v1/telemetry/{id}/latest", { { HM_GET, iot__http_telemetry_latest, false } } },
	{ "/api/v1/telemetry/{id}/aggregated", { { HM_GET, iot__http_telemetry_aggregated, false } } },
};
const size_t iot__http_nroutes = sizeof iot__http_routes / sizeof iot__http_routes[0];

void iot__http_not_yet(struct http_req *r)
{
	iot__http_error(r, 501, "Not Implemented", "%s is not served by this version of iot-httpd yet",
	                iot__http_routes[r->route].tmpl);
}
