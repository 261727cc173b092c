/* SPDX-License-Identifier: Apache-2.0 */
/* A rollout's persisted state as a small JSON object, and its phase names. */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "rollout/rollout.h"
#include "config/source.h"

static const char *const phase_names[] = {
    [ROLLOUT_PENDING] = "pending",     [ROLLOUT_APPLYING] = "applying",
    [ROLLOUT_OBSERVING] = "observing", [ROLLOUT_PAUSED] = "paused",
    [ROLLOUT_SUCCEEDED] = "succeeded", [ROLLOUT_ROLLED_BACK] = "rolled_back",
    [ROLLOUT_ABORTED] = "aborted",     [ROLLOUT_FAILED] = "failed",
};

const char *
rollout_phase_name(enum rollout_phase p)
{
    return (size_t)p < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[p] : "?";
}

bool
rollout_phase_parse(const char *name, enum rollout_phase *out)
{
    for (size_t i = 0; i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
        if (!strcmp(phase_names[i], name)) {
            *out = (enum rollout_phase)i;
            return true;
        }
    return false;
}

bool
rollout_phase_final(enum rollout_phase p)
{
    return p == ROLLOUT_SUCCEEDED || p == ROLLOUT_ROLLED_BACK || p == ROLLOUT_ABORTED ||
           p == ROLLOUT_FAILED;
}

void
rollout_state_json(const struct rollout_state *s, struct strbuf *sb)
{
    strbuf_puts(sb, "{\"phase\":");
    strbuf_json_str(sb, rollout_phase_name(s->phase));
    strbuf_printf(sb, ",\"step\":%d,\"weight\":%d,\"pid\":%d,\"updated_unix\":%lld,\"message\":",
                  s->step, s->weight, s->pid, (long long)s->updated_unix);
    strbuf_json_str(sb, s->message);
    strbuf_puts(sb, "}\n");
}

static bool
int_at(struct fy_node *root, const char *key, long long *out)
{
    struct fy_node *n = fy_node_mapping_lookup_by_string(root, key, FY_NT);
    const char *v = n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar0(n) : NULL;
    if (!v) return false;
    char *end;
    *out = strtoll(v, &end, 10);
    return *v && !*end;
}

int
rollout_state_parse(const char *text, size_t len, struct rollout_state *s, char *err, size_t cap)
{
    memset(s, 0, sizeof(*s));
    struct fy_document *doc = source_document(text, len, true);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    int rc = -1;
    long long step, weight, pid, updated;
    struct fy_node *phase = root && fy_node_get_type(root) == FYNT_MAPPING
                                ? fy_node_mapping_lookup_by_string(root, "phase", FY_NT)
                                : NULL;
    const char *ph =
        phase && fy_node_get_type(phase) == FYNT_SCALAR ? fy_node_get_scalar0(phase) : NULL;
    if (!ph || !rollout_phase_parse(ph, &s->phase) || !int_at(root, "step", &step) ||
        !int_at(root, "weight", &weight) || step < -1 || step > ROLLOUT_MAX_STEPS || weight < 0 ||
        weight > 100) {
        snprintf(err, cap, "not a rollout state (phase, step, weight)");
        goto out;
    }
    s->step = (int)step;
    s->weight = (int)weight;
    if (int_at(root, "pid", &pid) && pid > 0 && pid < (1LL << 31)) s->pid = (int)pid;
    if (int_at(root, "updated_unix", &updated)) s->updated_unix = updated;
    struct fy_node *m = fy_node_mapping_lookup_by_string(root, "message", FY_NT);
    const char *msg = m && fy_node_get_type(m) == FYNT_SCALAR ? fy_node_get_scalar0(m) : NULL;
    if (msg) snprintf(s->message, sizeof(s->message), "%s", msg);
    rc = 0;
out:
    fy_document_destroy(doc);
    return rc;
}
