"""Delivery for tenants, the failure paths: with VERP (one transaction per
recipient) a 4xx for one recipient leaves the others delivered and only
that one queued; ferryd killed between two of those transactions sends
again only the recipients not yet delivered; `ferryctl tenant resume`
releases the mail held for the suspension, not a message the operator held
with `queue hold` (also across a restart, and a resume while ferryd is down
takes effect at its start); a From: in a subdomain is signed with the parent
domain's keys; a cached connection without TLS is not reused for a route
that requires TLS."""
import os
import re
import smtplib
import threading
import unittest

import dkim

from ferrytest import Ferryd, tls_context, wait_for
from receiver import Receiver


class DeliveryReviewTest(unittest.TestCase):
    def setUp(self):
        self.rx = Receiver("127.0.0.1")
        self.f = Ferryd(deliver=True, extra="route * smtp:127.0.0.1:%d\nretry_min 1\nretry_max 2\n"
                        % self.rx.port)
        self.f.start()
        self.keys = {}
        for name, bounce in (("vco", "bounce.vco.test"), ("hco", None), ("sco", None)):
            args = ["tenant", "add", name] + (["--bounce-domain", bounce] if bounce else [])
            self.f.ctl(*args)
            self.keys[name] = self.f.ctl("key", "create", name).stdout.splitlines()[0].strip()
            self.f.ctl("domain", "add", name, name + ".test", *(["--subdomains"] if name == "sco" else []))

    def tearDown(self):
        self.f.stop()
        self.rx.stop()

    def send(self, tenant, rcpts, sender=None):
        sender = sender or "news@%s.test" % tenant
        msg = ("From: %s\r\nTo: %s\r\nSubject: t\r\n\r\nhello\r\n" % (sender, rcpts[0])).encode()
        with smtplib.SMTP("127.0.0.1", self.f.submission) as s:
            s.starttls(context=tls_context())
            s.login(tenant, self.keys[tenant])
            s.sendmail(sender, rcpts, msg)

    def got(self, rcpt):
        with self.rx.lock:
            return [m for m in self.rx.messages if rcpt in m["rcpts"]]

    def queue_ids(self, rcpt):
        """IDs of the queued messages (held ones end in '!') that still list rcpt."""
        out, ids, cur = self.f.ctl("queue", "list").stdout, [], None
        for line in out.splitlines():
            m = re.match(r"^([0-9A-F]{16}[!*]?)\s", line)
            if m:
                cur = m.group(1)
            elif rcpt in line and cur:
                ids.append(cur)
        return ids

    def test_dkim_subdomain_signed_with_parent_domain_keys(self):
        """From: in a subdomain of a domain added with --subdomains: the
        parent's keys sign, d= is the parent (relaxed alignment)."""
        txt = {}
        for line in self.f.ctl("domain", "dns", "sco.test").stdout.splitlines():
            m = re.match(r"^(\S+?)\.?\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+(.*)$", line.strip())
            if m:
                txt[m.group(1).lower()] = "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
        self.send("sco", ["sub@remote.test"], sender="news@mail.sco.test")
        self.assertTrue(wait_for(lambda: self.got("sub@remote.test")), self.f.log_text()[-2000:])
        data = self.got("sub@remote.test")[0]["data"]
        sigs = [l for l in data.split(b"\r\n") if l.startswith(b"DKIM-Signature:")]
        self.assertGreaterEqual(len(sigs), 1, data[:600])
        self.assertEqual(set(re.findall(rb"\bd=([^;\s]+)", b"".join(sigs))), {b"sco.test"})
        d = dkim.DKIM(data)
        for idx in range(len(sigs)):
            self.assertTrue(d.verify(idx=idx, dnsfunc=lambda name, timeout=5: txt.get(
                name.decode().rstrip(".").lower(), b"")), "signature %d" % idx)

    def test_verp_one_recipient_deferred_others_delivered(self):
        self.rx.set("rcpt", lambda cmd: "451 4.3.0 later" if "part-1@" in cmd else "250 2.1.5 ok")
        self.send("vco", ["part-%d@remote.test" % i for i in range(3)])
        self.assertTrue(wait_for(lambda: self.got("part-0@remote.test") and self.got("part-2@remote.test")))
        self.assertTrue(wait_for(lambda: re.search(r"event=deferred .*part-1@", self.f.log_text())))
        self.assertEqual(len(self.got("part-1@remote.test")), 0)
        self.assertEqual(len(self.queue_ids("part-1@")), 1)
        self.assertEqual(self.queue_ids("part-0@") + self.queue_ids("part-2@"), [])
        self.assertNotIn("event=bounced", self.f.log_text())

    def test_verp_alias_target_carries_the_envelope_recipients_index(self):
        """A hosted alias forwarding out: the return path names the envelope
        recipient the target stands for (index 1 here), so a bounce of the
        target is credited to the address the tenant sent to."""
        self.f.stop()
        with open(self.f.conf, "a") as fh:
            fh.write("alias fwd@example.test far@remote.test\n")
        self.f.start()
        self.send("vco", ["first@remote.test", "fwd@example.test"])
        self.assertTrue(wait_for(lambda: self.got("far@remote.test") and self.got("first@remote.test")),
                        self.f.log_text()[-2000:])
        rp = self.got("far@remote.test")[0]["sender"]
        self.assertRegex(rp, r"^b\+\d+-[0-9a-f]{16}-1-[a-z2-7]{16}-[a-z2-7]{6}@bounce\.vco\.test$")
        self.assertRegex(self.got("first@remote.test")[0]["sender"], r"^b\+\d+-[0-9a-f]{16}-0-")

    def test_verp_crash_between_transactions_resends_only_undelivered(self):
        entered, release = threading.Event(), threading.Event()

        def rcpt(cmd):
            if "crash-1@" in cmd:
                entered.set()
                release.wait(30)
                return "451 4.3.0 later"
            return "250 2.1.5 ok"
        self.rx.set("rcpt", rcpt)
        self.send("vco", ["crash-%d@remote.test" % i for i in range(3)])
        self.assertTrue(entered.wait(30), self.f.log_text()[-2000:])
        self.assertEqual(len(self.got("crash-0@remote.test")), 1)
        self.f.kill9()            # between the first transaction and the second's end
        self.rx.clear()
        release.set()
        self.f.start()
        self.assertTrue(wait_for(lambda: self.got("crash-1@remote.test") and self.got("crash-2@remote.test")),
                        self.f.log_text()[-2000:])
        self.assertTrue(wait_for(lambda: "event=removed" in self.f.log_text()[self.f.log_offset:]))
        self.assertEqual(len(self.got("crash-0@remote.test")), 1, "delivered recipient sent again")
        self.assertEqual(len(self.got("crash-1@remote.test")), 1)
        self.assertEqual(len(self.got("crash-2@remote.test")), 1)

    def hold_both(self):
        """One message of hco held by the operator, one for the suspension;
        returns the operator's message's id."""
        self.rx.set("rcpt", lambda cmd: "450 4.2.0 later" if "-later@" in cmd else "250 2.1.5 ok")
        self.send("hco", ["op-later@remote.test"])
        self.send("hco", ["susp-later@remote.test"])
        self.assertTrue(wait_for(lambda: len(re.findall(r"event=deferred .*-later@", self.f.log_text())) >= 2))
        op = self.queue_ids("op-later@")[0].rstrip("!*")
        self.f.ctl("queue", "hold", op)
        self.assertTrue(wait_for(lambda: self.queue_ids("op-later@") == [op + "!"]))
        self.f.ctl("tenant", "suspend", "hco")
        self.f.ctl("queue", "flush")
        self.assertTrue(wait_for(lambda: "reason=\"tenant suspended\"" in self.f.log_text()),
                        self.f.log_text()[-2000:])
        self.rx.clear()
        return op

    def test_resume_releases_suspension_holds_not_operator_holds(self):
        op = self.hold_both()
        self.f.ctl("tenant", "resume", "hco")
        self.assertTrue(wait_for(lambda: self.got("susp-later@remote.test")), self.f.log_text()[-2000:])
        self.assertEqual(self.queue_ids("op-later@"), [op + "!"], "operator's hold released by resume")
        self.assertEqual(os.listdir(os.path.join(self.f.spool, "hold")), [op])
        self.assertEqual(self.got("op-later@remote.test"), [])

    def test_hold_survives_restart_resume_while_stopped_releases_at_start(self):
        op = self.hold_both()
        self.f.stop()
        self.f.start()           # still suspended: held again, not sent
        self.assertTrue(wait_for(lambda: "reason=\"tenant suspended\"" in self.f.log_text()[self.f.log_offset:]),
                        self.f.log_text()[-2000:])
        self.assertEqual(self.got("susp-later@remote.test"), [])
        self.assertEqual(len(os.listdir(os.path.join(self.f.spool, "hold"))), 2)
        self.f.stop()
        self.f.ctl("tenant", "resume", "hco", check=False)    # ferryd is down: a note
        self.f.start()
        self.assertTrue(wait_for(lambda: self.got("susp-later@remote.test")), self.f.log_text()[-2000:])
        self.assertEqual(self.queue_ids("op-later@"), [op + "!"], "operator's hold released at start")
        self.assertEqual(os.listdir(os.path.join(self.f.spool, "hold")), [op])

    def test_operator_hold_of_released_message_survives_restart(self):
        """A message released from a suspension hold and held by the
        operator before its next attempt stays held across a restart."""
        self.hold_both()
        self.f.stop()
        self.f.ctl("tenant", "resume", "hco", check=False)
        with open(self.f.conf, "a") as c:
            c.write("delivery off\n")          # released at start, not attempted
        self.f.start()
        susp = self.queue_ids("susp-later@")
        self.assertEqual(len(susp), 1)
        self.assertFalse(susp[0].endswith("!"))
        self.f.ctl("queue", "hold", susp[0].rstrip("*"))
        self.f.stop()
        self.f.start()
        self.assertEqual(self.queue_ids("susp-later@"), [susp[0].rstrip("*") + "!"])

    def test_release_tenant_skips_corrupt_hold_files(self):
        """A held file damaged while ferryd runs (at start such files go to
        corrupt/) is skipped by release-tenant, which answers."""
        op = self.hold_both()
        hold = os.path.join(self.f.spool, "hold")
        susp = [n for n in os.listdir(hold) if n != op][0]
        with open(os.path.join(hold, susp), "r+b") as fh:
            fh.truncate(9)
        out = self.f.ctl("tenant", "resume", "hco")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIsNone(self.f.proc.poll())
        self.assertEqual(sorted(os.listdir(hold)), sorted([op, susp]))
        self.assertIn("op-later@", self.f.ctl("queue", "list").stdout)    # still answering


class CachedConnectionTlsTest(unittest.TestCase):
    """A connection opened without TLS (tls=none here; an opportunistic
    handshake that failed is the same) is not reused for a route that
    requires TLS to the same host."""

    def test_plain_connection_not_reused_for_tls_require(self):
        rx = Receiver("127.0.0.1")      # offers no STARTTLS
        f = Ferryd(deliver=True, relay_networks="127.0.0.0/8",
                   extra="route plain.test smtp:127.0.0.1:%d tls=none\n"
                         "route secure.test smtp:127.0.0.1:%d tls=require\n" % (rx.port, rx.port))
        f.start()
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                s.sendmail("a@example.test", ["x@plain.test", "y@secure.test"],
                           b"From: a@example.test\r\nSubject: t\r\n\r\nx\r\n")
            self.assertTrue(wait_for(lambda: re.search(r"event=deferred .*y@secure\.test", f.log_text())),
                            f.log_text()[-2000:])
            with rx.lock:
                rcpts = [r for m in rx.messages for r in m["rcpts"]]
            self.assertEqual(rcpts, ["x@plain.test"])
            self.assertIn("4.7.10", f.log_text())
        finally:
            f.stop()
            rx.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
