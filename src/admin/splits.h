/* SPDX-License-Identifier: Apache-2.0 */
/* GET /splits: every route with several weighted destinations, the share each is
 * configured to get and the share of requests it got since this config took effect (all
 * workers). Readable text, JSON (?format=json, with each worker's smooth-split counters),
 * or ?format=raw: one tab-separated line of counters per route and worker, which
 * `meshlet explain --admin` replays. [M] */
#ifndef MESHLET_ADMIN_SPLITS_H
#define MESHLET_ADMIN_SPLITS_H

#include "admin/admin.h"
#include "core/strbuf.h"

enum splits_format { SPLITS_TEXT, SPLITS_JSON, SPLITS_RAW };

void splits_write(const struct admin *a, struct strbuf *sb, enum splits_format f);

#endif
