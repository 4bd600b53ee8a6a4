#ifndef BQSYNC_CLIBPQ_SHIM_H
#define BQSYNC_CLIBPQ_SHIM_H
/* libpq, PostgreSQL's C client (Debian libpq-dev; pkg-config libpq puts /usr/include/postgresql on the path). */
#include <libpq-fe.h>
#endif
