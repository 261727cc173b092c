/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled messages to standard error, one line each, as Envoy writes its own:
 * "[2026-12-07 01:02:03.456][info] message" (UTC, milliseconds). The level is set at start
 * (--log-level) and changeable while running (POST /logging?level=...). One write per
 * message, so lines of threads do not mix. [A] */
#ifndef MESHLET_CORE_LOG_H
#define MESHLET_CORE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* "debug", "info", "warning", "error", "off". */
const char *log_level_name(enum log_level level);
/* The level named <name>; false when there is none. */
bool log_level_parse(const char *name, enum log_level *out);
/* The names log_level_parse() takes, for usage messages: "debug|info|warning|error|off". */
#define LOG_LEVEL_NAMES "debug|info|warning|error|off"

/* Would a message at <level> be written? Callers that build costly arguments ask first. */
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The line prefix for Unix time <wall_ms> and <level> into <out> (at least 40 bytes):
 * "[2026-12-07 01:02:03.456][info] ". Its length. Exposed for tests. */
size_t log_prefix(uint64_t wall_ms, enum log_level level, char *out, size_t cap);

/* A message that may repeat under load (out of file descriptors, ...): at most one per
 * interval, the ones held back counted. Zero-initialized; shared by every thread. */
struct log_limit {
    _Atomic uint64_t next_ms; /* the next one may go out from then on */
    _Atomic uint64_t held;    /* held back since the last one went out */
};

/* Whether a message may go out at <now_ms> (then the next may not before <now_ms> +
 * <interval_ms>); when it may, *<held> is how many were held back before it. [A] */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms, uint64_t interval_ms, uint64_t *held);

#endif
