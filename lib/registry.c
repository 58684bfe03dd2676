/* SPDX-License-Identifier: MIT */
/*
 * The backend registry: lib/backends.h lists every backend the library
 * knows (name, id, capabilities, AUTO order); configure says which this
 * build has (XEV__BUILT_BACKENDS in config.h), and each of those defines
 * its hooks as xev__backend_NAME.  Nothing else in the library names a
 * backend.
 */
#include "backend.h"

#include <stddef.h>

#define DECLARE_HOOKS(name) extern const struct xev__backend xev__backend_##name XEV__HIDDEN;
XEV__BUILT_BACKENDS(DECLARE_HOOKS)

#define HOOKS_ADDRESS(name) &xev__backend_##name,
static const struct xev__backend *const built[] = { XEV__BUILT_BACKENDS(HOOKS_ADDRESS) };

/* Capabilities are for the tests; the library needs none of them. */
#define KNOWN(name, id, caps) { id, #name },
static const struct known {
	xev_backend id;
	const char *name;
} known[] = { XEV__BACKENDS(KNOWN) };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct known *known_of(xev_backend b)
{
	for (size_t i = 0; i < COUNT(known); i++)
		if (known[i].id == b)
			return &known[i];
	return NULL;
}

const struct xev__backend *xev__backend_hooks(xev_backend b)
{
	for (size_t i = 0; i < COUNT(built); i++)
		if (built[i]->id == b)
			return built[i];
	return NULL;
}

xev_backend xev__backend_nth(unsigned i)
{
	return i < COUNT(known) ? known[i].id : XEV_BACKEND_AUTO;
}

const char *xev_backend_name(xev_backend b)
{
	const struct known *k = known_of(b);

	if (b == XEV_BACKEND_AUTO)
		return "auto";
	return k ? k->name : NULL;
}

int xev_backend_available(xev_backend b)
{
	const struct xev__backend *be = xev__backend_hooks(b);
	return be && be->probe() == 0;
}
