/* archive_int.h — retention's archive files (archive.c), for retention.c. */
#ifndef IOT_ARCHIVE_INT_H
#define IOT_ARCHIVE_INT_H

#include <sodium.h>
#include <stdbool.h>
#include <zlib.h>

#include "base/error.h"

struct iot__archive {
	int fd;
	gzFile gz;
	char tmp[4200], path[4096], manifest[4096];
	crypto_hash_sha256_state content;
	long long lines, content_bytes, file_bytes;
	char content_sha256[65], sha256[65];
	bool placed;                 /* the archive is at path */
	bool manifest_placed;        /* ... and its manifest at manifest */
};

/* DIR is an existing directory this process may create files in; else
 * IOT_USAGE saying why. Checked before any partition is looked at, so that
 * a wrong path shows on the first run, not on the first day one is due. */
int iot__archive_dir_check(const char *dir, iot_error *err);
/* DIR/.BASE.ndjson.gz.tmp created (never over a file) for a gzip stream;
 * path DIR/BASE.ndjson.gz and manifest DIR/BASE.json named. */
int iot__archive_open(struct iot__archive *a, const char *dir, const char *base, iot_error *err);
int iot__archive_write(struct iot__archive *a, const char *text, size_t len, iot_error *err);
/* End the stream, flush it to disk, read it back: its lines must be
 * expect_lines and its content what was written. Sets sha256 (of the file)
 * and file_bytes. */
int iot__archive_finish(struct iot__archive *a, long long expect_lines, iot_error *err);
/* The manifest written and flushed, then both files moved to their names
 * (never over an existing file), the directory flushed. */
int iot__archive_place(struct iot__archive *a, const char *dir, const char *manifest_text,
                       iot_error *err);
/* Close and remove the temporary file (a placed archive stays). */
void iot__archive_abort(struct iot__archive *a);
/* Remove the archive and manifest this run placed (never another file):
 * for a partition whose transaction is sure not to commit, which keeps it,
 * so that a run that fails after placing leaves no copy behind. */
void iot__archive_unplace(struct iot__archive *a);

#endif
