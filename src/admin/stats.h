/* SPDX-License-Identifier: Apache-2.0 */
/* GET /stats: the server's counters as Envoy names them, "name: value" lines or, with
 * ?format=json, Envoy's {"stats":[{"name":...,"value":...}]}; ?filter=REGEX keeps the
 * names the regular expression matches anywhere in (Envoy's filter). [M] */
#ifndef MESHLET_ADMIN_STATS_H
#define MESHLET_ADMIN_STATS_H

#include <stdbool.h>

#include "admin/admin.h"
#include "core/strbuf.h"

struct regex;

/* <filter>: compiled for searching (regex_compile_search), or NULL for every stat. */
void stats_write(const struct admin *a, struct strbuf *sb, bool json, const struct regex *filter);

#endif
