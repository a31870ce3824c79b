"""The outbound side against real peers on loopback: Postfix's smtp-source
and smtp-sink through ferryd, an LMTP receiver, a crash (kill -9) in the
middle of deliveries, and the client's behaviour toward peers that refuse
EHLO, lack STARTTLS when it is required, announce a small SIZE or lack
SMTPUTF8; delay warnings and success notices (RFC 3464 DSNs)."""
import os
import smtplib
import subprocess
import time
import unittest

import ferrytest
from ferrytest import Ferryd, free_port
from receiver import Receiver
from test_delivery import FAST, MSG, maildir_messages, parse_dsn, send, wait_for

EHLO_PLAIN = "250-rx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES"


class SmtpSinkTest(unittest.TestCase):
    def test_smtp_source_through_ferryd_to_smtp_sink(self):
        port = free_port()
        sink_out = open(os.path.join("/tmp", "ferry-sink-%d.log" % port), "w+")
        sink = subprocess.Popen(["smtp-sink", "-c", "-u", "nobody", "127.0.0.1:%d" % port, "100"],
                                stdout=sink_out, stderr=subprocess.STDOUT)
        f = Ferryd(deliver=True, extra="route * smtp:127.0.0.1:%d\n" % port,
                   relay_networks="127.0.0.0/8").start()
        try:
            ferrytest.wait_port(port)
            n = 300
            subprocess.run(["smtp-source", "-s", "10", "-m", str(n), "-l", "1024", "-f", "a@src.test",
                            "-t", "b@dst.test", "127.0.0.1:%d" % f.mx], check=True, timeout=120)

            def sink_count():
                sink_out.seek(0)
                counts = [int(x.split("=")[1]) for x in sink_out.read().replace("\r", "\n").split()
                          if x.startswith("mesg=")]
                return counts[-1] if counts else 0
            self.assertTrue(wait_for(lambda: sink_count() >= n and f.queue_files() == [], timeout=120),
                            "sink has %d of %d" % (sink_count(), n))
            self.assertEqual(f.log_text().count("event=delivered"), n)
        finally:
            f.stop()
            sink.kill()
            sink.wait()
            sink_out.close()
            os.unlink(sink_out.name)


class CrashDuringDeliveryTest(unittest.TestCase):
    def test_kill9_while_delivering_loses_no_recipient(self):
        rx = Receiver("127.0.0.2")

        def slow_dot(tx):
            time.sleep(0.02)
            return "250 2.0.0 queued"
        rx.set("dot", slow_dot)
        # four connections to the one site: at most four transactions in flight
        conf = "destination_concurrency 4\nroute * smtp:127.0.0.2:%d\n" % rx.port
        f = Ferryd(deliver=True, extra=FAST + conf, relay_networks="127.0.0.0/8")
        # accept everything first (delivery off), then deliver and crash midway
        with open(f.conf) as fh:
            base = fh.read()
        with open(f.conf, "w") as fh:
            fh.write(base + "delivery off\n")
        f.start()
        n = 150
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                for i in range(n):
                    s.sendmail("alice@example.test", ["r%d@remote.test" % i], MSG)
            f.stop()
            with open(f.conf, "w") as fh:
                fh.write(base)
            f.start()
            self.assertTrue(rx.wait(30, timeout=60))
            f.kill9()
            got_before = len(rx.messages)
            self.assertLess(got_before, n, "the crash came too late to test anything")
            f.start()
            self.assertTrue(wait_for(lambda: f.queue_files() == [], timeout=120))
            rcpts = [r for m in rx.messages for r in m["rcpts"]]
            self.assertEqual(set(rcpts), {"r%d@remote.test" % i for i in range(n)})
            duplicates = len(rcpts) - n
            print("\ncrash during delivery: %d delivered before kill -9, %d duplicates after restart"
                  % (got_before, duplicates))
            # at most the transactions in flight when the process died
            self.assertLessEqual(duplicates, 4)
        finally:
            f.stop()
            rx.stop()


