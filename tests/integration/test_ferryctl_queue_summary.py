"""`ferryctl queue summary` and `ferryctl queue suspend|resume site|tenant`:
the control socket requests they send and how they print the replies. The
rows come from a stand-in control socket (a thread in this test speaking
the protocol of src/control/control.c), so every column, the tenant names
read from the state database and the refusals are checked whatever the
queue manager holds; the last test asks a real ferryd."""
import os
import socket
import threading
import unittest

from ferrytest import Ferryd

SITE_A = "site\tmx1.big.test,mx2.big.test\t127.0.0.2\t120\t40\t10\t0\t10\t9\t2\t1\t" \
         "connections=2 until=1733230000 rule=gmail-throttle\n"
SITE_B = "site\tsmtp:relay.test:587\t\t0\t0\t1\t0\t1\t1\t20\t0\t\n"
DOMAIN = "domain\tbig.test\t\t120\t40\t10\t3\t0\t0\t0\t0\t\n"


class FakeControl:
    """A control socket answering each request with the reply set for it."""

    def __init__(self, path):
        self.path = path
        self.requests = []
        self.replies = {}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                req = data.decode().rstrip("\n")
                self.requests.append(req)
                conn.sendall(self.replies.get(req, "ERR unknown command\n").encode())

    def close(self):
        self.sock.close()


class QueueSummaryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd()     # not started: ferryctl needs only its configuration
        os.makedirs(cls.f.spool, mode=0o700)
        cls.f.ctl("tenant", "add", "acme")
        cls.f.ctl("tenant", "add", "zeta")
        cls.ids = dict(cls.f.sql("SELECT name, id FROM tenants"))
        cls.fake = FakeControl(os.path.join(cls.f.tmp, "fake.sock"))

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.requests.clear()
        self.fake.replies.clear()

    def ctl(self, *args, code=0):
        r = self.f.ctl("-s", self.fake.path, *args, check=False)
        self.assertEqual(r.returncode, code, (args, r.stdout, r.stderr))
        return r

    def test_summary_tables(self):
        acme, zeta = self.ids["acme"], self.ids["zeta"]
        self.fake.replies["summary"] = SITE_B + DOMAIN + SITE_A + \
            "tenant\t%d\t\t1\t0\t0\t0\t0\t0\t0\t1\t\n" % acme + \
            "tenant\t0\t\t5\t0\t0\t0\t0\t0\t0\t0\t\n" + \
            "tenant\t999\t\t7\t0\t0\t0\t0\t0\t0\t0\t\n" + \
            "tenant\t%d\t\t100\t40\t10\t3\t0\t0\t0\t0\t\n" % zeta + "OK\n"
        out = self.ctl("queue", "summary").stdout
        self.assertEqual(self.fake.requests, ["summary"])
        tables = out.split("\n\n")
        self.assertEqual(len(tables), 3, out)
        site, domain, tenant = (t.splitlines() for t in tables)
        self.assertEqual(site[0].split(), ["SITE", "SOURCE", "READY", "SCHED", "ACTIVE", "CONNS",
                                           "LIMIT", "STATE"])
        # most mail first; the source "" is the system's choice
        self.assertEqual(site[1].split(), ["mx1.big.test,mx2.big.test", "127.0.0.2", "120", "40",
                                           "10", "10/9", "2", "suspended,", "shaping:",
                                           "connections=2", "until=1733230000",
                                           "rule=gmail-throttle"])
        self.assertEqual(site[2].split(), ["smtp:relay.test:587", "-", "0", "0", "1", "1/1", "20"])
        self.assertFalse([line for line in out.splitlines() if line.endswith(" ")], out)
        # columns line up: each head ends where its numbers end
        self.assertEqual(site[0].index("READY") + 5, site[1].index("120") + 3)
        self.assertEqual(domain[0].split(), ["DOMAIN", "READY", "SCHED", "ACTIVE", "HELD", "STATE"])
        self.assertEqual(domain[1].split(), ["big.test", "120", "40", "10", "3"])
        self.assertEqual(tenant[0].split(), ["TENANT", "READY", "SCHED", "ACTIVE", "HELD", "STATE"])
        self.assertEqual([line.split() for line in tenant[1:]], [
            ["zeta", "100", "40", "10", "3"], ["999", "7", "0", "0", "0"],
            ["(none)", "5", "0", "0", "0"], ["acme", "1", "0", "0", "0", "suspended"]])

    def test_summary_empty_and_partial(self):
        self.fake.replies["summary"] = "OK\n"
        self.assertEqual(self.ctl("queue", "summary").stdout, "queue is empty\n")
        self.fake.replies["summary"] = DOMAIN + "OK\n"
        out = self.ctl("queue", "summary").stdout
        self.assertEqual(len(out.splitlines()), 2, out)
        self.assertTrue(out.startswith("DOMAIN "), out)

    def test_summary_refused(self):
        for bad in ("site\tx\t\t1\t2\t3\n", "site\tx\t\t-1\t0\t0\t0\t0\t0\t0\t0\t\n",
                    "queue\tx\t\t1\t0\t0\t0\t0\t0\t0\t0\t\n", "site\tx\t\t1\t0\t0\t0\t0\t0\t0\t0\t\x1b[2J\n"):
            self.fake.replies["summary"] = SITE_B + bad + "OK\n"
            r = self.ctl("queue", "summary", code=1)
            self.assertEqual(r.stdout, "")
            self.assertIn("ferryctl: queue summary: malformed reply from ferryd", r.stderr)
        self.fake.replies["summary"] = "ERR busy\n"
        self.assertIn("queue summary: busy", self.ctl("queue", "summary", code=1).stderr)
        self.ctl("queue", "summary", "x", code=2)

    def test_suspend_resume_site(self):
        self.fake.replies["suspend-site mx1.big.test,mx2.big.test"] = "OK\n"
        r = self.ctl("queue", "suspend", "site", "mx1.big.test,mx2.big.test")
        self.assertIn("site mx1.big.test,mx2.big.test: delivery suspended", r.stdout)
        self.fake.replies["resume-site [127.0.0.2]"] = "OK\n"
        self.assertIn("delivery resumed", self.ctl("queue", "resume", "site", "[127.0.0.2]").stdout)
        self.fake.replies["resume-site big.test"] = "ERR site big.test is not suspended\n"
        r = self.ctl("queue", "resume", "site", "big.test", code=1)
        self.assertIn("ferryctl: queue resume site big.test: site big.test is not suspended", r.stderr)
        self.assertEqual(self.fake.requests, ["suspend-site mx1.big.test,mx2.big.test",
                                              "resume-site [127.0.0.2]", "resume-site big.test"])
        # refused before anything is sent
        self.assertIn("invalid site name", self.ctl("queue", "suspend", "site", "a b", code=1).stderr)
        self.ctl("queue", "suspend", "site", "x" * 256, code=1)
        self.ctl("queue", "suspend", "site", "", code=1)
        self.ctl("queue", "suspend", "site", code=2)
        self.ctl("queue", "suspend", "host", "big.test", code=2)
        self.ctl("queue", "resume", "site", "a", "b", code=2)
        self.assertEqual(len(self.fake.requests), 3)

    def test_suspend_resume_tenant(self):
        req = "suspend-tenant %d" % self.ids["acme"]
        self.fake.replies[req] = "OK\n"
        self.assertIn("tenant acme: delivery suspended",
                      self.ctl("queue", "suspend", "tenant", "acme").stdout)
        self.fake.replies["resume-tenant %d" % self.ids["zeta"]] = "OK\n"
        self.ctl("queue", "resume", "tenant", "zeta")
        self.assertEqual(self.fake.requests, [req, "resume-tenant %d" % self.ids["zeta"]])
        r = self.ctl("queue", "suspend", "tenant", "nosuch", code=1)
        self.assertIn("ferryctl: no tenant nosuch", r.stderr)
        self.assertEqual(len(self.fake.requests), 2)


class RealFerrydTest(unittest.TestCase):
    """The same requests to ferryd itself: nothing queued, nothing suspended."""

    def test_ferryd(self):
        f = Ferryd().start()
        try:
            self.assertEqual(f.ctl("queue", "summary").stdout, "queue is empty\n")
            r = f.ctl("queue", "resume", "site", "nowhere.test", check=False)
            self.assertEqual(r.returncode, 1, r)
            self.assertIn("site nowhere.test is not suspended", r.stderr)
            self.assertIn("event=queue-resume-site id=site:nowhere.test", f.log_text())
        finally:
            f.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
