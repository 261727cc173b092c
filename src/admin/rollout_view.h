/* SPDX-License-Identifier: Apache-2.0 */
/* /rollout: the last status a `meshlet rollout` process POSTed (a JSON object, at most
 * ROLLOUT_VIEW_MAX_BYTES), kept as posted and served back with its age, for the dashboard.
 * The proxy does not read the status: it only checks that it is one JSON object. [M] */
#ifndef MESHLET_ADMIN_ROLLOUT_VIEW_H
#define MESHLET_ADMIN_ROLLOUT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "core/strbuf.h"

/* Largest status accepted (a POST above it is answered 413). */
#define ROLLOUT_VIEW_MAX_BYTES (64 * 1024)

struct rollout_view {
    char *body; /* owned: the last status posted (NUL-terminated), or NULL: none yet */
    size_t len;
    uint64_t at_ms; /* now_ms() when it was posted */
};

/* Keep <body>, posted at <at_ms>, in place of the previous status. 0; -EMSGSIZE when it is
 * longer than ROLLOUT_VIEW_MAX_BYTES, -EINVAL when it is not one JSON object (the previous
 * status stays in both cases), -ENOMEM. */
int rollout_view_post(struct rollout_view *v, struct slice body, uint64_t at_ms);

/* The status as posted with "age_s" (seconds since it was posted, at <now_ms>) added as its
 * first member, or {"active":false} when none was posted. */
void rollout_view_write(const struct rollout_view *v, uint64_t now_ms, struct strbuf *sb);

/* True when <s> is exactly one JSON value (RFC 8259) that is an object, with white space
 * around it allowed; nesting deeper than 64 is refused. */
bool rollout_view_is_object(struct slice s);

/* Drop the status; a zeroed view is a no-op. */
void rollout_view_fini(struct rollout_view *v);

#endif
