#ifndef BQSYNC_CLIBFUZZER_SHIM_H
#define BQSYNC_CLIBFUZZER_SHIM_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's documented driver entry point (compiler-rt/lib/fuzzer/FuzzerInterface.h). It is only linked
// in with `-sanitize=fuzzer`, so only code compiled with `-D FUZZING` may call it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
