"""MX routing against a real DNS server: ferryd asks unbound on loopback
(see dnsserver.py) and delivers to scripted receivers on 127.0.0.x that all
listen on one port (smtp_port). Covers preference order and fallback,
spreading over equal preferences, implicit MX, null MX (RFC 7505), and how
NXDOMAIN, SERVFAIL and timeouts end: bounce, defer, defer."""
import smtplib
import time
import unittest

import ferrytest
from dnsserver import DnsServer, query, NOERROR, SERVFAIL, NXDOMAIN
from ferrytest import Ferryd
from receiver import Receiver
from test_delivery import maildir_messages, parse_dsn, wait_for, MSG

RECORDS = [
    # preference order: mx1 (10) before mx2 (20)
    "pref.test. 300 IN MX 20 mx2.pref.test.",
    "pref.test. 300 IN MX 10 mx1.pref.test.",
    "mx1.pref.test. 300 IN A 127.0.0.2",
    "mx2.pref.test. 300 IN A 127.0.0.3",
    # the best MX has an address where nothing listens
    "down.test. 300 IN MX 10 mx1.down.test.",
    "down.test. 300 IN MX 20 mx2.down.test.",
    "mx1.down.test. 300 IN A 127.0.0.7",
    "mx2.down.test. 300 IN A 127.0.0.3",
    # two at 10 share the load, the one at 20 is only a backup
    "spread.test. 300 IN MX 10 a.spread.test.",
    "spread.test. 300 IN MX 10 b.spread.test.",
    "spread.test. 300 IN MX 20 c.spread.test.",
    "a.spread.test. 300 IN A 127.0.0.4",
    "b.spread.test. 300 IN A 127.0.0.5",
    "c.spread.test. 300 IN A 127.0.0.6",
    # no MX at all: the domain's own address
    "implicit.test. 300 IN A 127.0.0.6",
    # RFC 7505
    "nullmx.test. 300 IN MX 0 .",
    # an MX whose host has no address, and one whose host's lookup fails
    "noaddr.test. 300 IN MX 10 nothing.noaddr.test.",
    "sfhost.test. 300 IN MX 10 mx.servfail.test.",
    # MX hosts that are ferryd itself: the best one (a loop), and a backup
    # behind a primary that is down (only the primary may take the mail)
    # the best MX announces a SIZE too small for the message
    "big.test. 300 IN MX 10 small.big.test.",
    "big.test. 300 IN MX 20 large.big.test.",
    "small.big.test. 300 IN A 127.0.0.2",
    "large.big.test. 300 IN A 127.0.0.3",
    "loop.test. 300 IN MX 10 self.loop.test.",
    "self.loop.test. 300 IN A 127.0.0.1",
    "backup.test. 300 IN MX 10 primary.backup.test.",
    "backup.test. 300 IN MX 20 self.loop.test.",
    "backup.test. 300 IN MX 30 worse.backup.test.",
    "primary.backup.test. 300 IN A 127.0.0.7",
    "worse.backup.test. 300 IN A 127.0.0.8",
]

DNS = None


def setUpModule():
    global DNS
    DNS = DnsServer(RECORDS).start()


def tearDownModule():
    DNS.stop()


def receivers(addrs):
    """Receivers on each address, all on one port (ferryd's smtp_port)."""
    for _ in range(20):
        port = ferrytest.free_port()
        started = []
        try:
            for a in addrs:
                started.append(Receiver(a, port=port))
            return port, started
        except OSError:
            for r in started:
                r.stop()
    raise RuntimeError("no port free on all of %s" % (addrs,))


def send(f, rcpts, sender="alice@example.test"):
    with smtplib.SMTP("127.0.0.1", f.mx) as s:
        s.sendmail(sender, rcpts, MSG)


def log_lines(f, event):
    return [l for l in f.log_text().splitlines() if "event=%s " % event in l]


