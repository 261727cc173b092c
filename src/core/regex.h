/* SPDX-License-Identifier: Apache-2.0 */
/* Regular expressions with RE2's semantics on top of PCRE2: what RE2 rejects is rejected. */
#ifndef MESHLET_CORE_REGEX_H
#define MESHLET_CORE_REGEX_H

#include <stddef.h>

/* Check that <pattern> is a regular expression RE2 (and so Istio) accepts.
 * Returns 0, or -EINVAL with a Go-regexp-style reason in <err> (<err_len> bytes, always
 * NUL-terminated), e.g. "error parsing regexp: invalid or unsupported Perl syntax: `(?!`".
 * Lookaround, backreferences, atomic groups, possessive quantifiers, recursion and
 * conditionals are refused; anything else must also compile with PCRE2. [A] */
int regex_check(const char *pattern, char *err, size_t err_len);

#endif
