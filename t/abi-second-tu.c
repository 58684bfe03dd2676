/* SPDX-License-Identifier: MIT */
/* A second user of xev.h in the same program: it must link. */
#include <stddef.h>

#include "xev.h"

size_t abi_second_tu_loop_size(void);

size_t abi_second_tu_loop_size(void)
{
	xev_loop l;
	return sizeof l + 0 * XEV_SIZEOF_LOOP;
}
