/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled messages to standard error ("meshlet: ..."), the level changeable while running
 * (POST /logging?level=...). One write per message, so lines of threads do not mix. [A] */
#ifndef MESHLET_CORE_LOG_H
#define MESHLET_CORE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* "debug", "info", "warning", "error", "off". */
const char *log_level_name(enum log_level level);
/* The level named <name>; false when there is none. */
bool log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
