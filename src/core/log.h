/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled messages to standard error ("meshlet: ..."), the level changeable while running
 * (POST /logging?level=...). One write per message, so lines of threads do not mix. [A] */
#ifndef MESHLET_CORE_LOG_H
#define MESHLET_CORE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* "debug", "info", "warning", "error", "off". */
const char *log_level_name(enum log_level level);
/* The level named <name>; false when there is none. */
bool log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
