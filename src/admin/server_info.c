/* SPDX-License-Identifier: Apache-2.0 */
/* /server_info. Envoy's command_line_options names are kept where meshlet has the same
 * option (concurrency, log_level, drain_time); the others are meshlet's flags, named as
 * on the command line with '_' for '-'. */
#include "admin/server_info.h"

#include <inttypes.h>

#include "core/log.h"
#include "core/now.h"
#include "model/model.h"

static void
str_or_null(struct strbuf *sb, const char *key, const char *v)
{
    strbuf_printf(sb, ",\"%s\":", key);
    if (v)
        strbuf_json_str(sb, v);
    else
        strbuf_puts(sb, "null");
}

static void
str_list(struct strbuf *sb, const char *key, const char *const *v, size_t n)
{
    strbuf_printf(sb, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_puts(sb, ",");
        strbuf_json_str(sb, v[i]);
    }
    strbuf_puts(sb, "]");
}

void
server_info_write(const struct admin *a, struct strbuf *sb)
{
    const struct admin_options *o = a->opts;
    uint64_t up_s = (now_ms() - a->started_ms) / 1000;
    strbuf_puts(sb, "{\"version\":");
    strbuf_json_str(sb, o && o->version ? o->version : "meshlet");
    strbuf_printf(sb,
                  ",\"state\":\"%s\",\"uptime_current_epoch\":\"%" PRIu64 "s\","
                  "\"uptime_all_epochs\":\"%" PRIu64 "s\",\"config_version\":%" PRIu64,
                  admin_state(a), up_s, up_s, a->snap->version);
    strbuf_printf(sb, ",\"command_line_options\":{\"concurrency\":%zu,\"log_level\":\"%s\"",
                  a->n_workers, log_level_name(log_get_level()));
    if (o) {
        strbuf_printf(sb, ",\"drain_time\":\"%" PRIu64 ".%03" PRIu64 "s\"", o->drain_ms / 1000,
                      o->drain_ms % 1000);
        str_list(sb, "config", o->config_paths, o->n_config_paths);
        str_or_null(sb, "namespace", o->ns);
        str_list(sb, "gateway", o->gateways, o->n_gateways);
        str_or_null(sb, "listen_address", o->listen_address);
        str_or_null(sb, "mesh_listen", o->mesh_listen);
        str_or_null(sb, "admin", o->admin_address);
        str_or_null(sb, "identity", o->identity_dir);
        str_list(sb, "inbound", o->inbounds, o->n_inbounds);
        str_list(sb, "label", o->labels, o->n_labels);
        str_or_null(sb, "credentials", o->credentials_dir);
        str_or_null(sb, "workload", o->workload);
        str_or_null(sb, "access_log", o->access_log);
        str_or_null(sb, "access_log_format", o->access_log_format);
        strbuf_printf(sb, ",\"watch\":%s", o->watch ? "true" : "false");
    }
    strbuf_puts(sb, "}}");
}
