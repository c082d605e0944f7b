/* archive.c — the files of retention (lifecycle.h): a gzip stream written
 * to a temporary file with the SHA-256 and line count of its content,
 * flushed to disk, read back and checked, then moved to its name without
 * ever replacing a file; the manifest beside it. */
#include "query/archive_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int io_error(iot_error *err, const char *what, const char *path)
{
	return iot_error_set(err, IOT_UNAVAILABLE, "unable to %s %s: %s", what, path, strerror(errno));
}

static void hex(const unsigned char *d, char out[65])
{
	sodium_bin2hex(out, 65, d, 32);
}

int iot__archive_dir_check(const char *dir, iot_error *err)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return iot_error_set(err, IOT_USAGE, "archive directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return iot_error_set(err, IOT_USAGE, "archive directory %s: not a directory", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return iot_error_set(err, IOT_USAGE, "archive directory %s: not writable: %s", dir,
		                     strerror(errno));
	return 0;
}

int iot__archive_open(struct iot__archive *a, const char *dir, const char *base, iot_error *err)
{
	memset(a, 0, sizeof *a);
	a->fd = -1;
	if (snprintf(a->path, sizeof a->path, "%s/%s.ndjson.gz", dir, base) >= (int)sizeof a->path ||
	    snprintf(a->manifest, sizeof a->manifest, "%s/%s.json", dir, base) >= (int)sizeof a->manifest ||
	    snprintf(a->tmp, sizeof a->tmp, "%s/.%s.ndjson.gz.tmp", dir, base) >= (int)sizeof a->tmp)
		return iot_error_set(err, IOT_USAGE, "archive directory name too long");
	if (sodium_init() < 0)
		return iot_error_set(err, IOT_INTERNAL, "libsodium failed to initialise");
	a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (a->fd < 0)
		return io_error(err, "create", a->tmp);
	int gzfd = dup(a->fd);
	if (gzfd < 0 || !(a->gz = gzdopen(gzfd, "wb6"))) {
		if (gzfd >= 0)
			close(gzfd);
		iot__archive_abort(a);
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	crypto_hash_sha256_init(&a->content);
	return 0;
}

int iot__archive_write(struct iot__archive *a, const char *text, size_t len, iot_error *err)
{
	crypto_hash_sha256_update(&a->content, (const unsigned char *)text, len);
	for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p - text))); p++)
		a->lines++;
	a->content_bytes += len;
	while (len > 0) {
		unsigned n = len > (1u << 30) ? 1u << 30 : (unsigned)len;
		errno = 0;
		if (gzwrite(a->gz, text, n) != (int)n) {
			int zerr;
			const char *msg = gzerror(a->gz, &zerr);
			if (zerr == Z_ERRNO || errno)
				return io_error(err, "write", a->tmp);
			return iot_error_set(err, IOT_INTERNAL, "unable to compress %s: %s", a->tmp, msg);
		}
		text += n;
		len -= n;
	}
	return 0;
}

/* The content of the file read back through gzip: its SHA-256, lines, bytes. */
static int read_back(struct iot__archive *a, unsigned char digest[32], long long *lines,
                     long long *bytes, iot_error *err)
{
	int fd = open(a->tmp, O_RDONLY | O_CLOEXEC);
	gzFile gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
	if (!gz) {
		if (fd >= 0)
			close(fd);
		return io_error(err, "read back", a->tmp);
	}
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	static _Thread_local char buf[1 << 16];
	int n;
	*lines = *bytes = 0;
	while ((n = gzread(gz, buf, sizeof buf)) > 0) {
		crypto_hash_sha256_update(&st, (unsigned char *)buf, (size_t)n);
		for (const char *p = buf; (p = memchr(p, '\n', (size_t)n - (size_t)(p - buf))); p++)
			(*lines)++;
		*bytes += n;
	}
	int zerr;
	const char *msg = gzerror(gz, &zerr);
	char why[128];
	snprintf(why, sizeof why, "%s", msg ? msg : "");
	gzclose_r(gz);
	if (n < 0)
		return iot_error_set(err, IOT_INTERNAL, "archive %s does not read back: %s", a->tmp, why);
	crypto_hash_sha256_final(&st, digest);
	return 0;
}

