"""Queue operations of issue 9 through ferryctl against a live ferryd:
`queue suspend|resume site NAME` and `queue suspend|resume tenant NAME`
keep that mail queued and unattempted (the receiver sees no connection)
while other mail flows, `queue summary` shows the suspension, resuming
delivers it; both are logged (event=suspended / event=resumed). Also the
per-message `queue flush ID` and `queue requeue ID`, which no other
integration test drives (list, show, hold, release, delete and flush of
all are in test_delivery.py)."""
import os
import re
import smtplib
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for
from sinks import Sink

MSG = b"From: a@src.test\r\nSubject: queue ops\r\n\r\nbody\r\n"


class LogMixin:
    def wait_log(self, pattern):
        self.assertTrue(wait_for(lambda: re.search(pattern, self.f.log_text()), timeout=30),
                        "no %s in the log:\n%s" % (pattern, self.f.log_text()[-3000:]))


def send(f, rcpts):
    with smtplib.SMTP("127.0.0.1", f.mx, timeout=60) as s:
        for r in rcpts:
            s.sendmail("a@src.test", [r], MSG)


class SuspendSiteTest(LogMixin, unittest.TestCase):
    def setUp(self):
        self.held = Sink(name="held.test")
        self.other = Sink(name="other.test")
        self.site = "smtp:127.0.0.1:%d" % self.held.port
        self.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=(
            "retry_min 1\nretry_max 2\nroute held.test %s tls=none\n"
            "route other.test smtp:127.0.0.1:%d tls=none\n") % (self.site, self.other.port)).start()

    def tearDown(self):
        self.f.stop()
        self.held.stop()
        self.other.stop()

    def test_suspended_site_keeps_its_mail_until_resumed(self):
        self.f.ctl("queue", "suspend", "site", self.site)
        self.wait_log(r"event=suspended kind=site name=\"?%s\"? by=operator" % re.escape(self.site))
        send(self.f, ["h%d@held.test" % i for i in range(3)])
        # mail queued after it to another site goes: the engine has moved past the held mail
        send(self.f, ["o0@other.test"])
        self.assertTrue(self.other.wait(1, timeout=60), self.f.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: any(self.site in l and "suspended" in l.lower()
                                             for l in self.f.ctl("queue", "summary").stdout.splitlines()),
                                 timeout=30), self.f.ctl("queue", "summary").stdout)
        self.assertEqual(self.held.connections, 0, "a suspended site was connected to")
        self.assertEqual(len(self.f.queue_files()), 3)
        self.assertEqual(len(re.findall(r"h\d@held\.test", self.f.ctl("queue", "list").stdout)), 3)
        log = self.f.log_text()
        self.assertNotRegex(log, r"event=(deferred|bounced|delivered) .*@held\.test")

        self.f.ctl("queue", "resume", "site", self.site)
        self.wait_log(r"event=resumed kind=site name=\"?%s\"?" % re.escape(self.site))
        self.assertTrue(self.held.wait(3, timeout=60), self.f.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: self.f.queue_files() == [], timeout=60))
        self.assertFalse([l for l in self.f.ctl("queue", "summary").stdout.splitlines()
                          if self.site in l and "suspended" in l.lower()])
        # resuming what is not suspended is an error
        self.assertNotEqual(self.f.ctl("queue", "resume", "site", self.site, check=False).returncode, 0)


class SuspendTenantTest(LogMixin, unittest.TestCase):
    def setUp(self):
        self.rx = Sink(name="rx.test")
        self.f = Ferryd(deliver=True, extra="retry_min 1\nretry_max 2\nroute * smtp:127.0.0.1:%d tls=none\n"
                        % self.rx.port).start()
        self.keys = {t: self.f.tenant_add(t) for t in ("paused", "running")}

    def tearDown(self):
        self.f.stop()
        self.rx.stop()

    def submit(self, tenant, rcpts):
        self.f.submit(tenant, self.keys[tenant], "news@%s.test" % tenant, rcpts)

    def from_tenant(self, tenant):
        return lambda m: m["sender"].endswith("@%s.test" % tenant)

    def test_suspended_tenant_keeps_its_mail_until_resumed(self):
        self.f.ctl("queue", "suspend", "tenant", "paused")
        self.wait_log(r"event=suspended kind=tenant name=\S+ by=operator")
        # its clients may still submit: only delivery stops
        self.submit("paused", ["p%d@remote.test" % i for i in range(2)])
        self.submit("running", ["r0@remote.test"])
        self.assertTrue(self.rx.wait(1, timeout=60, pred=self.from_tenant("running")),
                        self.f.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: any("suspended" in l.lower() and ("paused" in l or "tenant" in l)
                                             for l in self.f.ctl("queue", "summary").stdout.splitlines()),
                                 timeout=30), self.f.ctl("queue", "summary").stdout)
        self.assertEqual(self.rx.count(self.from_tenant("paused")), 0)
        self.assertEqual(len(self.f.queue_files()), 2)
        self.assertEqual(os.listdir(os.path.join(self.f.spool, "hold")), [])     # queued, not held
        self.assertNotRegex(self.f.log_text(), r"event=(deferred|bounced|delivered) .*to=\"?p\d@")

        self.f.ctl("queue", "resume", "tenant", "paused")
        self.wait_log(r"event=resumed kind=tenant name=\S+")
        self.assertTrue(self.rx.wait(2, timeout=60, pred=self.from_tenant("paused")), self.f.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: self.f.queue_files() == [], timeout=60))
        # an unknown tenant is an error
        self.assertNotEqual(self.f.ctl("queue", "suspend", "tenant", "nosuch", check=False).returncode, 0)


class PerMessageVerbsTest(unittest.TestCase):
    def test_flush_one_and_requeue(self):
        rx = Sink(name="rx.test")
        rx.set("rcpt", lambda cmd: "451 4.7.1 later")
        # retry_min 1h: only an operator brings a deferred message back
        f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=(
            "retry_min 1h\nretry_max 2h\nroute * smtp:127.0.0.1:%d tls=none\n") % rx.port).start()
        try:
            send(f, ["first@remote.test"])
            send(f, ["second@remote.test"])
            self.assertTrue(wait_for(lambda: f.log_text().count("event=deferred") >= 2, timeout=60))
            ids = {}
            for p in f.queue_files():
                ids[ferrytest.read_spool_file(p)["rcpts"][0]] = os.path.basename(p)
            rx.clear()
            f.ctl("queue", "flush", ids["first@remote.test"])
            self.assertTrue(rx.wait(1, timeout=60), f.log_text()[-3000:])
            self.assertTrue(wait_for(lambda: [os.path.basename(p) for p in f.queue_files()]
                                     == [ids["second@remote.test"]], timeout=60))
            self.assertEqual(rx.snapshot()[0]["rcpts"], ["first@remote.test"])
            self.assertIn("attempts:    1", f.ctl("queue", "show", ids["second@remote.test"]).stdout)
            f.ctl("queue", "requeue", ids["second@remote.test"])
            self.assertTrue(rx.wait(2, timeout=60), f.log_text()[-3000:])
            self.assertTrue(wait_for(lambda: f.queue_files() == [], timeout=60))
            self.assertEqual(f.log_text().count("event=delivered"), 2)
            self.assertNotEqual(f.ctl("queue", "requeue", "0000000000000000", check=False).returncode, 0)
        finally:
            f.stop()
            rx.stop()


if __name__ == "__main__":
    ferrytest.main()
