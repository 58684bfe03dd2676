# SPDX-License-Identifier: MIT
# XEV_BACKEND_BUILT(NAME, CONDITION)
# -----------------------------------
# Records whether the backend NAME (as in lib/backends.h) is built:
# AM_CONDITIONAL BACKEND_<NAME> for Makefile.am, XEV_HAVE_<NAME> in
# config.h, and, when CONDITION holds, NAME in XEV_BACKENDS (the list
# scripts loop over) and in XEV__BUILT_BACKENDS, the X-macro lib/registry.c
# expands to find each built backend's hooks.  Call it once per backend,
# in AUTO order, then XEV_BACKENDS_DONE.
AC_DEFUN([XEV_BACKEND_BUILT], [
AM_CONDITIONAL([BACKEND_]m4_toupper([$1]), [$2])
AS_IF([$2], [
  AC_DEFINE([XEV_HAVE_]m4_toupper([$1]), [1], [Build the $1 backend])
  xev_backends="${xev_backends:+$xev_backends }$1"
  xev_backends_x="$xev_backends_x X($1)"])
])

# XEV_BACKENDS_DONE
# -----------------
AC_DEFUN([XEV_BACKENDS_DONE], [
AS_IF([test -z "$xev_backends"], [AC_MSG_ERROR([no backend can be built on this system])])
AC_SUBST([XEV_BACKENDS], [$xev_backends])
AC_DEFINE_UNQUOTED([XEV__BUILT_BACKENDS(X)], [$xev_backends_x],
  [The backends this build has, as X(name) in AUTO order (lib/backends.h)])
])
