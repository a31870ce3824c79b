#!/usr/bin/python3
"""test_cluster - two ferryd nodes as one relay service: their state in one
real PostgreSQL, their counters in one real redis-server, both started here
on loopback (pgserver.py).

Checked, each across the two nodes: a tenant's hourly limit holds exactly
under concurrent load on both; a suppression added through node A refuses
at RCPT on node B; a suspension made through A applies on B at the next
command of an open session; a source address's warm-up cap is one count
for both nodes. Failures: Redis killed during load (counters_failure
closed: 451 4.3.0 for tenant mail, open: accepted on local counters),
PostgreSQL restarted during load (451 4.3.0 while it is down); in every
case each message that got a 250 is in a node's spool or delivered, and
the nodes recover when the server returns.
"""
import os
import re
import smtplib
import socket
import threading
import time
import unittest

from ferrytest import Ferryd, tls_context, wait_for
from pgserver import PgServer, RedisServer
from receiver import Receiver

_seq = [0]


def unique(prefix):
    _seq[0] += 1
    return "%s%d%s" % (prefix, _seq[0], os.urandom(2).hex())


class Node(Ferryd):
    """A ferryd node of the cluster: its own spool and ports, the shared
    state and counters."""

    def __init__(self, name, pg, redis, extra="", **kw):
        conf = "state_db %s\nnode_name %s\n" % (pg.conninfo, name)
        if redis is not None:
            conf += "counters %s\n" % redis.url
        super().__init__(extra=conf + extra, **kw)
        self.name = name


def smtp_session(node, tenant, key):
    s = smtplib.SMTP("127.0.0.1", node.submission, timeout=60)
    s.starttls(context=tls_context())
    s.login(tenant, key)
    return s


def send_one(s, tenant, rcpt, subject="t"):
    """One message on an open session: the reply code of the transaction
    (250 when accepted; the refusal's code otherwise), and its text."""
    sender = "news@%s.test" % tenant
    msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhi\r\n" % (sender, rcpt, subject)).encode()
    try:
        s.sendmail(sender, [rcpt], msg)
        return 250, ""
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        s.rset()
        return code, text.decode(errors="replace")
    except smtplib.SMTPResponseException as e:
        try:
            s.rset()
        except smtplib.SMTPException:
            pass
        return e.smtp_code, e.smtp_error.decode(errors="replace")


