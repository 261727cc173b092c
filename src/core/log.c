/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled logging, and a rate limit for messages that repeat under load. A line costs
 * one clock read and one write: the date and time down to the second are formatted once per
 * second per thread and kept, only the milliseconds are formatted per line. Nothing is done
 * for a message below the level. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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

bool
log_enabled(enum log_level level)
{
    return level < LOG_OFF && (int)level >= atomic_load_explicit(&current, memory_order_relaxed);
}

size_t
log_prefix(uint64_t wall_ms, enum log_level level, char *out, size_t cap)
{
    /* "YYYY-MM-DD HH:MM:SS" of the last second this thread formatted. */
    static _Thread_local uint64_t cached_sec = UINT64_MAX;
    static _Thread_local char cached[24];
    uint64_t sec = wall_ms / 1000;
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%d %H:%M:%S", &tm);
        cached_sec = sec;
    }
    unsigned ms = (unsigned)(wall_ms % 1000);
    int n = snprintf(out, cap, "[%s.%03u][%s] ", cached, ms, log_level_name(level));
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static void
emit(enum log_level level, const char *fmt, va_list ap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[4096];
    size_t n = log_prefix((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, level, line,
                          sizeof(line));
    int k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    size_t len = n + (k < 0 ? 0 : (size_t)k);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) { /* nowhere left to say it */
    }
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, fmt, ap);
    va_end(ap);
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