class DnsTest(unittest.TestCase):
    addrs = ()

    def setUp(self):
        self.port, self.rx = receivers(self.addrs) if self.addrs else (ferrytest.free_port(), [])
        extra = "retry_min 1\nretry_max 2\ndns_timeout 1\ndns_servers %s\nsmtp_port %d\n" % (
            DNS.servers, self.port)
        self.f = Ferryd(deliver=True, extra=extra, relay_networks="127.0.0.0/8").start()

    def tearDown(self):
        self.f.stop()
        for r in self.rx:
            r.stop()

    def queue_empty(self):
        return wait_for(lambda: self.f.queue_files() == [])

    def bounce(self):
        """The one DSN that reached the sender's Maildir: its fields."""
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")),
                        self.f.log_text())
        dsns = maildir_messages(self.f, "alice@example.test")
        self.assertEqual(len(dsns), 1)
        return parse_dsn(dsns[0])[1]

    def assert_deferred_and_kept(self, rcpt, reason):
        """Deferred, retried on the fast schedule, still queued, no bounce."""
        self.assertTrue(wait_for(lambda: len(log_lines(self.f, "deferred")) >= 2, timeout=20),
                        self.f.log_text())
        for line in log_lines(self.f, "deferred"):
            self.assertIn(rcpt, line)
            self.assertIn("4.4.3", line)
            self.assertIn(reason, line)
        self.assertEqual(len(self.f.queue_files()), 1)
        self.assertEqual(self.f.queued()[0]["rcpts"], [rcpt])
        self.assertEqual(maildir_messages(self.f, "alice@example.test"), [])
        self.assertNotIn("event=delivered", self.f.log_text())
        self.assertNotIn("event=bounced", self.f.log_text())


class SelfMxTest(DnsTest):
    """ferryd listed as an MX host: its MX port is the one it listens on."""

    def setUp(self):
        self.rx = [Receiver("127.0.0.8")]
        self.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8",
                        extra="retry_min 1\nretry_max 2\ndns_timeout 1\ndns_servers %s\n" % DNS.servers)
        with open(self.f.conf, "a") as fh:
            fh.write("smtp_port %d\n" % self.f.mx)
        self.rx[0].stop()
        self.rx = [Receiver("127.0.0.8", port=self.f.mx)]
        self.f.start()

    def test_best_mx_is_myself_bounces_5_4_6(self):
        send(self.f, ["x@loop.test"])
        fields = self.bounce()
        self.assertEqual(fields["status"], ["5.4.6"])
        self.assertIn("loops back to myself", fields["diagnostic-code"][0])
        self.assertTrue(self.queue_empty())

    def test_backup_mx_defers_to_the_primary_only(self):
        send(self.f, ["x@backup.test"])
        self.assertTrue(wait_for(lambda: len(log_lines(self.f, "deferred")) >= 2, timeout=20))
        for line in log_lines(self.f, "deferred"):
            self.assertIn("127.0.0.7", line)       # the primary, never the worse MX
        self.assertEqual(self.rx[0].messages, [])
        self.assertNotIn("event=bounced", self.f.log_text())
        self.assertEqual(len(self.f.queue_files()), 1)


class ServerTest(unittest.TestCase):
    """The DNS server says what the tests below rely on."""

    def test_server_answers_as_configured(self):
        self.assertEqual(query(DNS.port, "pref.test", "MX"), (NOERROR, 2))
        self.assertEqual(query(DNS.port, "implicit.test", "MX"), (NOERROR, 0))
        self.assertEqual(query(DNS.port, "nullmx.test", "MX"), (NOERROR, 1))
        self.assertEqual(query(DNS.port, "nosuch.test", "MX"), (NXDOMAIN, 0))
        self.assertEqual(query(DNS.port, "servfail.test", "MX"), (SERVFAIL, 0))
        self.assertEqual(query(DNS.port, "mx.servfail.test", "A"), (SERVFAIL, 0))
        self.assertIsNone(query(DNS.port, "timeout.test", "MX", timeout=0.5))


class PreferenceTest(DnsTest):
    addrs = ("127.0.0.2", "127.0.0.3")

    def test_peer_too_small_is_skipped_for_the_next_mx(self):
        small, large = self.rx
        small.set("ehlo", "250-small\r\n250-PIPELINING\r\n250 SIZE 50")
        send(self.f, ["x@big.test"])
        self.assertTrue(large.wait(1), self.f.log_text())
        self.assertEqual(small.messages, [])
        self.assertFalse(any(c.startswith("MAIL") for c in small.commands))
        self.assertTrue(self.queue_empty())

    def test_lowest_preference_first(self):
        mx1, mx2 = self.rx
        for i in range(3):
            send(self.f, ["user%d@pref.test" % i])
        self.assertTrue(mx1.wait(3), self.f.log_text())
        self.assertTrue(self.queue_empty())
        self.assertEqual(len(mx2.messages), 0)
        self.assertEqual(mx2.connections, 0)
        self.assertIn("event=delivered", self.f.log_text())

    def test_refusing_best_mx_falls_back_to_next(self):
        mx1, mx2 = self.rx
        mx1.set("greeting", "421 4.3.2 service not available")
        send(self.f, ["x@pref.test"])
        self.assertTrue(mx2.wait(1), self.f.log_text())
        self.assertGreaterEqual(mx1.connections, 1)    # it was tried first
        self.assertEqual(len(mx1.messages), 0)
        self.assertEqual(mx2.messages[0]["rcpts"], ["x@pref.test"])
        self.assertTrue(self.queue_empty())


