/* SPDX-License-Identifier: Apache-2.0 */
/* Reading config from disk (files and directories, recursively, .yaml/.yml/.json) or from
 * memory (a config store's values): multi-document YAML, and `kind: List` wrappers. Hands each
 * resource's root node to a callback; keeps the parsed documents alive (their nodes carry the
 * line/column marks). */
#ifndef MESHLET_CONFIG_SOURCE_H
#define MESHLET_CONFIG_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"

struct fy_document;
struct fy_node;

/* Called once per resource document (or List item), in load order. <file> stays valid as
 * long as the source; <root> only during the call, unless the source keeps documents.
 * <doc_index> counts the documents of the file from 0 (empty ones too); <item_index> is the
 * item of a `kind: List`, or -1. */
typedef void source_doc_fn(void *arg, const char *file, struct fy_node *root, size_t doc_index,
                           int item_index);

struct source {
    struct fy_document **docs; /* owned */
    size_t n_docs, cap_docs;
    char **files; /* owned: every file read, in order */
    size_t n_files, cap_files;
    size_t max_file_bytes; /* a bigger file is refused with a message */
    size_t n_documents;    /* documents seen, empty ones included */
    uint64_t digest;       /* sum of the XXH64 of every file's bytes: order and names aside */
    bool keep_documents;   /* keep every document (and its nodes) until source_fini */
    /* Borrowed: the in-memory documents of source_load_docs, where positions are found
     * again as they are in files (source_locate_all), so their nodes need not be kept. */
    const struct source_doc *mem;
    size_t n_mem;
};

/* YAML is text: NULL when <text> (<len> bytes) is UTF-8 without NUL or other control bytes
 * (tab, CR and LF aside), else the reason, with the 1-based <line> and <col> of the first
 * bad byte. Checked before parsing: libfyaml would take some binary input as a plain
 * scalar. (Also rollout/vs_edit.c, before it edits a file.) */
const char *source_check_text(const char *text, size_t len, unsigned *line, unsigned *col);

/* libfyaml diagnostics that collect errors and never print them (quiet, and libfyaml 0.7.12
 * can crash formatting some messages); NULL when out of memory. source_diag_free frees the
 * errors collected and drops this reference. */
struct fy_diag *source_quiet_diag(void);
void source_diag_free(struct fy_diag *diag);

/* One document from text read elsewhere (an answer of etcd, Prometheus or an admin port, a
 * state file, a stored resource): JSON when <json>, else YAML; source_check_text first and
 * the quiet diagnostics above. NULL when it is not one (freed with fy_document_destroy). */
struct fy_document *source_document(const char *text, size_t len, bool json);

/* Default cap on one file: Kubernetes objects are far smaller (etcd keeps 1.5 MB). */
#define SOURCE_MAX_FILE_BYTES (16u << 20)

void source_init(struct source *src);

/* Free the documents and file names. Zeroed source is a no-op. */
void source_fini(struct source *src);

/* Load every path (file or directory). Directory entries are read in name order.
 * Malformed YAML and oversize files become ML0001 errors in <dl> and loading goes on.
 * Returns 0, or -errno (-ENOENT, -EACCES, ...) when a path cannot be read: a named one, a
 * directory under one, or a .yaml/.yml/.json entry (a dangling symlink too); each is reported
 * with the path and the reason, and loading goes on. [M] */
int source_load(struct source *src, const char *const *paths, size_t n, source_doc_fn *fn,
                void *arg, struct diag_list *dl);

/* A config document held in memory (a config store's value): <name> says where it came
 * from in messages (a key, say), <bytes> holds <len> bytes of YAML or JSON, as a file
 * would. Both borrowed for the call. */
struct source_doc {
    const char *name;
    const char *bytes;
    size_t len;
};

/* Load <n> in-memory documents as source_load loads files: each may hold several YAML
 * documents or a `kind: List`; malformed, binary or oversize text becomes ML0001 errors
 * in <dl> and loading goes on. Messages name <name>; <docs> must stay valid until the
 * positions of later messages are found (config_analyze): they are read again for them. [M] */
void source_load_docs(struct source *src, const struct source_doc *docs, size_t n,
                      source_doc_fn *fn, void *arg, struct diag_list *dl);

/* One position to find again: the node at field <path> (or its deepest existing parent) in
 * document <doc_index> (List item <item_index>, or -1) of <file>. */
struct source_locate {
    const char *file;
    size_t doc_index;
    int item_index;
    const char *path;
    unsigned line, col; /* out: 1-based; 0 when not found */
};

/* Fill line/col of every request by reading each file (or in-memory document of <src>) once.
 * <reqs> must be sorted by file then doc_index (same file pointers together). [M] */
void source_locate_all(const struct source *src, struct source_locate *reqs, size_t n);

#endif
