"""Aliases of hosted addresses that fan out to many addresses elsewhere.

Hosted recipients are expanded into leaves before anything is delivered
(deliver_local.c): Maildir leaves are written at once, remote ones go out
with the message's other remote recipients. Two aliases with five remote
targets each and a local mailbox in one message grow the leaf array past
its first allocation; every target must receive the message under its own
address (a leaf that kept a pointer into the array before it grew sent a
freed address: AddressSanitizer stopped ferryd there), each exactly once,
and the local copy must land in its Maildir.
"""
import smtplib
import unittest

import ferrytest
from ferrytest import Ferryd, maildir_messages, wait_for
from sinks import Sink

MSG = b"Subject: fan-out\r\n\r\nto many\r\n"


class AliasFanoutTest(unittest.TestCase):
    def test_two_aliases_fan_out_to_ten_remote_addresses(self):
        rx = Sink()
        targets_a = ["f%d@remote.test" % i for i in range(5)]
        targets_b = ["g%d@remote.test" % i for i in range(5)]
        conf = ("alias a1@example.test %s\n" % " ".join(targets_a) +
                "alias a2@example.test %s alice@example.test\n" % " ".join(targets_b) +
                "route remote.test smtp:127.0.0.1:%d tls=none\n" % rx.port)
        f = Ferryd(deliver=True, extra=conf).start()
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                s.sendmail("bob@far.test", ["a1@example.test", "a2@example.test"], MSG)
            self.assertTrue(wait_for(lambda: f.queue_files() == [], timeout=60), f.log_text()[-3000:])
            got = sorted(r for m in rx.messages for r in m["rcpts"])
            self.assertEqual(got, sorted(targets_a + targets_b))
            self.assertEqual(len(maildir_messages(f, "alice@example.test")), 1)
            log = f.log_text()
            self.assertEqual(log.count("event=delivered"), 2, log[-3000:])   # a1 and a2
            self.assertNotIn("event=bounced", log)
        finally:
            f.stop()
            rx.stop()


if __name__ == "__main__":
    ferrytest.main()
