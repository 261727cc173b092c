/* SPDX-License-Identifier: Apache-2.0 */
/* Regular expressions with RE2's semantics on top of PCRE2: what RE2 rejects is rejected. */
#ifndef MESHLET_CORE_REGEX_H
#define MESHLET_CORE_REGEX_H

#include <stdbool.h>
#include <stddef.h>

/* Check that <pattern> is a regular expression RE2 (and so Istio) accepts.
 * Returns 0, or -EINVAL with a Go-regexp-style reason in <err> (<err_len> bytes, always
 * NUL-terminated), e.g. "error parsing regexp: invalid or unsupported Perl syntax: `(?!` at
 * offset 1" (the fragment from the fault on, and its byte offset in <pattern>).
 * Lookaround, backreferences, atomic groups, possessive quantifiers, recursion and
 * conditionals are refused; anything else must also compile with PCRE2. [A] */
int regex_check(const char *pattern, char *err, size_t err_len);

struct regex;

/* Compile <pattern> for full-match use (anchored at both ends, as Envoy's safe_regex),
 * JIT-compiled when PCRE2 can. Returns NULL when it does not compile (check it with
 * regex_check() first for the reason). Boot/config time only. [M] */
struct regex *regex_compile(const char *pattern);

/* Compile <pattern> for searching and substitution (not anchored). NULL when it does not
 * compile. [M] */
struct regex *regex_compile_search(const char *pattern);

/* Replace every match of <re> in <s> (<len> bytes) by <rewrite> (RE2 syntax: \\1 for a
 * group) into <out> (<cap> bytes). Returns the length written, or 0 on error or overflow. [A] */
size_t regex_substitute(const struct regex *re, const char *s, size_t len, const char *rewrite,
                        char *out, size_t cap);

/* True when <re> (from regex_compile_search) matches somewhere in <s> (<len> bytes), as
 * RE2's PartialMatch. Thread-safe like regex_full_match(). [A] */
bool regex_search(const struct regex *re, const char *s, size_t len);

/* Free a compiled regex; NULL is a no-op. */
void regex_free(struct regex *re);

/* True when the whole of <s> (<len> bytes) matches. Thread-safe: each thread keeps its own
 * match scratch. [A] */
bool regex_full_match(const struct regex *re, const char *s, size_t len);

#endif
