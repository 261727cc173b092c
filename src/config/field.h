/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven decoding of YAML nodes into the typed structs of resource.h, and the
 * helpers validators use to report a problem at a field (file:line:col + field path). */
#ifndef MESHLET_CONFIG_FIELD_H
#define MESHLET_CONFIG_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"
#include "core/arena.h"

struct fy_node;
struct resource;

enum field_kind {
    FIELD_STR,  /* const char * (NULL when absent) */
    FIELD_I32,  /* struct opt_int, int32 range */
    FIELD_U32,  /* struct opt_int, uint32 range */
    FIELD_U64,  /* struct opt_int, non-negative */
    FIELD_BOOL, /* struct opt_bool */
    FIELD_DBL,  /* struct opt_dbl */
    FIELD_DUR,  /* struct opt_dur, nanoseconds */
    FIELD_PCT,  /* struct opt_dbl, from {value: x} */
    FIELD_ENUM, /* struct opt_enum, index into the names table */
    FIELD_STRS, /* struct str_list */
    FIELD_SMAP, /* struct str_map */
    FIELD_IMAP, /* struct int_map (map<string, uint32>) */
    FIELD_OBJ,  /* struct T * (NULL when absent) */
    FIELD_LIST, /* size_t n_len; struct T *n */
    FIELD_MAP,  /* size_t n_len; const char **n_keys; struct T *n */
};

struct schema;

struct field_desc {
    const char *json;  /* lowerCamelCase name */
    const char *proto; /* snake_case proto name, also accepted (jsonpb) */
    enum field_kind kind;
    size_t off;                    /* offset of the member */
    size_t len_off;                /* LIST, MAP: offset of the element count */
    size_t keys_off;               /* MAP: offset of the key array */
    const struct schema *sub;      /* OBJ, LIST, MAP: element schema */
    const char *const *enum_names; /* ENUM: NULL-terminated names, index = proto number */
};

struct schema {
    const char *name; /* message name, for messages */
    size_t size;      /* sizeof the struct */
    const struct field_desc *fields;
    size_t n_fields;
};

/* Decoding state for one resource. */
struct field_ctx {
    struct arena *arena;        /* borrowed: where decoded values live */
    struct diag_list *dl;       /* borrowed: where problems go */
    const struct resource *res; /* borrowed: names the resource in messages */
    unsigned depth;
};

/* Decode mapping <node> into the zeroed struct at <out> per <s>; <path> is the struct's
 * field path ("spec"). Unknown fields and type errors are reported as IST0106 and the
 * field is left absent; decoding continues. Returns the number of errors. */
int field_decode(struct field_ctx *fc, const struct schema *s, struct fy_node *node,
                 const char *path, void *out);

/* Allocate and decode one struct; NULL when <node> is null. */
void *field_decode_new(struct field_ctx *fc, const struct schema *s, struct fy_node *node,
                       const char *path);

/* Parse a Go time.ParseDuration string ("1h30m", "1.5s", "500ms") into <*ns>. 0 or -EINVAL. */
int field_parse_duration(const char *s, int64_t *ns);

/* The value node of <key> in mapping <obj>, then item <index> if >= 0; NULL if absent. */
struct fy_node *field_node(struct fy_node *obj, const char *key, int index);

/* 1-based line and column of <node> (the first key of a mapping, the first item of a
 * sequence); 0 when unknown. */
void field_mark(struct fy_node *node, unsigned *line, unsigned *col);

/* Scalar text of <node> copied into <a>, or NULL if it is not a scalar. */
const char *field_scalar(struct arena *a, struct fy_node *node);
/* A scalar's own text (not NUL-terminated) and its length, or NULL for a missing node, a
 * mapping, a sequence or an alias: for reading JSON answers without copying. */
const char *field_text(struct fy_node *node, size_t *len);

/* Report a problem at <key> (and item <index> when >= 0) of the struct whose node and path
 * are <obj_node>/<obj_path>; <key> NULL means the struct itself. The location falls back
 * to the struct when the field is absent. */
struct diag *field_report(struct diag_list *dl, const struct resource *res,
                          struct fy_node *obj_node, const char *obj_path, const char *key,
                          int index, enum diag_severity sev, const char *code, const char *hint,
                          const char *fmt, ...) __attribute__((format(printf, 10, 11)));

/* True when the struct was a YAML null (a list item or map value written as `~` or empty):
 * it holds no fields. */
bool field_is_null(const void *obj);

/* Fill the resource fields (kind, namespace/name, file, mark) of <d>. */
void field_attach(struct diag *d, const struct resource *res, struct fy_node *node);

/* ---- schema tables (generated from the field lists of resource.h) ---- */
#include "config/resource.h"

#define FIELD_AUX_STR(T, n, s) 0, 0, NULL, NULL
#define FIELD_AUX_I32 FIELD_AUX_STR
#define FIELD_AUX_U32 FIELD_AUX_STR
#define FIELD_AUX_U64 FIELD_AUX_STR
#define FIELD_AUX_BOOL FIELD_AUX_STR
#define FIELD_AUX_DBL FIELD_AUX_STR
#define FIELD_AUX_DUR FIELD_AUX_STR
#define FIELD_AUX_PCT FIELD_AUX_STR
#define FIELD_AUX_STRS FIELD_AUX_STR
#define FIELD_AUX_SMAP FIELD_AUX_STR
#define FIELD_AUX_IMAP FIELD_AUX_STR
#define FIELD_AUX_ENUM(T, n, s) 0, 0, NULL, s##_names
#define FIELD_AUX_OBJ(T, n, s) 0, 0, &s##_schema, NULL
#define FIELD_AUX_LIST(T, n, s) offsetof(struct T, n##_len), 0, &s##_schema, NULL
#define FIELD_AUX_MAP(T, n, s)                                                                     \
    offsetof(struct T, n##_len), offsetof(struct T, n##_keys), &s##_schema, NULL
#define FIELD_ENTRY(T, n, json, kind, s)                                                           \
    {json, #n, FIELD_##kind, offsetof(struct T, n), FIELD_AUX_##kind(T, n, s)},

/* Define T_schema from the field list FIELDS. */
#define FIELD_SCHEMA(T, FIELDS)                                                                    \
    static const struct field_desc T##_fields[] = {FIELDS(FIELD_ENTRY, T)};                        \
    const struct schema T##_schema = {#T, sizeof(struct T), T##_fields,                            \
                                      sizeof(T##_fields) / sizeof(T##_fields[0])};

#define FIELD_DECLARE_SCHEMA(T, FIELDS) extern const struct schema T##_schema;
RES_MESSAGES(FIELD_DECLARE_SCHEMA)

extern const char *const redirect_port_selection_names[];
extern const char *const unmatched_preflights_names[];
extern const char *const lb_simple_names[];
extern const char *const h2_upgrade_policy_names[];
extern const char *const client_tls_mode_names[];
extern const char *const proxy_protocol_version_names[];
extern const char *const server_tls_mode_names[];
extern const char *const tls_protocol_names[];
extern const char *const se_location_names[];
extern const char *const se_resolution_names[];
extern const char *const mtls_mode_names[];

#endif
