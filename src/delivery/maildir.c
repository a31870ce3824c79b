/* STUB: placeholder so the tree links until the real module lands; a
 * colleague owns this file and will overwrite it. */
#include "delivery/maildir.h"
#include <stdio.h>
int maildir_deliver(const char *m, int fd, off_t o, uint64_t l, const char *s, const char *r, char *e, size_t el) { (void)m; (void)fd; (void)o; (void)l; (void)s; (void)r; snprintf(e, el, "maildir delivery not built"); return -1; }
int maildir_path(const char *root, const char *addr, char *out, size_t outsz) { return snprintf(out, outsz, "%s/%s", root, addr) < (int)outsz ? 0 : -1; }