class LmtpTest(unittest.TestCase):
    def test_lmtp_reply_per_recipient(self):
        rx = Receiver("127.0.0.2", lmtp=True)
        replies = iter(["250 2.0.0 delivered", "452 4.2.2 mailbox full"])
        rx.set("dot", lambda tx: next(replies, "250 2.0.0 delivered"))
        f = Ferryd(deliver=True, extra=FAST + "route example.test lmtp:127.0.0.2:%d\n" % rx.port,
                   mailboxes=("alice@example.test", "bob@example.test")).start()
        try:
            send(f, ["alice@example.test", "bob@example.test"], sender="x@far.test")
            self.assertTrue(wait_for(lambda: "event=deferred" in f.log_text()))
            self.assertIn("LHLO", " ".join(rx.commands))
            log = f.log_text()
            self.assertRegex(log, r"event=delivered .*to=\"?alice@example.test")
            self.assertRegex(log, r"event=deferred .*to=\"?bob@example.test.*4.2.2")
            # the retry only carries the deferred recipient
            self.assertTrue(rx.wait(2, timeout=20))
            self.assertEqual(rx.messages[1]["rcpts"], ["bob@example.test"])
            self.assertTrue(wait_for(lambda: f.queue_files() == []))
        finally:
            f.stop()
            rx.stop()

    def test_lmtp_connection_lost_between_replies_keeps_delivered(self):
        # alice's 250 arrives, then the server dies before bob's reply: alice
        # is delivered and must not be sent again with bob at the retry
        rx = Receiver("127.0.0.2", lmtp=True)
        replies = iter(["250 2.0.0 delivered", "DROP"])
        rx.set("dot", lambda tx: next(replies, "250 2.0.0 delivered"))
        f = Ferryd(deliver=True, extra=FAST + "route example.test lmtp:127.0.0.2:%d\n" % rx.port,
                   mailboxes=("alice@example.test", "bob@example.test")).start()
        try:
            send(f, ["alice@example.test", "bob@example.test"], sender="x@far.test")
            self.assertTrue(wait_for(lambda: "event=deferred" in f.log_text()), f.log_text())
            log = f.log_text()
            self.assertRegex(log, r"event=delivered .*to=\"?alice@example.test")
            self.assertNotRegex(log, r"event=deferred .*to=\"?alice@example.test")
            self.assertTrue(rx.wait(2, timeout=20))
            self.assertEqual(rx.messages[1]["rcpts"], ["bob@example.test"])
            self.assertTrue(wait_for(lambda: f.queue_files() == []))
        finally:
            f.stop()
            rx.stop()


class SourceAddressTest(unittest.TestCase):
    def test_listener_route_and_global_source(self):
        rx = Receiver("127.0.0.2")
        rx2 = Receiver("127.0.0.3")
        f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=FAST +
                   "outbound_source 127.0.0.4\nroute * smtp:127.0.0.2:%d\n"
                   "route pinned.test smtp:127.0.0.3:%d source=127.0.0.6\n" % (rx.port, rx2.port))
        # a second mx listener whose mail leaves from 127.0.0.5
        second = free_port()
        with open(f.conf, "a") as fh:
            fh.write("listen mx 127.0.0.1:%d source=127.0.0.5\n" % second)
        f.ports["mx2"] = second
        f.start()
        try:
            send(f, ["a@remote.test"])                      # global outbound_source
            self.assertTrue(rx.wait(1))
            send(f, ["b@remote.test"], port=second)         # the listener's source
            self.assertTrue(rx.wait(2))
            send(f, ["c@pinned.test"], port=second)         # a route's source= wins
            self.assertTrue(rx2.wait(1))
            peers = {m["rcpts"][0]: m["peer"] for m in rx.messages + rx2.messages}
            self.assertEqual(peers, {"a@remote.test": "127.0.0.4", "b@remote.test": "127.0.0.5",
                                     "c@pinned.test": "127.0.0.6"})
        finally:
            f.stop()
            rx.stop()
            rx2.stop()


class ShapingTest(unittest.TestCase):
    def test_destination_concurrency_and_messages_per_connection(self):
        rx = Receiver("127.0.0.2")

        def slow_dot(tx):
            time.sleep(0.05)
            return "250 2.0.0 queued"
        rx.set("dot", slow_dot)
        f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=FAST +
                   "delivery_threads 8\ndestination_concurrency 2\ndestination_msgs_per_conn 3\n"
                   "route * smtp:127.0.0.2:%d\n" % rx.port).start()
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                for i in range(24):
                    s.sendmail("alice@example.test", ["r%d@remote.test" % i], MSG)
            self.assertTrue(rx.wait(24, timeout=60))
            self.assertTrue(wait_for(lambda: f.queue_files() == []))
            self.assertLessEqual(rx.max_active, 2)
            self.assertGreaterEqual(rx.connections, 8)        # 24 messages, at most 3 per connection
        finally:
            f.stop()
            rx.stop()


