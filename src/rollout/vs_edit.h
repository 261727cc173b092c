/* SPDX-License-Identifier: Apache-2.0 */
/* Reading and rewriting the weights of one VirtualService route in YAML text the way a
 * person would: only the weight scalars change (or a `weight:` line is added), every other
 * byte stays (comments, order, quoting, other documents). And the atomic file write. [M] */
#ifndef MESHLET_ROLLOUT_VS_EDIT_H
#define MESHLET_ROLLOUT_VS_EDIT_H

#include <stddef.h>

#include "core/strbuf.h"

struct dest_ref {
    const char *host;   /* as in the YAML, or its short form (see vs_edit_weights) */
    const char *subset; /* "" or NULL = none */
};

/* In YAML <text> (<len> bytes; one or more documents, `kind: List` items too), find the
 * VirtualService <name> (in namespace <ns> when <ns> is non-NULL and the document has
 * metadata.namespace; one without matches any), its http route named <route> (NULL or "":
 * the first http route with >= 2 destinations), and set the weight of the destination
 * matching <dests>[i] to <weights>[i] (>= 0) for each of the <n>. A host matches exactly, or
 * as a short name: "orders" in a VirtualService of namespace prod is
 * orders.prod.svc.cluster.local, as Istio reads it (only when that namespace is known: the
 * document's, else <ns>). A subset matches exactly; none matches none. The new text goes to
 * <out> (appended); only the weight scalars differ (a quoted one keeps its quotes), and a
 * destination without weight gets a `weight: N` line after its last line, at its keys'
 * column. The result is parsed again and must read back as <weights> (YAML has corners
 * where an added line changes the parse). 0, or -1 with why in <err> (<cap> bytes; <out>
 * as it was), positions as line:col: not valid YAML, VirtualService/route/destination not
 * found, found twice, a weight that is an alias, a weight to add to a flow-style item, a
 * result that does not read back. */
int vs_edit_weights(const char *text, size_t len, const char *name, const char *ns,
                    const char *route, const struct dest_ref *dests, const int *weights, size_t n,
                    struct strbuf *out, char *err, size_t cap);

/* The current weights of those destinations (same lookup) into <weights>: a destination
 * without weight reads 100 when it is the route's only one, else 0 (Istio's rule). A weight
 * that is not an integer is an error. 0, or -1 with why in <err>. */
int vs_read_weights(const char *text, size_t len, const char *name, const char *ns,
                    const char *route, const struct dest_ref *dests, int *weights, size_t n,
                    char *err, size_t cap);

/* Replace <path> with <text> atomically: write <path>.tmp-PID, fsync it, rename it over
 * <path>, fsync the directory. The new file keeps the old one's mode (0644 when there was
 * none). 0, or -1 with "path: why" in <err>; the temporary file is removed on failure. */
int vs_write_file(const char *path, const char *text, size_t len, char *err, size_t cap);

#endif
