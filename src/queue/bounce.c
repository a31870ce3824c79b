/* STUB: placeholder so the tree links until the real module lands; a
 * colleague owns this file and will overwrite it. */
#include "queue/bounce.h"
int bounce_build(const struct bounce_info *b, char **out, size_t *outlen) { (void)b; (void)out; (void)outlen; return -1; }