/* The SHA-256 of the file itself (what `sha256sum` prints) and its size. */
static int file_digest(const char *path, char out[65], long long *size, iot_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return io_error(err, "read back", path);
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	static _Thread_local unsigned char buf[1 << 16];
	ssize_t n;
	*size = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		crypto_hash_sha256_update(&st, buf, (size_t)n);
		*size += n;
	}
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return io_error(err, "read back", path);
	}
	unsigned char d[32];
	crypto_hash_sha256_final(&st, d);
	hex(d, out);
	return 0;
}

int iot__archive_finish(struct iot__archive *a, long long expect_lines, iot_error *err)
{
	int rc = gzclose_w(a->gz);
	a->gz = NULL;
	if (rc != Z_OK) {
		if (rc == Z_ERRNO)
			return io_error(err, "write", a->tmp);
		return iot_error_set(err, IOT_INTERNAL, "unable to finish the gzip stream of %s", a->tmp);
	}
	if (fsync(a->fd) < 0)
		return io_error(err, "flush", a->tmp);
	close(a->fd);
	a->fd = -1;
	unsigned char written[32], read[32];
	crypto_hash_sha256_final(&a->content, written);
	hex(written, a->content_sha256);
	long long lines = 0, bytes = 0;
	if (read_back(a, read, &lines, &bytes, err) < 0)
		return -1;
	if (lines != a->lines || bytes != a->content_bytes || memcmp(read, written, 32) != 0 ||
	    lines != expect_lines)
		return iot_error_set(err, IOT_INTERNAL,
		                     "archive %s does not verify: %lld lines (%lld bytes) read back, %lld (%lld) "
		                     "written, %lld rows in the partition", a->tmp, lines, bytes, a->lines,
		                     a->content_bytes, expect_lines);
	return file_digest(a->tmp, a->sha256, &a->file_bytes, err);
}

/* tmp to path, never over an existing file; the directory flushed. */
static int place(const char *tmp, const char *path, iot_error *err)
{
	if (link(tmp, path) < 0)
		return io_error(err, "create", path);
	unlink(tmp);
	return 0;
}

int iot__archive_place(struct iot__archive *a, const char *dir, const char *manifest_text,
                       iot_error *err)
{
	char mtmp[4200];
	snprintf(mtmp, sizeof mtmp, "%s.tmp", a->manifest);
	int fd = open(mtmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return io_error(err, "create", mtmp);
	size_t len = strlen(manifest_text);
	bool ok = write(fd, manifest_text, len) == (ssize_t)len && fsync(fd) == 0;
	int e = errno;
	close(fd);
	if (!ok) {
		unlink(mtmp);
		errno = e;
		return io_error(err, "write", mtmp);
	}
	if (place(a->tmp, a->path, err) < 0) {
		unlink(mtmp);
		return -1;
	}
	a->placed = true;
	if (place(mtmp, a->manifest, err) < 0) {
		unlink(mtmp);
		return -1;
	}
	a->manifest_placed = true;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		int e2 = errno;
		if (dfd >= 0)
			close(dfd);
		errno = e2;
		return io_error(err, "flush", dir);
	}
	close(dfd);
	return 0;
}

void iot__archive_abort(struct iot__archive *a)
{
	if (a->gz)
		gzclose_w(a->gz);
	a->gz = NULL;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->tmp[0])
		unlink(a->tmp);
}

void iot__archive_unplace(struct iot__archive *a)
{
	if (a->manifest_placed)
		unlink(a->manifest);
	if (a->placed)
		unlink(a->path);
	a->placed = a->manifest_placed = false;
}
