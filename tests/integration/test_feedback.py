"""The feedback loop end to end (issue 10): a tenant sends through ferryd to a
real SMTP receiver on loopback; refusals during delivery, DSNs, complaints
(ARF) and auto-replies that come back to the tenant's return path or
complaint address become categorized events, suppressions and reputation
counts; the next message to a suppressed recipient is refused at RCPT; a
tenant whose complaint rate crosses its thresholds is throttled, then
suspended. Report samples: tests/samples/reports/templates/ (placeholders
{{RETURN_PATH}}, {{REF}}, {{RCPT}} filled here with genuine tokens)."""
import glob
import os
import re
import smtplib
import time
import unittest

import ferrytest
from ferrytest import Ferryd, verp_local, wait_for
from receiver import Receiver

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "samples", "reports", "templates")
BOUNCE_DOMAIN = "rp.shop.test"


def rcpt_reply(addr):
    """The receiver's answer to RCPT: by the local part's first word."""
    m = re.search(r"<([^>]*)>", addr)
    local = (m.group(1) if m else addr).split("@")[0]
    if local.startswith("gone"):
        return "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table" % local
    if local.startswith("full"):
        return "552 5.2.2 <%s>: Mailbox full, over quota" % local
    if local.startswith("unauth"):
        # about the tenant's DKIM, not the recipient (a "sender" category)
        return ("550 5.7.26 This mail has been blocked because the sender is unauthenticated. "
                "Gmail requires all senders to authenticate with either SPF or DKIM.")
    if local.startswith("policy"):
        # RFC 5321's generic wording with a policy status: not a hard bounce
        return "550 5.7.1 Requested action not taken: mailbox unavailable"
    return "250 2.1.5 Ok"


def message(to, subject):
    return ("From: Shop <news@shop.test>\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s.%f@shop.test>\r\n\r\nHello.\r\n"
            % (to, subject, subject.replace(" ", "-"), time.time())).encode()


class FeedbackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.rx.set("rcpt", rcpt_reply)
        cls.f = f = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                           extra="route * smtp:127.0.0.1:%d\nretry_min 1s\nretry_max 2s\n"
                                 "max_queue_lifetime 1d\nsuppress_soft_threshold 2\n" % cls.rx.port)
        f.start()
        f.ctl("tenant", "add", "shop")
        f.ctl("domain", "add", "shop", "shop.test")
        f.ctl("tenant", "set", "shop", "--bounce-domain", BOUNCE_DOMAIN)
        cls.key = f.ctl("key", "create", "shop").stdout.splitlines()[0].strip()
        cls.tid = cls.sql("SELECT id FROM tenants WHERE name = 'shop'")[0][0]
        cls.secret = bytes(cls.sql("SELECT value FROM meta WHERE key = 'verp_secret'")[0][0])

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()

    @classmethod
    def sql(cls, query, args=()):
        return cls.f.sql(query, args)

    def session(self, key=None):
        s = smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30)
        s.starttls()
        s.login("apikey", key or self.key)
        return s

    def send(self, to, subject, key=None):
        """Send one message as the tenant; its queue id."""
        with self.session(key) as s:
            s.mail("news@shop.test")
            code, text = s.rcpt(to)
            self.assertEqual(code, 250, text)
            code, text = s.data(message(to, subject))
            self.assertEqual(code, 250, text)
        return text.decode().rsplit(" ", 1)[-1]

    def events(self, kind, rcpt=None):
        q = "SELECT queue_id, rcpt, category, hard, source, status FROM events WHERE tenant_id = ? AND kind = ?"
        args = [self.tid, kind]
        if rcpt is not None:
            q += " AND rcpt = ?"
            args.append(rcpt)
        return self.sql(q, args)

    def suppression(self, addr):
        rows = self.sql("SELECT reason, cause FROM suppressions WHERE tenant_id = ? AND addr = ?",
                        (self.tid, addr.lower()))
        return rows[0] if rows else None

    def report(self, rcpt, body):
        """Send a report from the null sender to rcpt on the MX port; its id."""
        with smtplib.SMTP("127.0.0.1", self.f.mx, local_hostname="remote-mta.test", timeout=30) as s:
            s.ehlo()
            self.assertEqual(s.mail("<>")[0], 250)
            code, text = s.rcpt(rcpt)
            self.assertEqual(code, 250, text)
            code, text = s.data(body)
            self.assertEqual(code, 250, text)
        rid = text.decode().rsplit(" ", 1)[-1]
        self.assertTrue(wait_for(lambda: ("event=removed id=%s\n" % rid) in self.f.log_text()),
                        self.f.log_text()[-3000:])
        return rid

    def fill(self, template, qid, rcpt, sent_to=None):
        """The template with the return path and ref of the message qid sent
        to sent_to (default rcpt), naming rcpt as the failed recipient."""
        token = verp_local(self.secret, self.tid, qid, 0, sent_to or rcpt)
        with open(template, "rb") as fh:
            body = fh.read().decode()
        body = body.replace("{{RETURN_PATH}}", "%s@%s" % (token, BOUNCE_DOMAIN))
        body = body.replace("{{REF}}", token[2:]).replace("{{RCPT}}", rcpt)
        return token, body.replace("\r\n", "\n").replace("\n", "\r\n").encode()

    def refused_at_rcpt(self, to):
        with self.session() as s:
            s.mail("news@shop.test")
            code, text = s.rcpt(to)
        return code, text.decode()

    # --- synchronous refusals ------------------------------------------------

    def test_sync_hard_refusal_is_categorized_suppressed_and_refused_next_time(self):
        qid = self.send("gone-sync@remote.test", "sync hard")
        self.assertTrue(wait_for(lambda: self.events("bounced", "gone-sync@remote.test")),
                        self.f.log_text()[-3000:])
        ev = self.events("bounced", "gone-sync@remote.test")[0]
        self.assertEqual(ev[:5], (qid, "gone-sync@remote.test", "invalid-recipient", 1, "sync"))
        self.assertEqual(ev[5], "5.1.1")
        self.assertEqual(self.suppression("gone-sync@remote.test")[0], "hard-bounce")
        self.assertIn("category=invalid-recipient class=hard", self.f.log_text())
        code, text = self.refused_at_rcpt("gone-sync@remote.test")
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)
        self.assertIn("suppressed", text)
        self.assertIn("hard-bounce", text)
        # others still go
        self.assertEqual(self.refused_at_rcpt("someone-else@remote.test")[0], 250)

    def test_sync_soft_refusal_suppresses_only_when_repeated(self):
        self.send("full-sync@remote.test", "soft 1")
        self.assertTrue(wait_for(lambda: len(self.events("bounced", "full-sync@remote.test")) == 1))
        ev = self.events("bounced", "full-sync@remote.test")[0]
        self.assertEqual((ev[2], ev[3]), ("mailbox-full", 0))
        self.assertIsNone(self.suppression("full-sync@remote.test"))
        self.send("full-sync@remote.test", "soft 2")    # suppress_soft_threshold 2
        self.assertTrue(wait_for(lambda: self.suppression("full-sync@remote.test") is not None))
        self.assertEqual(self.suppression("full-sync@remote.test")[0], "soft-bounce")

    def test_sender_failures_never_suppress_the_recipient(self):
        # twice suppress_soft_threshold: a soft category would have suppressed
        for rcpt, category in (("unauth-sync@remote.test", "authentication"),
                               ("policy-sync@remote.test", "policy")):
            for i in range(4):
                self.send(rcpt, "sender %s %d" % (category, i))
                self.assertTrue(wait_for(lambda: len(self.events("bounced", rcpt)) == i + 1),
                                self.f.log_text()[-3000:])
            self.assertEqual({(ev[2], ev[3]) for ev in self.events("bounced", rcpt)}, {(category, 0)})
            self.assertIsNone(self.suppression(rcpt))
            self.assertEqual(self.refused_at_rcpt(rcpt)[0], 250)
            self.assertIn("category=%s class=soft" % category, self.f.log_text())
            self.assertRegex(self.f.log_text(), r"rcpt=\S*%s\S* category=%s class=soft .* suppressed=sender "
                             % (re.escape(rcpt), category))

    def test_tenant_mail_carries_its_ref_header(self):
        qid = self.send("ref-check@remote.test", "ref header")
        self.assertTrue(wait_for(lambda: any(b"Subject: ref header" in m["data"] for m in list(self.rx.messages))))
        data = [m for m in list(self.rx.messages) if b"Subject: ref header" in m["data"]][0]["data"]
        token = verp_local(self.secret, self.tid, qid, 0, "ref-check@remote.test")
        self.assertIn(("X-Ferry-Ref: %s\r\n" % token[2:]).encode(), data)
        # the return path the receiver saw is the same token, bound to the recipient
        sender = [m for m in list(self.rx.messages) if b"Subject: ref header" in m["data"]][0]["sender"]
        self.assertEqual(sender, "%s@%s" % (token, BOUNCE_DOMAIN))

    # --- reports to the return path -------------------------------------------

    def sample(self, name):
        path = os.path.join(TEMPLATES, name)
        self.assertTrue(os.path.exists(path), path)
        return path

    def templates(self, prefix):
        found = sorted(glob.glob(os.path.join(TEMPLATES, prefix + "*.eml")))
        self.assertTrue(found, "no %s* samples under %s" % (prefix, TEMPLATES))
        return found

    def test_dsns_of_every_format_become_bounces_and_suppress(self):
        bounces = [p for p in sorted(glob.glob(os.path.join(TEMPLATES, "*.eml")))
                   if not re.match(r"(arf|autoreply|broken)", os.path.basename(p))]
        self.assertGreaterEqual(len(bounces), 6, bounces)
        for i, path in enumerate(bounces):
            name = os.path.basename(path)
            rcpt = "dsn%d@example.net" % i
            qid = self.send(rcpt, "dsn %s" % name)
            token, body = self.fill(path, qid, rcpt)
            rid = self.report("%s@%s" % (token, BOUNCE_DOMAIN), body)
            evs = self.sql("SELECT kind, rcpt, category, hard, queue_id FROM events WHERE report_id = ?", (rid,))
            self.assertEqual(len(evs), 1, (name, evs, self.f.log_text()[-2000:]))
            kind, addr, category, hard, eqid = evs[0]
            text = open(path).read()
            if "Action: delayed" in text and "Action: failed" not in text:
                # a delay notice: recorded, never a suppression
                self.assertEqual((kind, eqid, addr), ("delayed", qid, rcpt), name)
                self.assertIsNone(self.suppression(rcpt), name)
                continue
            self.assertEqual((kind, eqid), ("bounced", qid), name)
            self.assertEqual(addr, rcpt, name)
            self.assertNotEqual(category, "", name)
            if hard:
                self.assertIsNotNone(self.suppression(rcpt), (name, self.f.log_text()[-1500:]))
        # a hard one is refused at RCPT from now on
        hard = self.sql("SELECT rcpt FROM events WHERE tenant_id = ? AND kind = 'bounced' AND hard = 1"
                        " AND source != 'sync' LIMIT 1", (self.tid,))
        self.assertTrue(hard)
        self.assertEqual(self.refused_at_rcpt(hard[0][0])[0], 550)

    def test_auto_reply_does_not_suppress(self):
        for i, path in enumerate(self.templates("autoreply")):
            rcpt = "ooo%d@example.net" % i
            qid = self.send(rcpt, "ooo %d" % i)
            token, body = self.fill(path, qid, rcpt)
            rid = self.report("%s@%s" % (token, BOUNCE_DOMAIN), body)
            evs = self.sql("SELECT kind FROM events WHERE report_id = ?", (rid,))
            self.assertEqual(evs, [("autoreply",)], path)
            self.assertIsNone(self.suppression(rcpt), path)
            self.assertEqual(self.refused_at_rcpt(rcpt)[0], 250)

    def test_one_token_cannot_suppress_other_addresses_and_counts_once(self):
        # the token was bound to multi@remote.test; the report names others
        qid = self.send("multi@remote.test", "multi")
        token, body = self.fill(self.sample("rfc3464-multi-rcpt.eml"), qid, "victim0@example.net",
                                sent_to="multi@remote.test")
        rid = self.report("%s@%s" % (token, BOUNCE_DOMAIN), body)
        evs = self.sql("SELECT kind, rcpt FROM events WHERE report_id = ?", (rid,))
        self.assertEqual(evs, [("bounced", "")])      # counted, address unverified
        self.assertIsNone(self.suppression("victim0@example.net"))
        self.assertIn("suppressed=unverified", self.f.log_text())
        rid2 = self.report("%s@%s" % (token, BOUNCE_DOMAIN), body)     # replayed
        self.assertEqual(self.sql("SELECT COUNT(*) FROM events WHERE report_id = ?", (rid2,)), [(0,)])
        self.assertIn("event=report-duplicate", self.f.log_text())
        # the genuine bounce of the bound address still counts and suppresses
        token, body = self.fill(self.sample("rfc3464-postfix-hard.eml"), qid, "multi@remote.test")
        rid3 = self.report("%s@%s" % (token, BOUNCE_DOMAIN), body)
        self.assertEqual(self.sql("SELECT rcpt FROM events WHERE report_id = ?", (rid3,)), [("multi@remote.test",)])
        self.assertEqual(self.suppression("multi@remote.test")[0], "hard-bounce")

    # --- complaints --------------------------------------------------------

    def test_complaint_to_return_path_and_to_complaint_address(self):
        arfs = self.templates("arf")
        for i, path in enumerate(arfs):
            rcpt = "complainer%d@example.net" % i
            qid = self.send(rcpt, "arf %d" % i)
            token, body = self.fill(path, qid, rcpt)
            # alternately to the return path and to the complaint address
            to = "%s@%s" % (token, BOUNCE_DOMAIN) if i % 2 == 0 else "fbl@" + BOUNCE_DOMAIN
            rid = self.report(to, body)
            evs = self.sql("SELECT kind, queue_id, rcpt FROM events WHERE report_id = ?", (rid,))
            self.assertEqual(evs, [("complained", qid, rcpt)], (path, to, self.f.log_text()[-2000:]))
            self.assertEqual(self.suppression(rcpt)[0], "complaint")
            code, text = self.refused_at_rcpt(rcpt)
            self.assertEqual(code, 550, text)
            self.assertIn("complaint", text)

    def test_untied_complaint_to_complaint_address_counts_nothing(self):
        arf = self.templates("arf")[0]
        with open(arf, "rb") as fh:
            body = fh.read().decode()
        body = re.sub(r"b\+[0-9a-z-]+@", "b+1-00-0-aaaa@", body.replace("{{RETURN_PATH}}", "x@elsewhere.test"))
        body = body.replace("{{REF}}", "nothing").replace("{{RCPT}}", "bystander@example.net")
        rid = self.report("fbl@" + BOUNCE_DOMAIN, body.replace("\r\n", "\n").replace("\n", "\r\n").encode())
        self.assertEqual(self.sql("SELECT kind FROM events WHERE report_id = ?", (rid,)),
                         [("report-unrecognized",)])
        self.assertIsNone(self.suppression("bystander@example.net"))
        self.assertIn("event=report-untied", self.f.log_text())

    def test_complaints_throttle_then_suspend_the_tenant(self):
        # A tenant of its own, with thresholds a test can reach: 20 delivered,
        # then each complaint adds 5%: over 4% throttles, over 10% suspends.
        f = self.f
        f.ctl("tenant", "add", "bulk")
        f.ctl("domain", "add", "bulk", "bulk.test")
        f.ctl("tenant", "set", "bulk", "--bounce-domain", "rp.bulk.test", "--min-volume", "20",
              "--complaint-throttle", "4%", "--complaint-suspend", "10%")
        key = f.ctl("key", "create", "bulk").stdout.splitlines()[0].strip()
        tid = self.sql("SELECT id FROM tenants WHERE name = 'bulk'")[0][0]
        qids = []
        with self.session(key) as s:
            for i in range(20):
                s.mail("news@bulk.test")
                s.rcpt("reader%d@remote.test" % i)
                code, text = s.data(message("reader%d@remote.test" % i, "bulk %d" % i).replace(
                    b"news@shop.test", b"news@bulk.test"))
                self.assertEqual(code, 250, text)
                qids.append(text.decode().rsplit(" ", 1)[-1])
        self.assertTrue(wait_for(lambda: sum(b"Subject: bulk " in m["data"] for m in list(self.rx.messages)) == 20))
        self.assertTrue(wait_for(lambda: all(("event=removed id=%s\n" % q) in f.log_text() for q in qids)))
        arf = self.sample("arf-generic.eml")

        def complain(i):
            token = verp_local(self.secret, tid, qids[i], 0, "reader%d@remote.test" % i)
            with open(arf, "rb") as fh:
                body = fh.read().decode()
            body = body.replace("{{RETURN_PATH}}", token + "@rp.bulk.test").replace("{{REF}}", token[2:])
            body = body.replace("{{RCPT}}", "reader%d@remote.test" % i)
            self.report(token + "@rp.bulk.test", body.replace("\r\n", "\n").replace("\n", "\r\n").encode())

        complain(0)
        self.assertTrue(wait_for(lambda: "event=tenant-throttled tenant=bulk" in f.log_text()), f.log_text()[-2000:])
        self.assertNotIn("event=tenant-suspended tenant=bulk", f.log_text())
        self.assertRegex(f.ctl("tenant", "show", "bulk").stdout, r"enforcement: +throttled since .*complaint rate")
        complain(1)
        complain(2)
        self.assertTrue(wait_for(lambda: "event=tenant-suspended tenant=bulk" in f.log_text()), f.log_text()[-2000:])
        self.assertRegex(f.log_text(), r"event=tenant-suspended tenant=bulk .*reason=\"complaint rate")
        # a suspended tenant's sessions are refused
        with smtplib.SMTP("127.0.0.1", f.submission, timeout=30) as s:
            s.starttls()
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                s.login("apikey", key)
        self.assertRegex(f.ctl("tenant", "show", "bulk").stdout, r"enforcement: +suspended since .*complaint rate")
        f.ctl("tenant", "resume", "bulk")
        self.assertRegex(f.ctl("tenant", "show", "bulk").stdout, r"enforcement: +none \(resumed ")

    def test_ferryctl_events_lists_them(self):
        self.send("gone-ctl@remote.test", "ctl")
        self.assertTrue(wait_for(lambda: self.events("bounced", "gone-ctl@remote.test")))
        out = self.f.ctl("events", "list", "shop", "bounced").stdout
        self.assertRegex(out, r"bounced\t[0-9A-F]{16}\tgone-ctl@remote.test\tinvalid-recipient \(hard\)\tsync\t5.1.1")


if __name__ == "__main__":
    ferrytest.main()
