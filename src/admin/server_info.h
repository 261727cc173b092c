/* SPDX-License-Identifier: Apache-2.0 */
/* GET /server_info: Envoy's shape (version, state, uptime_current_epoch,
 * uptime_all_epochs, command_line_options) with meshlet's command line and the config
 * version in force. JSON. [M] */
#ifndef MESHLET_ADMIN_SERVER_INFO_H
#define MESHLET_ADMIN_SERVER_INFO_H

#include "admin/admin.h"
#include "core/strbuf.h"

void server_info_write(const struct admin *a, struct strbuf *sb);

#endif
