/* http_post.h — what POST /api/v1/telemetry (http_telemetry.c) shares
 * with the answers it writes straight to text (http_post_text.c): a
 * request's records and their outcomes. */
#ifndef IOT_HTTP_POST_H
#define IOT_HTTP_POST_H

#include "http/http_int.h"

enum rec_state { R_UNSEEN, R_PENDING, R_REFUSED, R_DONE, R_FAILED };

struct rec {
	const char *buf;
	size_t len;
	long line;
	enum rec_state state;
	enum iot_status refusal;
	size_t points, stored, duplicates, rejected;
	int64_t ts_us;
	char *reason;
};

struct post {
	bool batch;
	size_t n;
	struct rec *rec;
	int64_t device_id;
	iot_device_ref dev;          /* the sender, as its key was checked */
	char device_name[404];
	iot_writer *writer;
	long long submitted_us;
	bool unavailable;
	const char *stored_msg;      /* the route's message of a 201 */
};

/* The counts of a batch's answer, then its message. */
struct tally {
	size_t stored, dup, rej, points;
	int status;
	const char *error;           /* the 400's (every record rejected), else NULL */
	const char *msg;
};

/* "stored", "duplicate" or "rejected". */
const char *iot__http_rec_status(const struct rec *rc);
/* The answer of a lone record stored whole (ts: its time), or of a batch
 * with its tally, written as text: the bytes iot__http_reply writes of the
 * objects the general way builds. Returns false, having answered nothing,
 * for a name or a reason that is not plain ASCII (jansson checks its
 * UTF-8) or when out of memory: then answer the general way. */
bool iot__http_stored_text(struct http_req *r, const struct post *p, const struct rec *rc, const char *ts);
bool iot__http_batch_text(struct http_req *r, const struct post *p, const struct tally *y);

#endif
