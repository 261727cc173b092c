/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled logging, and a rate limit for messages that repeat under load. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic int current = LOG_INFO;
static const char *const names[] = {"debug", "info", "warning", "error", "off"};

void
log_set_level(enum log_level level)
{
    atomic_store(&current, (int)level);
}

enum log_level
log_get_level(void)
{
    return (enum log_level)atomic_load(&current);
}

const char *
log_level_name(enum log_level level)
{
    return level <= LOG_OFF ? names[level] : "?";
}

bool
log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (!strcmp(name, names[i])) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&current, memory_order_relaxed)) return;
    char line[4096];
    int n = snprintf(line, sizeof(line), "meshlet: %s",
                     level >= LOG_WARNING ? (level == LOG_ERROR ? "error: " : "warning: ") : "");
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (k < 0 ? 0 : (size_t)k);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) { /* nowhere left to say it */
    }
}

bool
log_limit_pass(struct log_limit *l, uint64_t now_ms, uint64_t interval_ms, uint64_t *held)
{
    uint64_t next = atomic_load_explicit(&l->next_ms, memory_order_relaxed);
    /* One thread wins the slot; the others count themselves as held back. */
    if (now_ms < next ||
        !atomic_compare_exchange_strong(&l->next_ms, &next, now_ms + interval_ms)) {
        atomic_fetch_add_explicit(&l->held, 1, memory_order_relaxed);
        return false;
    }
    *held = atomic_exchange_explicit(&l->held, 0, memory_order_relaxed);
    return true;
}
