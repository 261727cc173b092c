/* SPDX-License-Identifier: Apache-2.0 */
/* GET /splits: every route with several weighted destinations, the share each is
 * configured to get and the share of requests it got since this config took effect (all
 * workers). Readable text, or JSON (?format=json) with each worker's smooth-split
 * counters as well. [M] */
#ifndef MESHLET_ADMIN_SPLITS_H
#define MESHLET_ADMIN_SPLITS_H

#include <stdbool.h>

#include "admin/admin.h"
#include "core/strbuf.h"

void splits_write(const struct admin *a, struct strbuf *sb, bool json);

#endif
