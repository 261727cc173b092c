/* SPDX-License-Identifier: Apache-2.0 */
/* The dashboard page, embedded whole: the assembler's .incbin copies dashboard.html into
 * .rodata at build time (so the page is edited as HTML, and a build needs no generator
 * tool), followed by a NUL. The Makefile makes this object depend on the .html file. What
 * the page shows and how it computes rates lives in the page itself. */
#include "admin/dashboard.h"

#include <string.h>

/* The path is relative to the directory the compiler runs in: the top of the tree. */
__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        ".type meshlet_dashboard_html, @object\n"
        "meshlet_dashboard_html:\n"
        ".incbin \"src/admin/dashboard.html\"\n"
        ".byte 0\n"
        ".size meshlet_dashboard_html, . - meshlet_dashboard_html\n"
        ".popsection\n");

extern const char dashboard_html[] __asm__("meshlet_dashboard_html");

void
dashboard_write(struct strbuf *sb)
{
    strbuf_add(sb, dashboard_html, strlen(dashboard_html));
}
