/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostic list: collection and the two output formats (text like istioctl, JSON). */
#include "config/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void
diag_list_init(struct diag_list *dl)
{
    memset(dl, 0, sizeof(*dl));
    arena_init(&dl->arena, 16384, true);
}

void
diag_list_fini(struct diag_list *dl)
{
    free(dl->items);
    arena_fini(&dl->arena);
    memset(dl, 0, sizeof(*dl));
}

struct diag *
diag_add(struct diag_list *dl, enum diag_severity sev, const char *code, const char *path,
         const char *hint, const char *fmt, ...)
{
    xgrow((void **)&dl->items, &dl->cap, dl->len + 1, sizeof(*dl->items));
    struct diag *d = &dl->items[dl->len++];
    memset(d, 0, sizeof(*d));
    d->severity = sev;
    d->code = code;
    d->path = arena_strdup(&dl->arena, path ? path : "");
    d->hint = hint ? arena_strdup(&dl->arena, hint) : NULL;

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = arena_alloc(&dl->arena, n > 0 ? (size_t)n + 1 : 1);
    va_start(ap, fmt);
    vsnprintf(msg, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
    va_end(ap);
    d->message = msg;

    if (sev == DIAG_ERROR) dl->errors++;
    if (sev == DIAG_WARNING) dl->warnings++;
    return d;
}

const char *
diag_severity_name(enum diag_severity sev)
{
    switch (sev) {
    case DIAG_ERROR: return "Error";
    case DIAG_WARNING: return "Warning";
    default: return "Info";
    }
}

static void
format_text(const struct diag *d, struct strbuf *sb)
{
    strbuf_printf(sb, "%s [%s] ", diag_severity_name(d->severity), d->code);
    /* "(Kind ns/name file:line:col) ", or nothing when a message has neither. */
    if (d->kind || d->file) strbuf_puts(sb, "(");
    if (d->kind) strbuf_printf(sb, "%s %s/%s", d->kind, d->ns ? d->ns : "", d->name ? d->name : "");
    if (d->file) {
        strbuf_printf(sb, "%s%s", d->kind ? " " : "", d->file);
        if (d->line) strbuf_printf(sb, ":%u:%u", d->line, d->col);
    }
    if (d->kind || d->file) strbuf_puts(sb, ") ");
    if (d->path && *d->path) strbuf_printf(sb, "%s: ", d->path);
    strbuf_puts(sb, d->message);
    if (d->hint) strbuf_printf(sb, " -- %s", d->hint);
    strbuf_puts(sb, "\n");
}

static void
json_field(struct strbuf *sb, const char *key, const char *value, bool comma)
{
    strbuf_printf(sb, "%s\"%s\":", comma ? "," : "", key);
    if (value) {
        strbuf_json_str(sb, value);
    } else {
        strbuf_puts(sb, "null");
    }
}

static void
format_json(const struct diag *d, struct strbuf *sb)
{
    strbuf_puts(sb, "{");
    json_field(sb, "severity", diag_severity_name(d->severity), false);
    json_field(sb, "code", d->code, true);
    json_field(sb, "kind", d->kind, true);
    json_field(sb, "namespace", d->ns, true);
    json_field(sb, "name", d->name, true);
    json_field(sb, "file", d->file, true);
    strbuf_printf(sb, ",\"line\":%u,\"column\":%u", d->line, d->col);
    json_field(sb, "path", d->path, true);
    json_field(sb, "message", d->message, true);
    json_field(sb, "hint", d->hint, true);
    strbuf_puts(sb, "}");
}

void
diag_list_format(const struct diag_list *dl, bool json, struct strbuf *sb)
{
    if (json) {
        strbuf_printf(sb, "{\"errors\":%zu,\"warnings\":%zu,\"messages\":[", dl->errors,
                      dl->warnings);
        for (size_t i = 0; i < dl->len; i++) {
            if (i) strbuf_puts(sb, ",\n");
            format_json(&dl->items[i], sb);
        }
        strbuf_puts(sb, "]}\n");
        return;
    }
    for (size_t i = 0; i < dl->len; i++) format_text(&dl->items[i], sb);
}

bool
diag_list_has(const struct diag_list *dl, const char *code, const char *path)
{
    for (size_t i = 0; i < dl->len; i++) {
        const struct diag *d = &dl->items[i];
        if (strcmp(d->code, code) == 0 && (!path || strcmp(d->path, path) == 0)) return true;
    }
    return false;
}
