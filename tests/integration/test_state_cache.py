#!/usr/bin/python3
"""test_state_cache - the state cache in Redis (src/state/state_cache.c) on
two ferryd nodes sharing a real PostgreSQL and a real redis-server, both
started here on loopback (pgserver.py).

With the cache on (the default), each change made through node A (ferryctl,
or A's HTTP API: ferryd's own writes) is node B's answer at its very next
lookup, although B had the old answer cached: a suppression at the next
RCPT of an open session, a suspension at the next MAIL of an open session,
a revoked key at the next MAIL and at AUTH (whose key row B had cached). The cache is used: B's
ferry_state_cache_lookups_total{result="hit"} grows with repeated lookups,
and a node with `state_cache off` has none. With Redis killed, lookups
answer from PostgreSQL (result="bypass", event=state-cache-bypass), a
change made meanwhile is refused at once, and after Redis returns on its
port (event=state-cache-restored) the answers stay right and come from the
cache again.
"""
import re
import smtplib
import unittest

from ferrytest import wait_for
from test_cluster import ClusterBase, Node, send_one, smtp_session


def cache_counts(node):
    """ferry_state_cache_lookups_total of node by result."""
    text = node.ctl("metrics").stdout
    out = {}
    for result, value in re.findall(r'(?m)^ferry_state_cache_lookups_total\{result="(\w+)"\} (\d+)$',
                                    text):
        out[result] = int(value)
    return out


class StateCacheTest(ClusterBase):
    # counters on local memory while Redis is away: the outage test is
    # about the lookups, so mail is not refused for the counters' sake
    failure = "open"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # B's HTTP API is not needed; A's is, for ferryd's own writes
        cls.a.stop()
        cls.a = Node("node-a", cls.pg, cls.redis, extra="counters_failure open\n", http=True).start()

    def test_suppression_on_a_refuses_on_b_at_next_rcpt_and_hits(self):
        name, key = self.tenant()
        before = cache_counts(self.b)
        s = smtp_session(self.b, name, key)
        try:
            for i in range(3):        # a miss, then hits: the same answer cached
                self.assertEqual(send_one(s, name, "gone@remote.test")[0], 250)
            after = cache_counts(self.b)
            self.assertGreater(after["hit"], before["hit"], after)
            self.assertGreater(after["miss"], before["miss"], after)
            self.a.ctl("suppression", "add", name, "gone@remote.test")
            code, text = send_one(s, name, "gone@remote.test")
            self.assertEqual(code, 550, text)
            self.assertIn("5.7.1", text)
            self.assertEqual(send_one(s, name, "other@remote.test")[0], 250)
            self.b.ctl("suppression", "del", name, "gone@remote.test")
            self.assertEqual(send_one(s, name, "gone@remote.test")[0], 250)
        finally:
            s.quit()

    def test_suspension_through_a_api_applies_on_b_at_next_mail(self):
        name, key = self.tenant()
        token = self.a.admin_token()
        s = smtp_session(self.b, name, key)
        try:
            for i in range(2):
                self.assertEqual(send_one(s, name, "x%d@remote.test" % i)[0], 250)
            # ferryd's own write (the HTTP API of node A), not ferryctl's
            status, _, body = self.a.api("POST", "/v1/tenants/%s/suspend" % name,
                                         {"reason": "abuse report"}, token=token)
            self.assertEqual(status // 100, 2, body)
            code, text = send_one(s, name, "x2@remote.test")
            self.assertEqual(code, 550, text)
            self.assertIn("suspended", text.lower())
            status, _, body = self.a.api("POST", "/v1/tenants/%s/resume" % name, {}, token=token)
            self.assertEqual(status // 100, 2, body)
            self.assertEqual(send_one(s, name, "x3@remote.test")[0], 250)
        finally:
            s.quit()

    def test_key_revoked_on_a_fails_on_b(self):
        name, key = self.tenant()
        prefix = key[:15]
        for i in range(3):            # AUTH on B: the key's row cached, then hits
            smtp_session(self.b, name, key).quit()
        before = cache_counts(self.b)
        smtp_session(self.b, name, key).quit()
        self.assertGreater(cache_counts(self.b)["hit"], before["hit"])
        s = smtp_session(self.b, name, key)
        try:
            for i in range(2):
                self.assertEqual(send_one(s, name, "k%d@remote.test" % i)[0], 250)
            self.a.ctl("key", "revoke", name, prefix)
            code, text = send_one(s, name, "k2@remote.test")
            self.assertEqual(code, 550, text)
            self.assertIn("revoked", text)
        finally:
            s.quit()
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            smtp_session(self.b, name, key)

    def test_redis_killed_lookups_from_postgres_then_cache_again(self):
        name, key = self.tenant()
        with smtp_session(self.b, name, key) as s:
            for i in range(2):        # "not suppressed" cached on B
                self.assertEqual(send_one(s, name, "late@remote.test")[0], 250)
        self.redis.stop(keep=True)
        try:
            r = self.a.ctl("suppression", "add", name, "late@remote.test")
            self.assertIn("could not be told", r.stderr)
            self.assertNotIn("@127.0.0.1", r.stderr)
            before = cache_counts(self.b)
            with smtp_session(self.b, name, key) as s:
                code, text = send_one(s, name, "late@remote.test")
                self.assertEqual(code, 550, text)
                self.assertEqual(send_one(s, name, "fine@remote.test")[0], 250)
            self.assertGreater(cache_counts(self.b)["bypass"], before["bypass"])
            self.assertTrue(wait_for(lambda: "event=state-cache-bypass" in self.b.log_text(), 10))
        finally:
            self.redis.start()
        self.assertTrue(wait_for(lambda: "event=state-cache-restored" in self.b.log_text(), 30),
                        self.b.log_text()[-2000:])
        before = cache_counts(self.b)
        with smtp_session(self.b, name, key) as s:
            for i in range(3):
                code, text = send_one(s, name, "late@remote.test")
                self.assertEqual(code, 550, text)
        after = cache_counts(self.b)
        self.assertGreater(after["hit"], before["hit"], after)


class StateCacheOffTest(unittest.TestCase):
    """`state_cache off`: every lookup reads PostgreSQL, none is counted."""

    def test_off(self):
        from pgserver import PgServer, RedisServer
        pg = PgServer().start()
        redis = RedisServer().start()
        node = None
        try:
            node = Node("off", pg, redis, extra="state_cache off\n").start()
            key = node.tenant_add("zeta")
            with smtp_session(node, "zeta", key) as s:
                for i in range(3):
                    self.assertEqual(send_one(s, "zeta", "z@remote.test")[0], 250)
            self.assertEqual(cache_counts(node), {"hit": 0, "miss": 0, "bypass": 0})
            self.assertNotIn("event=state-cache-on", node.log_text())
        finally:
            if node is not None:
                node.stop()
            redis.stop()
            pg.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