class DownTest(DnsTest):
    addrs = ("127.0.0.3",)

    def test_unreachable_best_mx_falls_back_to_next(self):
        send(self.f, ["x@down.test"])
        self.assertTrue(self.rx[0].wait(1), self.f.log_text())
        self.assertTrue(self.queue_empty())
        self.assertNotIn("event=deferred", self.f.log_text())


class SpreadTest(DnsTest):
    addrs = ("127.0.0.4", "127.0.0.5", "127.0.0.6")

    def test_equal_preference_shares_the_load(self):
        a, b, backup = self.rx
        n = 20
        for i in range(n):
            send(self.f, ["user%d@spread.test" % i])
        self.assertTrue(wait_for(lambda: len(a.messages) + len(b.messages) >= n, timeout=60),
                        self.f.log_text())
        self.assertTrue(self.queue_empty())
        # both get mail (all 20 to one of them: probability 2 ** -19)
        self.assertGreater(len(a.messages), 0)
        self.assertGreater(len(b.messages), 0)
        self.assertEqual(len(backup.messages), 0)


class ImplicitMxTest(DnsTest):
    addrs = ("127.0.0.6",)

    def test_no_mx_uses_the_domains_address(self):
        send(self.f, ["x@implicit.test"])
        self.assertTrue(self.rx[0].wait(1), self.f.log_text())
        self.assertEqual(self.rx[0].messages[0]["rcpts"], ["x@implicit.test"])
        self.assertTrue(self.queue_empty())


class PermanentTest(DnsTest):
    def test_null_mx_bounces_with_5_1_10(self):
        send(self.f, ["x@nullmx.test"])
        fields = self.bounce()
        self.assertEqual(fields["action"], ["failed"])
        self.assertEqual(fields["status"], ["5.1.10"])
        self.assertEqual(fields["final-recipient"], ["rfc822; x@nullmx.test"])
        self.assertIn("null MX", fields["diagnostic-code"][0])
        self.assertTrue(self.queue_empty())
        self.assertNotIn("event=deferred", self.f.log_text())

    def test_nxdomain_bounces(self):
        send(self.f, ["x@nosuch.test"])
        fields = self.bounce()
        self.assertEqual(fields["action"], ["failed"])
        self.assertEqual(fields["status"], ["5.1.2"])
        self.assertIn("nosuch.test", fields["diagnostic-code"][0])
        self.assertTrue(self.queue_empty())
        self.assertNotIn("event=deferred", self.f.log_text())

    def test_mx_host_without_address_bounces(self):
        send(self.f, ["x@noaddr.test"])
        fields = self.bounce()
        self.assertEqual(fields["status"], ["5.1.2"])
        self.assertIn("no address", fields["diagnostic-code"][0])
        self.assertTrue(self.queue_empty())


class TemporaryTest(DnsTest):
    def test_servfail_defers(self):
        send(self.f, ["x@servfail.test"])
        self.assert_deferred_and_kept("x@servfail.test", "servfail.test: MX lookup")

    def test_servfail_for_mx_host_defers(self):
        send(self.f, ["x@sfhost.test"])
        # the A lookup fails (and with outbound_ipv6, the AAAA one after it)
        self.assert_deferred_and_kept("x@sfhost.test", "mx.servfail.test: A")

    def test_timeout_defers(self):
        start = time.time()
        send(self.f, ["x@timeout.test"])
        self.assert_deferred_and_kept("x@timeout.test", "timeout")
        # dns_timeout 1 bounds each lookup: two attempts, ~1 s each plus a retry delay
        self.assertLess(time.time() - start, 15)


if __name__ == "__main__":
    ferrytest.main()
