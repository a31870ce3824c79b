"""Delivery end to end: ferryd relays to real receivers on loopback (a
scripted Python receiver, smtp-sink, a second ferryd), retries deferrals on
a fast schedule, bounces with RFC 3464 DSNs that Python's email package
parses, delivers hosted mail into Maildirs, and is steered with ferryctl."""
import email
import email.policy
import os
import smtplib
import subprocess
import time
import unittest

import ferrytest
from ferrytest import Ferryd, FERRYCTL, maildir_messages, wait_for
from receiver import Receiver

FAST = "retry_min 1\nretry_max 2\n"
MSG = b"From: alice@example.test\r\nTo: x@remote.test\r\nSubject: hello\r\n\r\nbody line\r\n.dot line\r\n"


def parse_dsn(path):
    with open(path, "rb") as fh:
        msg = email.message_from_bytes(fh.read(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    status = parts[1]
    fields = {}
    if status.get_content_type() == "message/global-delivery-status":
        # RFC 6533: UTF-8 fields; the email package leaves it as text
        raw = status.as_bytes(policy=email.policy.SMTPUTF8).replace(b"\r\n", b"\n")
        text = raw.split(b"\n\n", 1)[1].decode("utf-8")
        for line in text.replace("\r\n", "\n").split("\n"):
            if ":" in line and not line.startswith((" ", "\t")):
                k, v = line.split(":", 1)
                fields.setdefault(k.strip().lower(), []).append(v.strip())
        return msg, fields
    assert status.get_content_type() == "message/delivery-status"
    # per-recipient fields live in the second and later header blocks
    for block in status.get_payload():
        for k, v in block.items():
            fields.setdefault(k.lower(), []).append(str(v))
    return msg, fields


def send(f, rcpts, sender="alice@example.test", body=MSG, port=None):
    with smtplib.SMTP("127.0.0.1", port or f.mx) as s:
        s.sendmail(sender, rcpts, body)


class SmarthostTest(unittest.TestCase):
    def setUp(self):
        self.rx = Receiver("127.0.0.2")
        self.f = Ferryd(deliver=True, extra=FAST + "route * smtp:127.0.0.2:%d\nmax_queue_lifetime 1h\n" % self.rx.port,
                        relay_networks="127.0.0.0/8").start()

    def tearDown(self):
        self.f.stop()
        self.rx.stop()

    def queue_empty(self):
        return wait_for(lambda: self.f.queue_files() == [])

    def test_relay_delivers_and_empties_queue(self):
        send(self.f, ["x@remote.test", "y@remote.test"])
        self.assertTrue(self.rx.wait(1))
        m = self.rx.messages[0]
        self.assertEqual(m["sender"], "alice@example.test")
        self.assertEqual(sorted(m["rcpts"]), ["x@remote.test", "y@remote.test"])
        self.assertTrue(m["data"].endswith(MSG), m["data"])   # dot-stuffing undone by the receiver
        self.assertTrue(m["data"].startswith(b"Received: from "))
        self.assertTrue(self.queue_empty())
        self.assertIn("event=delivered", self.f.log_text())

    def test_deferral_then_retry(self):
        self.rx.set("rcpt", "451 4.7.1 try again later")
        send(self.f, ["x@remote.test"])
        self.assertTrue(wait_for(lambda: "event=deferred" in self.f.log_text()))
        self.assertEqual(len(self.rx.messages), 0)
        self.rx.clear()
        self.assertTrue(self.rx.wait(1, timeout=20))
        self.assertTrue(self.queue_empty())

    def test_permanent_failure_bounces_to_sender_maildir(self):
        self.rx.set("rcpt", "550 5.1.1 <x@remote.test>: no such user")
        send(self.f, ["x@remote.test"])
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(fields["action"], ["failed"])
        self.assertEqual(fields["status"], ["5.1.1"])
        self.assertIn("no such user", fields["diagnostic-code"][0])
        self.assertTrue(self.queue_empty())

    def test_data_refusal_applies_to_all(self):
        self.rx.set("dot", "554 5.6.0 content rejected")
        send(self.f, ["x@remote.test", "y@remote.test"])
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(sorted(fields["final-recipient"]), ["rfc822; x@remote.test", "rfc822; y@remote.test"])
        self.assertEqual(fields["action"], ["failed", "failed"])

    def test_drop_mid_data_and_malformed_reply_defer(self):
        self.rx.set("middata", "DROP")
        send(self.f, ["x@remote.test"], body=MSG + b"x" * 500 + b"\r\n")
        self.assertTrue(wait_for(lambda: "event=deferred" in self.f.log_text()))
        self.rx.clear()
        self.rx.set("mail", "250-ok\r\n251 mixed codes")
        self.assertTrue(wait_for(lambda: self.f.log_text().count("event=deferred") >= 2))
        self.rx.clear()
        self.assertTrue(self.rx.wait(1, timeout=20))
        self.assertTrue(self.queue_empty())

    def test_null_sender_failure_goes_to_postmaster_once(self):
        self.rx.set("rcpt", "550 5.1.1 no")
        send(self.f, ["x@remote.test"], sender="")
        # postmaster@<hostname> is not hosted here, so the notice itself goes
        # to the smarthost, fails, and is only logged: no loop.
        self.assertTrue(wait_for(lambda: "event=dsn-dropped" in self.f.log_text()))
        self.assertTrue(self.queue_empty())


class MultiDomainTest(unittest.TestCase):
    def test_each_domain_finishes_independently(self):
        rx = [Receiver("127.0.0.%d" % i) for i in (2, 3, 4)]
        routes = "".join("route d%d.test smtp:127.0.0.%d:%d\n" % (i, i + 2, r.port)
                         for i, r in enumerate(rx))
        f = Ferryd(deliver=True, extra=FAST + routes, relay_networks="127.0.0.0/8").start()
        try:
            rx[1].set("rcpt", "451 4.3.0 busy")
            send(f, ["a@d0.test", "b@d1.test", "c@d2.test"])
            self.assertTrue(rx[0].wait(1) and rx[2].wait(1))
            time.sleep(2.5)   # at least one retry of d1 while it defers
            rx[1].clear()
            self.assertTrue(rx[1].wait(1, timeout=20))
            self.assertTrue(wait_for(lambda: f.queue_files() == []))
            # d0 and d2 were never sent the message again
            self.assertEqual(len(rx[0].messages), 1)
            self.assertEqual(len(rx[2].messages), 1)
        finally:
            f.stop()
            for r in rx:
                r.stop()


class ExpiryTest(unittest.TestCase):
    def test_expiry_bounces_with_4_4_7(self):
        rx = Receiver("127.0.0.2")
        rx.set("rcpt", "451 4.4.1 not now")
        f = Ferryd(deliver=True, extra=FAST + "max_queue_lifetime 3\nroute * smtp:127.0.0.2:%d\n" % rx.port,
                   relay_networks="127.0.0.0/8").start()
        try:
            send(f, ["x@remote.test"])
            self.assertTrue(wait_for(lambda: maildir_messages(f, "alice@example.test"), timeout=30))
            msg, fields = parse_dsn(maildir_messages(f, "alice@example.test")[0])
            self.assertEqual(fields["action"], ["failed"])
            self.assertEqual(fields["status"], ["4.4.7"])
            self.assertIn("expired", fields["diagnostic-code"][0])
        finally:
            f.stop()
            rx.stop()


class MaildirTest(unittest.TestCase):
    def test_local_delivery_byte_for_byte(self):
        f = Ferryd(deliver=True, extra="alias info@example.test alice@example.test\n").start()
        try:
            send(f, ["alice@example.test", "info@example.test"], sender="bob@far.test")
            self.assertTrue(wait_for(lambda: len(maildir_messages(f, "alice@example.test")) == 2))
            for p in maildir_messages(f, "alice@example.test"):
                with open(p, "rb") as fh:
                    data = fh.read()
                self.assertTrue(data.startswith(b"Return-Path: <bob@far.test>\n"))
                self.assertTrue(data.endswith(MSG.replace(b"\r\n", b"\n")), data)
                self.assertNotIn(b"\r", data)
            self.assertTrue(wait_for(lambda: f.queue_files() == []))
        finally:
            f.stop()


class QueueControlTest(unittest.TestCase):
    def ctl(self, f, *args):
        return subprocess.run([FERRYCTL, "-c", f.conf, "queue"] + list(args), capture_output=True,
                              text=True, timeout=30)

    def test_list_hold_release_flush_delete(self):
        rx = Receiver("127.0.0.2")
        rx.set("rcpt", "451 4.7.1 later")
        f = Ferryd(deliver=True, extra="retry_min 1h\nroute * smtp:127.0.0.2:%d\n" % rx.port,
                   relay_networks="127.0.0.0/8").start()
        try:
            send(f, ["x@remote.test"])
            send(f, ["y@remote.test"])
            self.assertTrue(wait_for(lambda: f.log_text().count("event=deferred") >= 2))
            r = self.ctl(f, "list")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("alice@example.test", r.stdout)
            self.assertIn("x@remote.test", r.stdout)
            self.assertIn("451 4.7.1 later", r.stdout)
            ids = [os.path.basename(p) for p in f.queue_files()]
            self.assertEqual(len(ids), 2)
            self.assertEqual(self.ctl(f, "hold", ids[0]).returncode, 0)
            self.assertTrue(os.path.exists(os.path.join(f.spool, "hold", ids[0])))
            r = self.ctl(f, "show", ids[0])
            self.assertIn("hold", r.stdout)
            self.assertRegex(r.stdout, r"client: +127\.0\.0\.1")       # the envelope as received
            self.assertIn("attempts:    1", r.stdout)
            self.assertIn("451 4.7.1 later", r.stdout)
            self.assertEqual(self.ctl(f, "delete", ids[1]).returncode, 0)
            self.assertFalse(os.path.exists(os.path.join(f.spool, "queue", ids[1])))
            rx.clear()
            self.assertEqual(self.ctl(f, "release", ids[0]).returncode, 0)
            self.assertTrue(rx.wait(1, timeout=20))   # released messages go now
            self.assertEqual(rx.messages[0]["rcpts"], ["x@remote.test"])
            self.assertNotEqual(self.ctl(f, "hold", "0000000000000000").returncode, 0)
            # flush: a deferred message is retried at once despite retry_min 1h
            rx.set("rcpt", "451 4.7.1 later")
            send(f, ["z@remote.test"])
            self.assertTrue(wait_for(lambda: f.log_text().count("event=deferred") >= 3))
            rx.clear()
            self.assertEqual(self.ctl(f, "flush").returncode, 0)
            self.assertTrue(rx.wait(2, timeout=20))
        finally:
            f.stop()
            rx.stop()


class SendmailTest(unittest.TestCase):
    def test_sendmail_t(self):
        f = Ferryd(deliver=True).start()
        try:
            msg = b"To: alice@example.test\nCc: Someone <postmaster@example.test>\nBcc: alice@example.test\n" \
                  b"Subject: cron\n\noutput\n"
            r = subprocess.run([os.path.join(ferrytest.BIN, "ferry-sendmail"), "-C", f.conf, "-t", "-i",
                                "-f", "cron@example.test"], input=msg, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(wait_for(lambda: maildir_messages(f, "alice@example.test")))
            with open(maildir_messages(f, "alice@example.test")[0], "rb") as fh:
                data = fh.read()
            self.assertIn(b"Subject: cron", data)
            self.assertNotIn(b"Bcc:", data)
        finally:
            f.stop()


class SecondFerrydTest(unittest.TestCase):
    def test_relay_to_another_ferryd(self):
        inner = Ferryd(deliver=True, domains=("inner.test",), mailboxes=("bob@inner.test",)).start()
        outer = Ferryd(deliver=True, extra=FAST + "route inner.test smtp:127.0.0.1:%d\n" % inner.mx,
                       relay_networks="127.0.0.0/8").start()
        try:
            send(outer, ["bob@inner.test"])
            self.assertTrue(wait_for(lambda: maildir_messages(inner, "bob@inner.test")))
            self.assertTrue(wait_for(lambda: outer.queue_files() == []))
            self.assertIn("tls=yes", inner.log_text())    # opportunistic STARTTLS was used
        finally:
            outer.stop()
            inner.stop()


if __name__ == "__main__":
    ferrytest.main()
