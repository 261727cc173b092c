/* SPDX-License-Identifier: Apache-2.0 */
/* GET /listeners: each listener of the live config and the address it listens on, as
 * Envoy's: "name::address" lines, or with ?format=json
 * {"listener_statuses":[{"name":...,"local_address":{"socket_address":{"address":...,
 * "port_value":...}}}]}. [M] */
#ifndef MESHLET_ADMIN_LISTENERS_H
#define MESHLET_ADMIN_LISTENERS_H

#include <stdbool.h>

#include "admin/admin.h"
#include "core/strbuf.h"

void listeners_write(const struct admin *a, struct strbuf *sb, bool json);

#endif