class MaildirFailureTest(unittest.TestCase):
    def test_unwritable_maildir_root_defers(self):
        f = Ferryd(deliver=True, extra=FAST + "maildir_root /nonexistent-ferry-test/x/mail\n").start()
        try:
            send(f, ["alice@example.test"], sender="x@far.test")
            self.assertTrue(wait_for(lambda: f.log_text().count("event=deferred") >= 2))
            self.assertIn("nonexistent-ferry-test", f.log_text())
            self.assertEqual(len(f.queue_files()), 1)
            self.assertNotIn("event=bounced", f.log_text())
        finally:
            f.stop()


class CatchAllTest(unittest.TestCase):
    def test_catch_all_takes_unknown_users_only(self):
        f = Ferryd(deliver=True, mailboxes=("alice@example.test", "bob@example.test"),
                   extra="alias @example.test bob@example.test\nalias list@example.test alice@example.test list@example.test\n").start()
        try:
            send(f, ["nobody@example.test", "alice@example.test", "list@example.test"], sender="x@far.test")
            self.assertTrue(wait_for(lambda: f.queue_files() == []))
            self.assertEqual(len(maildir_messages(f, "bob@example.test")), 1)     # nobody -> catch-all
            self.assertEqual(len(maildir_messages(f, "alice@example.test")), 2)   # direct + via list
            self.assertEqual(len(maildir_messages(f, "list@example.test")), 1)    # an alias may keep a copy
            with smtplib.SMTP("127.0.0.1", f.mx) as s:    # a domain not hosted is still refused
                s.ehlo()
                self.assertEqual(s.rcpt("x@other.test")[0] if s.mail("a@far.test")[0] == 250 else 0, 554)
        finally:
            f.stop()


