/* STUB: placeholder so the tree links until the real module lands; a
 * colleague owns this file and will overwrite it. Nothing connects. */
#include "delivery/mta_client.h"
#include <stdio.h>
#include <unistd.h>
struct mta_conn *mta_connect(const struct sockaddr *a, socklen_t al, const struct sockaddr *s, socklen_t sl, const struct mta_opts *o, struct mta_reply *w) { (void)a; (void)al; (void)s; (void)sl; (void)o; w->code = 451; snprintf(w->text, sizeof(w->text), "4.4.1 SMTP client not built"); return NULL; }
struct mta_conn *mta_connect_fd(int fd, const struct mta_opts *o, struct mta_reply *w) { (void)o; close(fd); w->code = 451; snprintf(w->text, sizeof(w->text), "4.4.1 SMTP client not built"); return NULL; }
int mta_send(struct mta_conn *c, const struct mta_msg *m) { (void)c; (void)m; return -1; }
void mta_close(struct mta_conn *c) { (void)c; }
const char *mta_tls_info(const struct mta_conn *c) { (void)c; return ""; }
const char *mta_peer_name(const struct mta_conn *c) { (void)c; return ""; }
long mta_reply_parse(const char *b, size_t l, struct mta_reply *r) { (void)b; (void)l; (void)r; return -1; }
