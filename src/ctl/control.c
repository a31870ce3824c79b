/* STUB: placeholder so the tree links until the real module lands; a
 * colleague owns this file and will overwrite it. */
#include "ctl/control.h"
#include <stdlib.h>
struct control { int unused; };
struct control *control_open(const char *p, uid_t u, gid_t g, char *e, size_t l) { (void)p; (void)u; (void)g; (void)e; (void)l; return calloc(1, sizeof(struct control)); }
int control_start(struct control *c, struct qmgr *q) { (void)c; (void)q; return 0; }
void control_stop(struct control *c) { free(c); }