class PeerQuirksTest(unittest.TestCase):
    def setUp(self):
        self.rx = Receiver("127.0.0.2")

    def tearDown(self):
        self.f.stop()
        self.rx.stop()

    def start(self, route_opts="", extra=""):
        self.f = Ferryd(deliver=True, extra=FAST + extra + "route * smtp:127.0.0.2:%d %s\n"
                        % (self.rx.port, route_opts), relay_networks="127.0.0.0/8").start()

    def test_stray_reply_never_pairs_with_the_next_transaction(self):
        # a peer that answers the final dot twice: on the reused connection
        # the extra reply would be taken for MAIL's, RCPT's for DATA's, and
        # the next message counted delivered without its content being sent
        self.rx.set("dot", "250 2.0.0 queued\r\n250 2.0.0 stray")
        self.start(extra="delivery_threads 1\n")     # one thread: its cached connection is reused
        send(self.f, ["a@remote.test"])
        self.assertTrue(self.rx.wait(1))
        send(self.f, ["b@remote.test"])
        self.assertTrue(self.rx.wait(2), self.f.log_text())
        self.assertEqual([m["rcpts"] for m in self.rx.messages], [["a@remote.test"], ["b@remote.test"]])
        self.assertTrue(wait_for(lambda: self.f.queue_files() == []))

    def test_helo_fallback(self):
        self.rx.set("ehlo", "502 5.5.1 EHLO not implemented")
        self.start()
        send(self.f, ["x@remote.test"])
        self.assertTrue(self.rx.wait(1))
        self.assertTrue(any(c.startswith("HELO ") for c in self.rx.commands))
        self.assertTrue(wait_for(lambda: self.f.queue_files() == []))

    def test_required_tls_not_offered_defers(self):
        self.start("tls=require")
        send(self.f, ["x@remote.test"])
        self.assertTrue(wait_for(lambda: "event=deferred" in self.f.log_text()))
        self.assertIn("TLS is required", self.f.log_text())
        self.assertEqual(self.rx.messages, [])
        self.assertEqual(len(self.f.queue_files()), 1)

    def test_required_tls_refused_defers(self):
        # STARTTLS is offered but answered 502: a local policy failure, so the
        # recipient waits (4.7.4) and is never bounced on the peer's 5xx
        self.rx.set("ehlo", "250-rx.test\r\n250-PIPELINING\r\n250 STARTTLS")
        self.start("tls=require")
        send(self.f, ["x@remote.test"])
        self.assertTrue(wait_for(lambda: "event=deferred" in self.f.log_text()), self.f.log_text())
        self.assertIn("refused STARTTLS", self.f.log_text())
        self.assertNotIn("event=bounced", self.f.log_text())
        self.assertIn("STARTTLS", self.rx.commands)
        self.assertEqual(self.rx.messages, [])
        self.assertEqual(len(self.f.queue_files()), 1)

    def test_delay_warning_without_queue_lifetime(self):
        # max_queue_lifetime 0 retries without end: no Will-Retry-Until date
        self.rx.set("rcpt", "451 4.2.0 greylisted")
        self.start(extra="delay_warning 2\nmax_queue_lifetime 0\n")
        send(self.f, ["x@remote.test"])
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(fields["action"], ["delayed"])
        self.assertNotIn("will-retry-until", fields)
        with open(maildir_messages(self.f, "alice@example.test")[0], "rb") as fh:
            self.assertNotIn(b"will be retried until", fh.read())

    def test_peer_size_limit_bounces_5_3_4(self):
        self.rx.set("ehlo", "250-rx.test\r\n250-PIPELINING\r\n250 SIZE 100")
        self.start()
        send(self.f, ["x@remote.test"], body=MSG + b"y" * 200 + b"\r\n")
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(fields["status"], ["5.3.4"])
        self.assertFalse(any(c.startswith("MAIL") for c in self.rx.commands))

    def test_smtputf8_needed_but_not_offered_bounces_5_6_7(self):
        self.rx.set("ehlo", EHLO_PLAIN)
        self.start()
        with smtplib.SMTP("127.0.0.1", self.f.mx) as s:
            s.sendmail("alice@example.test", ["j\u00fcrgen@remote.test"], MSG, mail_options=["SMTPUTF8"])
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(fields["status"], ["5.6.7"])
        self.assertEqual(self.rx.messages, [])

    def test_delay_warning(self):
        self.rx.set("rcpt", "451 4.2.0 greylisted")
        self.start(extra="delay_warning 2\n")
        send(self.f, ["x@remote.test"])
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(fields["action"], ["delayed"])
        self.assertTrue(fields["status"][0].startswith("4."))
        self.assertIn("will-retry-until", fields)
        time.sleep(3)   # still one warning only, also after a restart
        self.f.stop()
        self.f.start()
        attempts = self.f.log_text().count("event=deferred")
        self.assertTrue(wait_for(lambda: self.f.log_text().count("event=deferred") >= attempts + 2))
        self.assertEqual(len(maildir_messages(self.f, "alice@example.test")), 1)
        self.assertEqual(len(self.f.queue_files()), 1)

    def test_notify_success_local_delivery(self):
        self.start()
        with smtplib.SMTP("127.0.0.1", self.f.mx) as s:
            s.ehlo()
            s.sendmail("alice@example.test", ["alice@example.test"], MSG,
                       rcpt_options=["NOTIFY=SUCCESS"])
        self.assertTrue(wait_for(lambda: len(maildir_messages(self.f, "alice@example.test")) == 2))
        dsns = []
        for p in maildir_messages(self.f, "alice@example.test"):
            with open(p, "rb") as fh:
                if b"multipart/report" in fh.read():
                    dsns.append(p)
        self.assertEqual(len(dsns), 1)
        msg, fields = parse_dsn(dsns[0])
        self.assertEqual(fields["action"], ["delivered"])
        self.assertEqual(fields["status"], ["2.0.0"])

    def notify_success_relay(self, ehlo=None):
        if ehlo:
            self.rx.set("ehlo", ehlo)
        self.start()
        with smtplib.SMTP("127.0.0.1", self.f.mx) as s:
            s.ehlo()
            s.sendmail("alice@example.test", ["x@remote.test"], MSG,
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@remote.test"])
        self.assertTrue(self.rx.wait(1))
        self.assertTrue(wait_for(lambda: self.f.queue_files() == []))

    def test_notify_success_passed_to_dsn_peer(self):
        self.notify_success_relay()
        rcpt = [c for c in self.rx.commands if c.startswith("RCPT")][0]
        self.assertIn("NOTIFY=SUCCESS,FAILURE", rcpt)
        self.assertIn("ORCPT=rfc822;x@remote.test", rcpt)
        time.sleep(0.5)
        self.assertEqual(maildir_messages(self.f, "alice@example.test"), [])

    def test_notify_success_relayed_to_peer_without_dsn(self):
        self.notify_success_relay(EHLO_PLAIN)
        self.assertTrue(wait_for(lambda: maildir_messages(self.f, "alice@example.test")))
        msg, fields = parse_dsn(maildir_messages(self.f, "alice@example.test")[0])
        self.assertEqual(fields["action"], ["relayed"])
        self.assertEqual(fields["original-recipient"], ["rfc822; x@remote.test"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
