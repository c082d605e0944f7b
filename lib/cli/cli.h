/* cli.h — the command-line plumbing every program shares: diagnostics in one
 * shape, --help/--version, usage errors, getopt's mistakes (number parsers:
 * base/parse.h; subcommands: cli/command_table.h; a row per line of stdin:
 * cli/stdin_lines.h; secrets on stdin: cli/secret_check.h). This is the one
 * part of the library that writes to stdout/stderr, and only when main() asks. */
#ifndef IOT_CLI_H
#define IOT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/error.h"
#include "base/parse.h"

extern const char *iot_progname;   /* set by iot_cli_init() */
extern bool iot_quiet;             /* -q: silence warnings */

/* Remember the program's name (argv[0] without its directory) and turn
 * getopt's own messages off (opterr = 0): iot_getopt_error() says them;
 * reopen fds 0-2 on /dev/null if any is closed. */
void iot_cli_init(const char *progname);

/* "prog: warning: ..." unless -q. */
void iot_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: info: ..." (a routine event, the end of a trouble) unless -q. */
void iot_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A config's notice hook (iot_config_set_notice) that writes each one with
 * iot_warn or iot_info, as its level says. */
void iot_cli_notice(void *arg, enum iot_notice_level level, const char *msg);
/* "prog: fatal: ..." always. */
void iot_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print err as fatal and return its status as an exit code. */
int iot_fatal_error(const iot_error *err);
/* "prog: MSG\nTry 'prog --help' for more information." and return IOT_USAGE. */
int iot_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct option;
/* The usage error for the option getopt_long() just refused (it returned '?'
 * or ':'), called from the `default:` case with the same shortopts (a
 * leading ':' or not) and longopts. Says what GNU getopt would, once, in the
 * one shape: "prog: unrecognized option '--bogus'" (also "invalid option --
 * 'z'", "option '--db' requires an argument", "option requires an argument
 * -- 'd'", "option '--help' doesn't allow an argument", "option '--s' is
 * ambiguous; possibilities: ..."), then the hint. Returns IOT_USAGE. */
int iot_getopt_error(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* "prog (IoTFlow) VERSION" on stdout; returns 0. */
int iot_print_version(void);
/* Print a help text (already formatted) on stdout; returns 0. */
int iot_print_help(const char *text);

/* Close stdout and report a write error (full disk, closed pipe): returns
 * the exit code to use — rc unchanged, or on a write failure IOT_INTERNAL
 * unless rc is already worse than IOT_REJECTED. */
int iot_finish_stdout(int rc);

/* Before a command that shows a new secret once (a key, a token, a code):
 * with stdout closed at start it says that WHAT ("the new key") would be
 * shown nowhere and returns IOT_INTERNAL (do nothing); otherwise 0, and
 * iot_finish_stdout adds IF_LOST (what was committed, and what to do) to
 * its report if the output is then lost. */
int iot_secret_output(const char *what, const char *if_lost);
/* Note that a write to stdout just failed, with errno still as the write
 * left it: the first such reason is the one iot_finish_stdout reports (by
 * the time stdout is closed, errno says nothing about that write). */
void iot_stdout_failed(void);

/* Read a secret line (password) from the terminal without echo, or from a
 * non-terminal stdin as one line, of at most 1024 bytes. Returns a malloc'd
 * string (wipe it with sodium_memzero before free), or NULL with errno 0 at
 * EOF, EMSGSIZE when the line is longer, EINVAL when it holds a NUL byte,
 * EIO when reading failed (what was read is wiped). */
char *iot_read_secret(const char *prompt);

#endif
