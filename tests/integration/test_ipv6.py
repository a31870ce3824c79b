"""IPv6 outbound (issue 9) over ::1: a receiver on [::1]:PORT reached
through a route `smtp:[::1]:PORT`, through MX (the test DNS server gives an
MX host whose only address is AAAA ::1), and from an IP pool whose address
is ::1; ferryd also listens on [::1]. Each delivery's log line names
[::1] as the relay. Skipped only when the machine has no ::1."""
import smtplib
import socket
import unittest

import ferrytest
from dnsserver import DnsServer, NOERROR, query
from ferrytest import Ferryd, free_port, wait_for
from sinks import Sink

MSG = b"From: a@src.test\r\nSubject: over IPv6\r\n\r\nbody\r\n"


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


@unittest.skipUnless(have_ipv6_loopback(), "no ::1 on this machine")
class Ipv6Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Sink("::1", name="v6.test")
        cls.dns = DnsServer(["v6mx.test. 300 IN MX 10 mx6.v6mx.test.",
                             "mx6.v6mx.test. 300 IN AAAA ::1"]).start()
        # check what the server says before trusting a test built on it
        assert query(cls.dns.port, "mx6.v6mx.test", "AAAA") == (NOERROR, 1)
        assert query(cls.dns.port, "mx6.v6mx.test", "A")[1] == 0
        cls.v6port = free_port()
        cls.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8 ::1/128", extra=(
            "retry_min 1\nretry_max 2\ndns_servers %s\nsmtp_port %d\n"
            "listen mx [::1]:%d\n"
            "pool six\npool_address six ::1 ehlo=six.ferry.test\n"
            "route v6.test smtp:[::1]:%d tls=none\n"
            "route pool.test smtp:[::1]:%d tls=none\n") % (
                cls.dns.servers, cls.rx.port, cls.v6port, cls.rx.port, cls.rx.port))
        cls.f.start()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()
        cls.dns.stop()

    def delivered(self, rcpt):
        """The rx message for rcpt and ferryd's event=delivered line for it."""
        self.assertTrue(self.rx.wait(1, timeout=60, pred=lambda m: rcpt in m["rcpts"]),
                        "%s not delivered; log:\n%s" % (rcpt, self.f.log_text()[-3000:]))
        def lines():
            return [l for l in self.f.log_text().splitlines() if "event=delivered" in l and rcpt in l]
        self.assertTrue(wait_for(lines, timeout=30))
        msg = [m for m in self.rx.snapshot() if rcpt in m["rcpts"]][0]
        return msg, lines()[0]

    def test_route_to_ipv6_literal(self):
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            s.sendmail("a@src.test", ["route@v6.test"], MSG)
        msg, line = self.delivered("route@v6.test")
        self.assertEqual(msg["peer"], "::1")
        self.assertRegex(line, r"relay=\S*\[::1\]")

    def test_mx_host_with_only_an_aaaa_record(self):
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            s.sendmail("a@src.test", ["mx@v6mx.test"], MSG)
        msg, line = self.delivered("mx@v6mx.test")
        self.assertEqual(msg["peer"], "::1")
        self.assertRegex(line, r"relay=\"?mx6\.v6mx\.test\[::1\]")

    def test_pool_with_an_ipv6_address(self):
        key = self.f.tenant_add("sixco", "--pool", "six")
        self.f.submit("sixco", key, "news@sixco.test", ["pool@pool.test"])
        msg, line = self.delivered("pool@pool.test")
        self.assertEqual(msg["peer"], "::1")
        self.assertEqual(msg["helo"], "six.ferry.test")     # the pool's address was the source
        self.assertRegex(line, r"relay=\S*\[::1\]")

    def test_listen_on_ipv6(self):
        with smtplib.SMTP("::1", self.v6port, timeout=60) as s:
            s.sendmail("a@src.test", ["listen@v6.test"], MSG)
        self.delivered("listen@v6.test")
        self.assertRegex(self.f.log_text(), r"event=connect .*client=\[?::1\]?[ :]")


if __name__ == "__main__":
    ferrytest.main()
