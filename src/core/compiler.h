/* SPDX-License-Identifier: Apache-2.0 */
/* Compiler helpers every layer uses: branch hints, container_of, ARRAY_SIZE, BUG_ON. */
#ifndef MESHLET_CORE_COMPILER_H
#define MESHLET_CORE_COMPILER_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Invariant check, on in every build: a bug is a crash, bad input is a value. */
#define BUG_ON(cond)                                                                               \
    do {                                                                                           \
        if (unlikely(cond)) {                                                                      \
            fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FREE_AND_NULL(p)                                                                           \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

#endif
