/* SPDX-License-Identifier: Apache-2.0 */
/* Boot-time allocation that aborts on OOM. Never call these on the data path. */
#ifndef MESHLET_CORE_ALLOC_H
#define MESHLET_CORE_ALLOC_H

#include <stddef.h>

/* malloc/calloc/realloc/strdup that print and abort on failure. [A, boot only] */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* Grow <*items> (of <elem> bytes each) so that it holds at least <need>; <*cap> is updated.
 * Doubling, so appends are amortised O(1). */
void xgrow(void **items, size_t *cap, size_t need, size_t elem);

#endif
