"""Reputation enforcement against a real ferryd (issue 10, items 5 and 6):
a throttled tenant gets its throttle rate of recipients an hour, however
they are spread over messages (452 4.7.1 at the RCPT past what is left,
451 4.7.1 at MAIL naming the cause once they are used); a tenant under review still has its mail
accepted; `tenant resume` clears both; `tenant show` prints the 1h/24h/7d
windows (rows written into the state database as ferryd writes them), their
rates, the top bounce categories and the enforcement state with its reason.
The states are set here by an operator (`ferryctl tenant throttle|review`);
the automatic path (complaints arriving -> throttled -> suspended) needs the
callers that note deliveries and complaints, and is the end-to-end test's."""
import os
import re
import smtplib
import time
import unittest

from ferrytest import Ferryd, tls_context, wait_for

RATE = 2
RCPT_RATE = 5


class ReputationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd()
        cls.f.start()
        cls.keys = {t: cls.f.tenant_add(t) for t in ("acme", "globex", "initech", "hooli",
                                                     "umbrella", "wayne")}
        cls.f.ctl("tenant", "set", "acme", "--throttle-rate", str(RATE), "--min-volume", "10",
                  "--complaint-throttle", "0.3%")
        for t in ("umbrella", "wayne"):
            cls.f.ctl("tenant", "set", t, "--throttle-rate", str(RCPT_RATE))

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def send(self, tenant, n):
        """n messages over one session; the reply of each MAIL FROM."""
        replies = []
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("apikey", self.keys[tenant])
            for i in range(n):
                code, text = s.mail("news@%s.test" % tenant)
                replies.append((code, text.decode()))
                if code != 250:
                    s.rset()
                    continue
                s.rcpt("bob@dst.test")
                s.data(("From: news@%s.test\r\nSubject: %d\r\n\r\nhi\r\n" % (tenant, i)).encode())
        return replies

    def tenant_id(self, name):
        return self.f.sql("SELECT id FROM tenants WHERE name = ?", (name,))[0][0]

    def test_throttled_tenant_refused_past_its_rate(self):
        self.f.ctl("tenant", "throttle", "acme", "--reason", "complaints seen by hand")
        replies = self.send("acme", RATE + 2)
        self.assertEqual([c for c, _ in replies[:RATE]], [250] * RATE)
        for code, text in replies[RATE:]:
            self.assertEqual(code, 451, text)
            self.assertIn("4.7.1 Tenant acme is throttled to %d recipients per hour: set by an"
                          " operator: complaints seen by hand; try again later" % RATE, text)
        show = self.f.ctl("tenant", "show", "acme").stdout
        self.assertIn("enforcement:   throttled since ", show)
        self.assertIn("set by an operator: complaints seen by hand", show)
        self.assertIn("throttle rate %d recipients/h*" % RATE, show)   # the tenant's own
        # another tenant is not affected
        self.assertEqual([c for c, _ in self.send("globex", RATE + 1)], [250] * (RATE + 1))
        # resume clears it: mail is accepted again (no per-hour limit of its own)
        out = self.f.ctl("tenant", "resume", "acme").stdout
        self.assertIn("tenant acme resumed", out)
        self.assertEqual([c for c, _ in self.send("acme", 2)], [250, 250])
        self.assertIn("enforcement:   none (resumed ", self.f.ctl("tenant", "show", "acme").stdout)

    def test_throttle_counts_recipients(self):
        """One message to many is not one unit of the throttle: a campaign
        in a few big messages stops at the tenant's recipients an hour."""
        self.f.ctl("tenant", "throttle", "umbrella", "--reason", "campaign")
        try:
            with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
                s.starttls(context=tls_context())
                s.login("apikey", self.keys["umbrella"])
                self.assertEqual(s.mail("news@umbrella.test")[0], 250)
                codes = []
                for i in range(RCPT_RATE + 3):
                    code, text = s.rcpt("r%d@dst.test" % i)
                    codes.append(code)
                    if code != 250:
                        self.assertEqual(code, 452, text)
                        self.assertIn("4.7.1 Tenant umbrella is throttled to %d recipients per"
                                      " hour" % RCPT_RATE, text.decode())
                self.assertEqual(codes, [250] * RCPT_RATE + [452] * 3)
                code, _ = s.data(b"From: news@umbrella.test\r\nSubject: big\r\n\r\nhi\r\n")
                self.assertEqual(code, 250)
                # its hour is used: the next message is refused at MAIL
                code, text = s.mail("news@umbrella.test")
                self.assertEqual(code, 451, text)
                self.assertIn("4.7.1 Tenant umbrella is throttled to %d recipients per hour:"
                              " set by an operator: campaign" % RCPT_RATE, text.decode())
        finally:
            self.f.ctl("tenant", "resume", "umbrella")
        # resumed: no limit of its own, many recipients at once again
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("apikey", self.keys["umbrella"])
            self.assertEqual(s.mail("news@umbrella.test")[0], 250)
            self.assertEqual([s.rcpt("x%d@dst.test" % i)[0] for i in range(RCPT_RATE + 3)],
                             [250] * (RCPT_RATE + 3))
            s.rset()

    def test_throttle_taken_at_end_of_data(self):
        """Two sessions each given the recipients left at RCPT: the end of
        DATA takes them for good, so the second message is refused there
        (and takes nothing: the hour still has what the first one left).
        A tenant of its own: the hour's count survives a resume."""
        self.f.ctl("tenant", "throttle", "wayne", "--reason", "race")
        body = b"From: news@wayne.test\r\nSubject: race\r\n\r\nhi\r\n"
        sessions = []
        try:
            for _ in range(2):
                s = smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30)
                sessions.append(s)
                s.starttls(context=tls_context())
                s.login("apikey", self.keys["wayne"])
                self.assertEqual(s.mail("news@wayne.test")[0], 250)
                self.assertEqual([s.rcpt("y%d@dst.test" % i)[0] for i in range(3)], [250] * 3)
            a, b = sessions
            self.assertEqual(a.data(body)[0], 250)
            code, text = b.data(body)
            self.assertEqual(code, 451, text)
            self.assertIn("4.7.1 Tenant wayne is throttled to %d recipients per hour"
                          % RCPT_RATE, text.decode())
            self.assertEqual(b.mail("news@wayne.test")[0], 250)
            self.assertEqual([b.rcpt("z%d@dst.test" % i)[0] for i in range(3)], [250, 250, 452])
            b.rset()
        finally:
            for s in sessions:
                s.close()
            self.f.ctl("tenant", "resume", "wayne")

    def test_review_accepts_and_resume_clears(self):
        self.f.ctl("tenant", "review", "initech", "--reason", "volume spike")
        show = self.f.ctl("tenant", "show", "initech").stdout
        self.assertIn("enforcement:   review since ", show)
        # accepted (the lead's commit path puts it in hold/: asserted there)
        self.assertEqual([c for c, _ in self.send("initech", 2)], [250, 250])
        self.f.ctl("tenant", "resume", "initech")
        self.assertIn("enforcement:   none", self.f.ctl("tenant", "show", "initech").stdout)

    def test_review_holds_new_mail(self):
        self.f.ctl("tenant", "review", "initech", "--reason", "spike")
        try:
            hold = os.path.join(self.f.spool, "hold")
            before = set(os.listdir(hold))
            self.assertEqual([c for c, _ in self.send("initech", 1)], [250])
            self.assertTrue(wait_for(lambda: len(set(os.listdir(hold)) - before) == 1, timeout=30))
            held = (set(os.listdir(hold)) - before).pop()
            self.assertRegex(self.f.log_text(), r"event=held id=%s tenant=initech reason=\"tenant"
                             r" initech under review: set by an operator: spike\"" % re.escape(held))
            # the queue manager knows it: listed held (!), and `tenant resume`
            # releases it (out of hold/)
            self.assertRegex(self.f.ctl("queue", "list").stdout, r"%s!" % held)
            # a restart keeps it held for the review (its hold record says why)
            self.f.stop()
            self.f.start()
            self.assertRegex(self.f.ctl("queue", "list").stdout, r"%s!" % held)
        finally:
            self.f.ctl("tenant", "resume", "initech")
        self.assertTrue(wait_for(lambda: held not in os.listdir(hold)), os.listdir(hold))
        self.assertIn("event=released id=%s by=tenant-resume" % held, self.f.log_text())

    def test_show_windows_and_rates(self):
        # hooli never sends: ferryd never evaluates it, these rows are all it has
        tid = self.tenant_id("hooli")
        now = int(time.time())
        now -= now % 300
        rows = [("sent", now, 2600), ("delivered", now, 2500), ("complaint", now, 13),
                ("bounced", now, 100), ("bounced-hard", now, 80), ("unknown-recipient", now, 40),
                ("bounce:invalid-recipient", now, 40), ("bounce:mailbox-full", now, 20),
                ("scanned", now, 200), ("scan-spam", now, 3),
                # two days ago: in the 7-day column only
                ("delivered", now - 2 * 86400, 7500), ("bounce:spam-block", now - 2 * 86400, 70)]
        for m, b, n in rows:
            self.f.sql("INSERT INTO reputation(tenant_id, metric, bucket, count)"
                       " VALUES (?, ?, ?, ?)", (tid, m, b, n))
        show = self.f.ctl("tenant", "show", "hooli").stdout
        lines = {" ".join(l.split()[:-3]): l.split()[-3:] for l in show.splitlines()
                 if l.startswith("  ") and len(l.split()) >= 4}
        self.assertEqual(lines["delivered"], ["2500", "2500", "10000"])
        self.assertEqual(lines["complaints"], ["13", "13", "13"])
        self.assertEqual(lines["hard"], ["80", "80", "80"])
        self.assertEqual(lines["complaint rate"], ["0.52%", "0.52%", "0.13%"])
        self.assertEqual(lines["hard-bounce rate"], ["3.08%", "3.08%", "0.79%"])
        self.assertEqual(lines["spam rate"], ["1.5%", "1.5%", "1.5%"])
        self.assertIn("bounce categories (7d): spam-block 70, invalid-recipient 40,"
                      " mailbox-full 20", show)
        self.assertIn("enforcement:   none", show)
        # each rule's minimum volume on its own divisor
        self.assertIn("thresholds:    over 24h, from 500 delivered: complaint throttle 0.3%,"
                      " suspend 1%; from 500 delivered+bounced: hard-bounce throttle 10%;"
                      " unknown-rcpt throttle 5%", show)

    def test_set_refuses_bad_thresholds(self):
        r = self.f.ctl("tenant", "set", "globex", "--complaint-throttle", "0.3 percent",
                       check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("percentage", r.stderr)
        r = self.f.ctl("tenant", "set", "globex", "--complaint-throttle", "101%", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.f.ctl("tenant", "set", "globex", "--complaint-throttle", "0.5%")
        self.assertIn("complaint throttle 0.5%*", self.f.ctl("tenant", "show", "globex").stdout)
        self.f.ctl("tenant", "set", "globex", "--complaint-throttle", "default")
        self.assertIn("complaint throttle 0.3%,", self.f.ctl("tenant", "show", "globex").stdout)


if __name__ == "__main__":
    unittest.main()
