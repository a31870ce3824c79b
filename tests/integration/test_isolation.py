"""Isolation between destination sites (issue 9): a site that holds its
connections open without ever answering DATA ties up only its own
connections, never more than destination_concurrency of them, while mail
to a healthy site on another port is all delivered meanwhile; the slow
site's other mail waits in its queue (no deferral for want of a slot).

Fails on the thread-per-delivery engine: its delivery threads wait (up to
a minute) for a slot of the slow site, defer, and only then reach the
healthy mail (head-of-line blocking); with more connections allowed than
there are threads, the slow site takes every thread."""
import smtplib
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for
from sinks import Sink

MSG = b"From: a@src.test\r\nSubject: isolation\r\n\r\nbody\r\n"


class IsolationTest(unittest.TestCase):
    def setUp(self):
        self.slow = Sink(name="slow.test")
        self.fast = Sink(name="fast.test")
        self.slow.hold_data()           # never answers DATA while the test runs
        self.f = None

    def tearDown(self):
        # the slow sink closes its sessions first, so ferryd is not left
        # waiting for DATA replies while it stops
        self.slow.stop()
        self.fast.stop()
        if self.f is not None:
            self.f.stop()

    def start(self, concurrency):
        self.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=(
            "retry_min 1\nretry_max 2\ndestination_concurrency %d\n"
            "route slow.test smtp:127.0.0.1:%d tls=none\n"
            "route fast.test smtp:127.0.0.1:%d tls=none\n") % (concurrency, self.slow.port, self.fast.port))
        self.f.start()

    def send(self, domain, n):
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            for i in range(n):
                s.sendmail("a@src.test", ["r%d@%s" % (i, domain)], MSG)

    def check_isolation(self, concurrency, nslow, nfast):
        self.start(concurrency)
        self.send("slow.test", nslow)
        # the slow site holds as many connections as it may, each parked at DATA
        self.assertTrue(wait_for(lambda: self.slow.parked >= concurrency, timeout=60),
                        "the slow site holds %d of %d sessions at DATA; log:\n%s"
                        % (self.slow.parked, concurrency, self.f.log_text()[-3000:]))
        self.send("fast.test", nfast)
        self.assertTrue(self.fast.wait(nfast, timeout=90),
                        "%d of %d messages reached the healthy site while the slow one held %d "
                        "connections; log:\n%s" % (self.fast.count(), nfast, self.slow.parked,
                                                   self.f.log_text()[-3000:]))
        # ... and all that while the slow connections were still held, and
        # before any slow message gave up waiting for one of them: the
        # slow site's backlog waits in its own queue (a delivery thread that
        # gave up its wait for a slot is what let the healthy mail through
        # on the thread-per-delivery engine)
        self.assertEqual(self.slow.count(), 0)
        self.assertEqual(self.slow.parked, concurrency)
        deferred = [l for l in self.f.log_text().splitlines()
                    if "event=deferred" in l and "@slow.test" in l]
        self.assertEqual(deferred[:3], [], "slow mail deferred before the healthy mail was through")
        # ferryd still has every slow message, and only those, queued
        self.assertTrue(wait_for(lambda: len(self.f.queue_files()) == nslow, timeout=60),
                        "%d files queued, want %d" % (len(self.f.queue_files()), nslow))
        self.assertNotIn("event=bounced", self.f.log_text())
        self.assertLessEqual(self.slow.max_active, concurrency)
        self.assertEqual(self.f.log_text().count("event=delivered"), nfast)

    def test_slow_site_at_its_connection_limit(self):
        self.check_isolation(concurrency=5, nslow=40, nfast=50)

    def test_slow_site_with_more_connections_than_delivery_threads(self):
        # destination_concurrency above delivery_threads' default (20): the
        # connections are no longer bounded by threads
        self.check_isolation(concurrency=50, nslow=60, nfast=50)


if __name__ == "__main__":
    ferrytest.main()
