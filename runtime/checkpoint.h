/* checkpoint.h: the checkpoint decoder's in-memory entry point, internal to
 * the runtime (not installed); netrt_load reads a file and calls it, and the
 * fuzz target calls it on raw bytes.
 */
#ifndef NETRT_CHECKPOINT_H
#define NETRT_CHECKPOINT_H

#include "netrt.h"

/* Largest accepted JSON header, in bytes: far above what any model within
 * netc's limits writes (a few KiB), small enough to read without worry. */
#define NETRT_HEADER_MAX (1u << 20)

/* Checks the descriptor fields the checkpoint code relies on (tensors and
 * state inside their structs, sizes without overflow).  Returns 0, or -1
 * with a message in msg. */
int netrt_ckpt_check_model(const netrt_model *m, char *msg, size_t msglen);

/* Decodes a whole safetensors file held in buf[0, len) for model m (flags
 * as netrt_load_with's).  p is a params_size scratch buffer; o (NULL, or an
 * optim_size buffer holding the caller's current optimizer struct)
 * receives the steps and state.  Returns
 * 0, or -1 with a message (no path, no "error:") in msg; p and o may then be
 * partly written, which is why callers pass scratch copies. */
int netrt_ckpt_decode(const netrt_model *m, const unsigned char *buf, size_t len, void *p, void *o,
                      netrt_meta *meta, unsigned flags, char *msg, size_t msglen);

#endif
