/* SPDX-License-Identifier: Apache-2.0 */
/* The meshlet.io/sticky-split annotation of a VirtualService: which request header or
 * cookie names the user whose weighted destination stays the same across requests, for
 * every weighted http route of the VirtualService or per named route. An annotation keeps
 * the YAML valid for Istio, which ignores it. */
#ifndef MESHLET_CONFIG_STICKY_H
#define MESHLET_CONFIG_STICKY_H

#include <stddef.h>

struct arena;
struct diag_list;
struct resource;

#define STICKY_ANNOTATION "meshlet.io/sticky-split"

enum sticky_source { STICKY_NONE, STICKY_HEADER, STICKY_COOKIE };

/* Where a request carries its user key. */
struct sticky_key {
    enum sticky_source source;
    const char *name; /* arena; a header name in lower case, a cookie name as written */
};

struct sticky_entry {
    const char *route; /* arena: the http route's name; NULL: every route not named */
    struct sticky_key key;
};

/* The annotation, parsed: at most one entry without a route, each route named once. */
struct sticky_split {
    size_t n;
    struct sticky_entry *entries; /* arena */
};

/* Read the annotation of VirtualService <r> (decoded, its document loaded) into r->sticky,
 * allocating from <a>; NULL when absent. A value that does not parse, and a route name the
 * VirtualService lacks, are errors in <dl> at the annotation's file:line:col (the column of
 * the fault when the value is on one line); a named route without a weighted split is a
 * warning. An annotation with an error leaves r->sticky NULL. [M] */
void sticky_decode(struct arena *a, struct diag_list *dl, struct resource *r);

/* The key for http route <route> (its name; NULL or "" for none) under <s>: its own entry,
 * else the entry without a route; NULL when <s> is NULL or names neither. */
const struct sticky_key *sticky_for_route(const struct sticky_split *s, const char *route);

/* "header", "cookie" or "none". */
const char *sticky_source_name(enum sticky_source source);

#endif
