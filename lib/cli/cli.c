/* cli.c — diagnostics, usage errors, stdout finishing, secret reading. */
#include "cli/cli.h"
#include "auth/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#ifndef IOT_VERSION
#define IOT_VERSION "0.0.0"
#endif

const char *iot_progname = "iotflow";
bool iot_quiet = false;
static bool stdout_closed;
static const char *loss_note;

void iot_cli_init(const char *progname)
{
	const char *slash = strrchr(progname, '/');
	iot_progname = slash ? slash + 1 : progname;
	opterr = 0;
	/* Started with fd 0, 1 or 2 closed, the next file or socket opened would
	 * take its number, and the summary or a warning would be written into it
	 * (a PostgreSQL connection, the reject file): hold them with /dev/null.
	 * A closed stdout is held read-only, so that what is written to it fails
	 * (EBADF) and is reported as lost output (iot_finish_stdout), not
	 * thrown away with an exit status of 0. */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (fd == 1)
			stdout_closed = true;
		int nfd = open("/dev/null", fd == 2 ? O_WRONLY : O_RDONLY);
		if (nfd >= 0 && nfd != fd) {
			dup2(nfd, fd);
			close(nfd);
		}
	}
}

static void vdiag(const char *level, const char *fmt, va_list ap)
{
	/* One write per message so lines from concurrent processes don't interleave. */
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "%s: %s%s", iot_progname, level, level[0] ? ": " : "");
	if (n < 0 || (size_t)n >= sizeof buf)
		return;
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	/* A key or token given where it was not expected (an argument, an
	 * option, a name) is never echoed back: logs keep stderr. */
	iot_secret_mask(buf + n);
	size_t len = strlen(buf);
	if (len + 1 < sizeof buf) {
		buf[len++] = '\n';
	} else {
		buf[sizeof buf - 2] = '\n';
		len = sizeof buf - 1;
	}
	fflush(stdout);
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}

void iot_warn(const char *fmt, ...)
{
	if (iot_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vdiag("warning", fmt, ap);
	va_end(ap);
}

void iot_info(const char *fmt, ...)
{
	if (iot_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vdiag("info", fmt, ap);
	va_end(ap);
}

void iot_cli_notice(void *arg, enum iot_notice_level level, const char *msg)
{
	(void)arg;
	if (level == IOT_NOTICE_INFO)
		iot_info("%s", msg);
	else
		iot_warn("%s", msg);
}

void iot_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag("fatal", fmt, ap);
	va_end(ap);
}

int iot_fatal_error(const iot_error *err)
{
	int code = err->status == IOT_OK ? IOT_INTERNAL : (int)err->status;
	iot_fatal("%s", err->msg[0] ? err->msg : iot_status_name(err->status));
	return code;
}

int iot_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag("", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", iot_progname);
	return IOT_USAGE;
}

int iot_print_version(void)
{
	if (printf("%s (IoTFlow) %s\n", iot_progname, IOT_VERSION) < 0)
		iot_stdout_failed();
	return 0;
}

int iot_print_help(const char *text)
{
	if (fputs(text, stdout) == EOF)
		iot_stdout_failed();
	return 0;
}

static int stdout_errno;

void iot_stdout_failed(void)
{
	if (!stdout_errno)
		stdout_errno = errno ? errno : EIO;
}

int iot_secret_output(const char *what, const char *if_lost)
{
	if (stdout_closed) {
		iot_fatal("standard output is closed, so %s would be shown nowhere: nothing was done", what);
		return IOT_INTERNAL;
	}
	loss_note = if_lost;
	return 0;
}

int iot_finish_stdout(int rc)
{
	int bad = ferror(stdout);
	errno = 0;
	if (fclose(stdout) != 0) {
		iot_stdout_failed();
		bad = 1;
	}
	if (bad) {
		iot_fatal("unable to write output: %s%s%s", strerror(stdout_errno ? stdout_errno : EIO),
		          loss_note ? "; " : "", loss_note ? loss_note : "");
		/* Output that is lost is worse than a rejected line. */
		return rc > IOT_REJECTED ? rc : IOT_INTERNAL;
	}
	return rc;
}

/* Longer lines are refused, not cut: a password silently shortened would
 * be a different password. */
#define SECRET_MAX 1024

/* While echo is off for a secret: a signal that ends the program (Ctrl-C,
 * Ctrl-\, a hangup, kill) first turns it back on, as passwd(1) does, or
 * the shell that gets the terminal back would not show what is typed. */
static struct termios echo_saved;
static const int echo_signals[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
static struct sigaction echo_prev[sizeof echo_signals / sizeof echo_signals[0]];

static void echo_restore_and_die(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &echo_saved);
	if (write(STDERR_FILENO, "\n", 1) < 0) {
		/* nothing more to do in a signal handler */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void echo_guard(bool on)
{
	struct sigaction sa = { .sa_handler = echo_restore_and_die };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof echo_signals / sizeof echo_signals[0]; i++) {
		if (on)
			sigaction(echo_signals[i], &sa, &echo_prev[i]);
		else
			sigaction(echo_signals[i], &echo_prev[i], NULL);
	}
}

char *iot_read_secret(const char *prompt)
{
	char *line = malloc(SECRET_MAX + 2);
	if (!line) {
		errno = ENOMEM;
		return NULL;
	}
	bool tty = isatty(STDIN_FILENO);
	struct termios old, noecho;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			echo_saved = old;
			echo_guard(true);
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		} else {
			tty = false;
		}
	}
	size_t n = 0;
	int c, fail = 0;
	/* Up to SECRET_MAX + 1 bytes: one more than allowed tells "too long"
	 * (a trailing '\r' is allowed beyond the limit). */
	while ((c = getc(stdin)) != EOF && c != '\n') {
		if (c == '\0')
			fail = EINVAL;
		if (n < SECRET_MAX + 1)
			line[n++] = (char)c;
		else
			fail = fail ? fail : EMSGSIZE;
	}
	if (c == EOF && ferror(stdin))
		fail = EIO;
	else if (c == EOF && n == 0 && !fail)
		fail = -1;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		echo_guard(false);
		fputc('\n', stderr);
	}
	if (!fail && n > 0 && line[n - 1] == '\r')
		n--;
	if (!fail && n > SECRET_MAX)
		fail = EMSGSIZE;
	if (fail) {
		sodium_memzero(line, SECRET_MAX + 2);
		free(line);
		errno = fail < 0 ? 0 : fail;
		return NULL;
	}
	line[n] = '\0';
	return line;
}
