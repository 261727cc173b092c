/* SPDX-License-Identifier: Apache-2.0 */
/* meshlet: enforce Istio traffic-management YAML on real traffic. */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
