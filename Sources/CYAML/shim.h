#ifndef BQSYNC_CYAML_SHIM_H
#define BQSYNC_CYAML_SHIM_H
#include <yaml.h>
#endif
