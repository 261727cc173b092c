/* SPDX-License-Identifier: Apache-2.0 */
/* The one piece of now.h that needs storage: the fake-clock hook unit tests drive (see
 * tests/unit/harness.h). Reading the clock stays inline in now.h. */
#include "core/now.h"

_Atomic uint64_t now__fake_ms;