class ClusterBase(unittest.TestCase):
    failure = "closed"
    redis_on = True

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer().start()
        cls.redis = RedisServer().start() if cls.redis_on else None
        extra = "counters_failure %s\n" % cls.failure
        cls.a = Node("node-a", cls.pg, cls.redis, extra=extra).start()
        cls.b = Node("node-b", cls.pg, cls.redis, extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        for n in (cls.a, cls.b):
            n.stop()
        if cls.redis is not None:
            cls.redis.stop()
        cls.pg.close()

    def tenant(self, *opts):
        """A new tenant made through node A (its domain NAME.test); its name
        and an API key."""
        name = unique("t")
        key = self.a.tenant_add(name, *opts)
        return name, key

    def spooled_ids(self, node):
        """Queue ids of the messages in node's spool."""
        return {os.path.basename(p) for p in node.queue_files()}


class SharedStateTest(ClusterBase):
    def test_hourly_limit_exact_across_nodes(self):
        name, key = self.tenant()
        self.a.ctl("tenant", "limit", name, "--per-hour", "100")
        results = []
        lock = threading.Lock()

        def worker(node, n, w):
            # a session that ends after too many refusals (421) is opened
            # again: every message gets its own answer
            s = smtp_session(node, name, key)
            for i in range(n):
                try:
                    r = send_one(s, name, "r%d-%d@remote.test" % (w, i))
                except smtplib.SMTPServerDisconnected:
                    s = smtp_session(node, name, key)
                    r = send_one(s, name, "r%d-%d@remote.test" % (w, i))
                with lock:
                    results.append(r)
            s.quit()

        threads = [threading.Thread(target=worker, args=(node, 40, w))
                   for w, node in enumerate((self.a, self.b, self.a, self.b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = [r for r in results if r[0] == 250]
        refused = [r for r in results if r[0] != 250]
        self.assertEqual(len(results), 160)
        self.assertEqual(len(accepted), 100, refused[:3])
        self.assertTrue(all(r[0] == 451 and r[1].startswith("4.7.1") for r in refused), refused[:3])
        # both nodes took part, and what was accepted is in their spools
        self.assertGreater(len(self.spooled_ids(self.a)), 0)
        self.assertGreater(len(self.spooled_ids(self.b)), 0)
        used = self.a.ctl("tenant", "show", name).stdout
        self.assertRegex(used, r"(?m)hour.*\b100\b", used)

    def test_suppression_added_on_a_refuses_on_b(self):
        name, key = self.tenant()
        with smtp_session(self.b, name, key) as s:
            self.assertEqual(send_one(s, name, "gone@remote.test")[0], 250)
        self.a.ctl("suppression", "add", name, "gone@remote.test")
        with smtp_session(self.b, name, key) as s:
            code, text = send_one(s, name, "gone@remote.test")
            self.assertEqual(code, 550, text)
            self.assertIn("5.7.1", text)
            self.assertEqual(send_one(s, name, "other@remote.test")[0], 250)
        # and removed through B, A takes it again
        self.b.ctl("suppression", "del", name, "gone@remote.test")
        with smtp_session(self.a, name, key) as s:
            self.assertEqual(send_one(s, name, "gone@remote.test")[0], 250)

    def test_suspension_on_a_applies_on_b_at_next_command(self):
        name, key = self.tenant()
        s = smtp_session(self.b, name, key)
        try:
            self.assertEqual(send_one(s, name, "x1@remote.test")[0], 250)
            self.a.ctl("tenant", "suspend", name, "--reason", "abuse report")
            code, text = send_one(s, name, "x2@remote.test")
            self.assertEqual(code // 100, 5, text)
            self.assertIn("suspended", text.lower())
            self.a.ctl("tenant", "resume", name)
            self.assertEqual(send_one(s, name, "x3@remote.test")[0], 250)
        finally:
            s.quit()

    def test_events_carry_the_node(self):
        name, key = self.tenant()
        with smtp_session(self.a, name, key) as s:
            self.assertEqual(send_one(s, name, "ev-a@remote.test")[0], 250)
        with smtp_session(self.b, name, key) as s:
            self.assertEqual(send_one(s, name, "ev-b@remote.test")[0], 250)

        def nodes():
            rows = self.pg.psql("SELECT rcpt || ' ' || node FROM events WHERE kind = 'received'"
                                " AND rcpt LIKE 'ev-%%' AND tenant_id = (SELECT id FROM tenants"
                                " WHERE name = '%s') ORDER BY rcpt" % name)
            return rows.split()
        self.assertTrue(wait_for(lambda: len(nodes()) == 4, 10), nodes())
        self.assertEqual(nodes(), ["ev-a@remote.test", "node-a", "ev-b@remote.test", "node-b"])

    def test_ferryctl_works_the_same_on_either_node(self):
        name, _ = self.tenant()
        self.b.ctl("account", "add", name, name + "-app", "--password-stdin", input="pw-" + name + "\n")
        listed = self.a.ctl("account", "list", name).stdout
        self.assertIn(name + "-app", listed)
        self.assertIn(name, self.b.ctl("tenant", "list").stdout)
        self.assertIn(name + ".test", self.b.ctl("domain", "list", name).stdout)


class WarmupTest(unittest.TestCase):
    """A source address's warm-up cap (3 a day here) is one count for the
    two nodes: 6 messages, 3 through each, leave 3 times in all."""

    def test_warmup_cap_shared(self):
        pg = PgServer().start()
        redis = RedisServer().start()
        rx = Receiver("127.0.0.1")
        extra = ("pool warm\npool_address warm 127.0.0.11 warmup=3\n"
                 "route * smtp:127.0.0.1:%d\n" % rx.port)
        nodes = []
        try:
            a = Node("warm-a", pg, redis, extra=extra, deliver=True).start()
            nodes.append(a)
            b = Node("warm-b", pg, redis, extra=extra, deliver=True).start()
            nodes.append(b)
            a.ctl("tenant", "add", "delta", "--pool", "warm")
            a.ctl("domain", "add", "delta", "delta.test")
            key = a.ctl("key", "create", "delta").stdout.splitlines()[0].strip()
            for i, node in enumerate((a, b, a, b, a, b)):
                with smtp_session(node, "delta", key) as s:
                    self.assertEqual(send_one(s, "delta", "warm-%d@remote.test" % i)[0], 250)
            log = lambda: a.log_text() + b.log_text()
            self.assertTrue(wait_for(lambda: len(re.findall(r"event=deferred .*reason=warmup-cap", log())) >= 3,
                                     60), log()[-3000:])
            self.assertEqual(len(rx.messages), 3, log()[-3000:])
            self.assertTrue(all(m["peer"] == "127.0.0.11" for m in rx.messages))
            self.assertNotIn("event=bounced", log())
        finally:
            for n in nodes:
                n.stop()
            rx.stop()
            redis.stop()
            pg.close()


class LoadUnderOutage:
    """Mixin: load on both nodes while a server goes away and comes back."""

    def load(self, name, key, stop_event, results):
        def worker(node, w):
            i = 0
            while not stop_event.is_set():
                try:
                    s = smtp_session(node, name, key)
                except (smtplib.SMTPException, OSError) as e:
                    results.append((node, 0, str(e), None))
                    time.sleep(0.05)
                    continue
                try:
                    for _ in range(20):
                        if stop_event.is_set():
                            break
                        rcpt = "o%d-%d@remote.test" % (w, i)
                        i += 1
                        code, text = send_one(s, name, rcpt)
                        results.append((node, code, text, rcpt))
                        time.sleep(0.005)
                    s.quit()
                except (smtplib.SMTPException, OSError) as e:
                    results.append((node, 0, str(e), None))
        threads = [threading.Thread(target=worker, args=(n, w)) for w, n in enumerate((self.a, self.b))]
        for t in threads:
            t.start()
        return threads

    def recipients_spooled(self, node):
        """Every recipient address in node's queue files."""
        out = set()
        for p in node.queue_files():
            with open(p, "rb") as f:
                out.update(m.decode() for m in re.findall(rb"o\d+-\d+@remote\.test", f.read()))
        return out

    def assert_nothing_lost(self, results):
        accepted = {r[3] for r in results if r[1] == 250}
        spooled = self.recipients_spooled(self.a) | self.recipients_spooled(self.b)
        self.assertTrue(accepted)
        self.assertEqual(accepted - spooled, set())

    def run_outage(self, down, up):
        name, key = self.tenant()
        stop_event = threading.Event()
        results = []
        threads = self.load(name, key, stop_event, results)
        try:
            self.assertTrue(wait_for(lambda: sum(1 for r in results if r[1] == 250) >= 20, 30))
            down()
            mark = len(results)
            self.assertTrue(wait_for(lambda: len(results) >= mark + 20, 30))
            during = results[mark:]
            up()
            mark2 = len(results)
            self.assertTrue(wait_for(lambda: sum(1 for r in results[mark2:] if r[1] == 250) >= 20, 60),
                            results[-5:])
        finally:
            stop_event.set()
            for t in threads:
                t.join(60)
        self.assert_nothing_lost(results)
        return during


class RedisClosedTest(LoadUnderOutage, ClusterBase):
    failure = "closed"

    def test_redis_killed_fails_closed_then_recovers(self):
        during = self.run_outage(lambda: self.redis.stop(keep=True), self.redis.start)
        codes = {(r[1], r[2][:5]) for r in during if r[1] != 0}
        # closed: tenant mail is deferred with 451 4.3.0 while Redis is away
        self.assertIn((451, "4.3.0"), codes, during[:5])
        log = self.a.log_text() + self.b.log_text()
        self.assertNotIn("127.0.0.1:%d" % self.redis.port + "@", log)


class RedisOpenTest(LoadUnderOutage, ClusterBase):
    failure = "open"

    def test_redis_killed_fails_open_on_local_counters(self):
        during = self.run_outage(lambda: self.redis.stop(keep=True), self.redis.start)
        # open: accepted on each node's local counters meanwhile
        self.assertTrue(any(r[1] == 250 for r in during), during[:5])
        self.assertFalse(any(r[1] == 451 and r[2].startswith("4.3.0") for r in during), during[:5])


class PostgresRestartTest(LoadUnderOutage, ClusterBase):
    def test_postgres_restart_defers_then_recovers(self):
        # a session opened before the outage: its next transaction during it
        # is deferred (451 4.3.0), whatever the load's own sessions saw
        name, key = self.tenant()
        probe = smtp_session(self.b, name, key)
        self.assertEqual(send_one(probe, name, "probe-1@remote.test")[0], 250)
        seen = []

        def down():
            self.pg.stop(keep=True)
            seen.append(send_one(probe, name, "probe-2@remote.test"))

        during = self.run_outage(down, self.pg.start)
        self.assertEqual(seen[0][0], 451, seen)
        self.assertTrue(seen[0][1].startswith("4.3.0"), seen)
        self.assertEqual(send_one(probe, name, "probe-3@remote.test")[0], 250)
        probe.quit()
        refused = [r for r in during if r[1] not in (250, 0)]
        # open sessions: 451 4.3.0 at the next transaction; new ones: AUTH
        # answered 454 4.7.0 (try again later), never a 5xx
        self.assertTrue(all(r[1] // 100 == 4 for r in refused), refused[:5])
        self.assertFalse([r for r in during if r[1] == 0 and "(5" in r[2]], during[:5])


if __name__ == "__main__":
    unittest.main(verbosity=2)
