/* The redaction patterns for what native code shows of values: the
 * locals a dump reads without the GIL (snapshot.c).  The Python layer
 * owns the rules (src/stackwatch/_saferepr.py: redact_patterns(),
 * is_secret()) and gives the patterns in force here; the match is the
 * same: a name is secret if, lower-cased with '-' read as '_', it
 * contains one of them.  Until patterns are given, every name is secret
 * (nothing is shown that the rules might hide).
 *
 * Context: any thread, no GIL; a mutex guards the table (held only to
 * copy in or to match), so not for signal handlers.
 *
 * Pure C; no Python.h. */
#ifndef SW_REDACT_H
#define SW_REDACT_H

#include <stddef.h>

/* Replaces the patterns (copied; each already lower-case, at most 63
 * bytes kept, at most 64 patterns).  Returns 0 or SW_ENOMEM (the table is
 * then unchanged). */
int sw_redact_set(const char *const *patterns, size_t n);

/* 1 if name looks secret under the patterns in force, else 0. */
int sw_redact_is_secret(const char *name);

#endif
