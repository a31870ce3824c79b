"""Domains hosted on the same MX hosts are one destination site (issue 9).

Three domains whose MX records all name mx.hosting.test (as thousands of
domains name a large provider's MX hosts) share one egress path: its
connection limit holds across them, the queue summary shows one site with
the three domains behind it, and every message still arrives. The receiver
holds each DATA until the test releases it, so the connections that the
limit allows are all open at once when the summary is read. Keyed by
domain, as the thread-per-delivery engine was, the receiver would see
three times destination_concurrency connections.
"""
import smtplib
import subprocess
import unittest

import ferrytest
from dnsserver import DnsServer
from ferrytest import FERRYCTL, Ferryd, wait_for
from sinks import Sink

DOMAINS = ("shared1.test", "shared2.test", "shared3.test")
RECORDS = ["%s. 300 IN MX 10 mx.hosting.test." % d for d in DOMAINS] + \
          ["mx.hosting.test. 300 IN A 127.0.0.9"]
LIMIT = 2
PER = 3
MSG = b"Subject: shared site\r\n\r\nhello\r\n"


class SiteSharingTest(unittest.TestCase):
    def setUp(self):
        self.dns = DnsServer(RECORDS).start()
        self.rx = Sink("127.0.0.9")
        self.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=(
            "dns_servers %s\nsmtp_port %d\ndestination_concurrency %d\nsmtp_tls none\n"
            % (self.dns.servers, self.rx.port, LIMIT))).start()

    def tearDown(self):
        self.rx.stop()
        self.f.stop()
        self.dns.stop()

    def test_domains_on_one_mx_host_share_its_connections(self):
        self.rx.hold_data()
        with smtplib.SMTP("127.0.0.1", self.f.mx) as s:
            for d in DOMAINS:
                for i in range(PER):
                    s.sendmail("alice@example.test", ["r%d@%s" % (i, d)], MSG)
        self.assertTrue(wait_for(lambda: self.rx.parked == LIMIT, timeout=60), self.f.log_text()[-3000:])
        summary = subprocess.run([FERRYCTL, "-c", self.f.conf, "queue", "summary"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout
        site = [l for l in summary.splitlines() if l.startswith("mx.hosting.test ")]
        self.assertEqual(len(site), 1, summary)
        self.assertIn(" %d/%d " % (LIMIT, LIMIT), site[0], summary)
        for d in DOMAINS:
            self.assertIn(d, summary)
        self.rx.release()
        self.assertTrue(wait_for(lambda: self.f.queue_files() == [], timeout=60), self.f.log_text()[-3000:])
        self.assertEqual(sorted(r for m in self.rx.messages for r in m["rcpts"]),
                         sorted("r%d@%s" % (i, d) for d in DOMAINS for i in range(PER)))
        self.assertLessEqual(self.rx.max_active, LIMIT)


if __name__ == "__main__":
    ferrytest.main()
