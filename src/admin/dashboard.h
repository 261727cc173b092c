/* SPDX-License-Identifier: Apache-2.0 */
/* GET /dashboard: one self-contained HTML page (inline style and script, no external
 * resource) built into the binary from src/admin/dashboard.html. It polls /splits, /traffic,
 * /clusters and /rollout of the same admin port every second. [M] */
#ifndef MESHLET_ADMIN_DASHBOARD_H
#define MESHLET_ADMIN_DASHBOARD_H

#include "core/strbuf.h"

/* Append the page to <sb>; its content type is "text/html; charset=utf-8". */
void dashboard_write(struct strbuf *sb);

#endif
