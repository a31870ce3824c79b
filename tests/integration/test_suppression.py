"""Tenants' suppression lists (issue 10, item 4) against a real ferryd on
loopback delivering to a scripted receiver: `ferryctl suppression
list|add|del|import|export` (CSV with quoting and bad lines), a suppressed
recipient refused at RCPT with 550 5.7.1 naming the suppression while the
others of the same transaction are accepted, a tenant in drop mode (250, not
queued, logged, never delivered, a `suppressed` event per dropped recipient
of an accepted message), expiry, import by rank (an old export never weakens
a live complaint; the operator's add replaces), a UTF-8 BOM and a domain's
trailing dot, ordinary inbound and relay mail untouched, and 451 4.3.0 when
the list cannot be read."""
import csv
import io
import os
import re
import smtplib
import time
import unittest

from ferrytest import Ferryd, tls_context, wait_for
from receiver import Receiver


def message(frm, subject):
    return ("From: %s\r\nTo: list@remote.test\r\nSubject: %s\r\n\r\nhello\r\n"
            % (frm, subject)).encode()


class SuppressionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.f = f = Ferryd(deliver=True, relay_networks="127.0.0.9/32",
                           extra="route * smtp:127.0.0.1:%d\n" % cls.rx.port)
        f.start()
        cls.keys = {t: f.tenant_add(t) for t in ("acme", "dropco", "listco")}
        f.ctl("tenant", "set", "dropco", "--suppressed", "drop")
        f.ctl("connector", "add", "dropco", "dropco-app", "127.0.0.7/32")
        f.ctl("connector", "add", "acme", "acme-app", "127.0.0.8/32")
        f.ctl("suppression", "add", "acme", "Bob@Remote.TEST", "--reason", "hard-bounce",
              "--cause", "550 5.1.1 user unknown (invalid-recipient) via dsn")
        f.ctl("suppression", "add", "acme", "alice@example.test", "--reason", "complaint")
        f.ctl("suppression", "add", "dropco", "gone@remote.test", "--reason", "unsubscribe")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()

    def session(self, tenant):
        s = smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30)
        s.starttls(context=tls_context())
        s.login("apikey", self.keys[tenant])
        return s

    def delivered(self, subject):
        return [m for m in list(self.rx.messages)
                if ("Subject: %s\r\n" % subject).encode() in m["data"]]

    # --- ferryctl -------------------------------------------------------

    def test_ctl_round_trip(self):
        f = self.f
        f.ctl("suppression", "add", "listco", "One@List.Test", "--reason", "manual",
              "--expires", "30d", "--cause", "asked by phone")
        out = f.ctl("suppression", "list", "listco").stdout
        self.assertRegex(out, r"^one@list\.test\tmanual\tsince \S+ \S+ UTC\texpires \S+ \S+ UTC"
                         r"\tasked by phone$")
        r = f.ctl("suppression", "add", "listco", "not-an-address", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an address", r.stderr)
        r = f.ctl("suppression", "add", "listco", "x@list.test", "--reason", "bogus", check=False)
        self.assertEqual(r.returncode, 2)
        path = os.path.join(f.tmp, "in.csv")
        with open(path, "w", newline="") as fh:
            fh.write('address,reason,time,expires,cause\r\n'
                     'A@List.test,complaint,2026-11-01,,"fbl, from ""yahoo"""\r\n'
                     'bad-address,manual,,,\r\n'
                     '"b@list.test",unsubscribe,1700000000,2099-01-01T00:00:00Z,\r\n'
                     'c@list.test,nonsense,,,\r\n'
                     'd@list.test,hard-bounce,,,"550 5.1.1\r\nno such user"\r\n'
                     'e@list.test,soft-bounce\r\n'
                     '\r\n'
                     'f@list.test,,,,plain cause\r\n')
        r = f.ctl("suppression", "import", "listco", path, check=False)
        self.assertEqual(r.returncode, 1, r.stderr)     # bad lines were skipped
        for line, why in ((3, "not an address"), (5, "unknown reason"),
                          (6, "cause holds a control character"), (8, "wrong number of fields")):
            self.assertIn("%s:%d: %s" % (path, line, why), r.stderr)
        self.assertIn("imported 3 rows", r.stderr)
        out = f.ctl("suppression", "list", "listco", "--reason", "complaint").stdout
        self.assertEqual(out.splitlines(), ['a@list.test\tcomplaint\tsince 2026-11-01 00:00 UTC'
                                            '\texpires never\tfbl, from "yahoo"'])
        self.assertEqual(len(f.ctl("suppression", "list", "listco", "--limit", "2")
                             .stdout.splitlines()), 2)
        exported = f.ctl("suppression", "export", "listco").stdout
        rows = list(csv.reader(io.StringIO(exported)))
        self.assertEqual(rows[0], ["address", "reason", "time", "expires", "cause"])
        by_addr = {r[0]: r for r in rows[1:]}
        self.assertEqual(sorted(by_addr), ["a@list.test", "b@list.test", "f@list.test",
                                           "one@list.test"])
        self.assertEqual(by_addr["a@list.test"],
                         ["a@list.test", "complaint", "2026-11-01T00:00:00Z", "", 'fbl, from "yahoo"'])
        self.assertEqual(by_addr["b@list.test"][2:4], ["2023-11-14T22:13:20Z", "2099-01-01T00:00:00Z"])
        # the export imports again as it was, into another tenant, from stdin
        f.ctl("tenant", "add", "copyco")
        r = f.ctl("suppression", "import", "copyco", "-", input=exported)
        self.assertIn("imported 4 rows", r.stderr)
        self.assertEqual(f.ctl("suppression", "export", "copyco").stdout, exported)
        self.assertEqual(f.ctl("suppression", "del", "listco", "A@LIST.TEST").returncode, 0)
        self.assertEqual(f.ctl("suppression", "del", "listco", "a@list.test", check=False).returncode, 1)
        self.assertNotIn("a@list.test", f.ctl("suppression", "list", "listco").stdout)
        show = f.ctl("tenant", "show", "dropco").stdout
        self.assertIn("suppression:   drop", show)
        self.assertIn("suppression:   reject", f.ctl("tenant", "show", "acme").stdout)
        r = f.ctl("tenant", "set", "acme", "--suppressed", "bounce", check=False)
        self.assertEqual(r.returncode, 2)

    # --- RCPT -----------------------------------------------------------

    def test_rcpt_refused_others_accepted(self):
        with self.session("acme") as s:
            s.ehlo()
            s.mail("news@acme.test")
            code, text = s.rcpt("Bob@remote.test")
            text = text.decode()
            self.assertEqual(code, 550, text)
            self.assertRegex(text, r"^5\.7\.1 <Bob@remote\.test>: recipient suppressed for tenant acme"
                             r" since \d{4}-\d\d-\d\d \(hard-bounce: 550 5\.1\.1 user unknown"
                             r" \(invalid-recipient\) via dsn\)$")
            code, text = s.rcpt("ok@remote.test")
            self.assertEqual(code, 250, text)
            code, text = s.data(message("news@acme.test", "mixed"))
            self.assertEqual(code, 250, text)
        self.assertTrue(wait_for(lambda: self.delivered("mixed")), self.f.log_text()[-2000:])
        self.assertEqual(self.delivered("mixed")[0]["rcpts"], ["ok@remote.test"])
        log = self.f.log_text()
        self.assertRegex(log, r"event=rcpt-suppressed sid=\d+ client=\S+ tenant=acme"
                         r' rcpt="Bob@remote\.test" reason=hard-bounce since=\d{4}-\d\d-\d\d'
                         r' cause="550 5\.1\.1 user unknown')

    def test_many_refusals_do_not_end_the_session(self):
        # max_errors is 20: a tenant's own list refusing recipients is not a
        # misbehaving client
        with self.session("acme") as s:
            s.ehlo()
            s.mail("news@acme.test")
            for _ in range(25):
                self.assertEqual(s.rcpt("bob@remote.test")[0], 550)
            self.assertEqual(s.rcpt("ok2@remote.test")[0], 250)
            self.assertEqual(s.data(message("news@acme.test", "after-refusals"))[0], 250)

    def test_drop_mode(self):
        before = set(os.listdir(os.path.join(self.f.spool, "queue")))
        with self.session("dropco") as s:
            s.ehlo()
            s.mail("news@dropco.test")
            code, text = s.rcpt("gone@remote.test")
            self.assertEqual(code, 250, text)
            code, text = s.data(message("news@dropco.test", "all-dropped"))
            self.assertEqual(code, 250, text)
            m = re.search(rb"^2\.0\.0 Ok: ([0-9A-F]{16}) not queued, every recipient is suppressed$", text)
            self.assertTrue(m, text)
            qid = m.group(1).decode()
            # the same with a recipient that is not suppressed: only it is queued
            s.mail("news@dropco.test")
            self.assertEqual(s.rcpt("gone@remote.test")[0], 250)
            self.assertEqual(s.rcpt("here@remote.test")[0], 250)
            self.assertEqual(s.data(message("news@dropco.test", "half-dropped"))[0], 250)
        self.assertNotIn(qid, set(os.listdir(os.path.join(self.f.spool, "queue"))) - before)
        self.assertFalse(os.path.exists(os.path.join(self.f.spool, "queue", qid)))
        self.assertTrue(wait_for(lambda: self.delivered("half-dropped")), self.f.log_text()[-2000:])
        self.assertEqual(self.delivered("half-dropped")[0]["rcpts"], ["here@remote.test"])
        # sent before half-dropped on the same connection: had it been queued it
        # would have arrived first
        self.assertEqual(self.delivered("all-dropped"), [])
        log = self.f.log_text()
        self.assertRegex(log, r"event=suppressed-dropped sid=\d+ client=\S+ tenant=dropco"
                         r' rcpt="gone@remote\.test" reason=unsubscribe')
        self.assertRegex(log, r"event=message-dropped sid=\d+ client=\S+ id=%s .*tenant=dropco"
                         r" dropped=1" % qid)

    def suppressed_events(self, where, *args):
        return self.f.sql("SELECT queue_id, rcpt, detail, source FROM events WHERE"
                          " kind = 'suppressed' AND " + where, args)

    def test_drop_mode_events(self):
        # "accepted and dropped with an event": one per dropped recipient of
        # an accepted message, none for an abandoned transaction
        self.f.ctl("suppression", "add", "dropco", "quit@remote.test", "--reason", "complaint",
                   "--cause", "arf from yahoo")
        with self.session("dropco") as s:
            s.ehlo()
            s.mail("news@dropco.test")
            self.assertEqual(s.rcpt("Quit@Remote.test")[0], 250)
            s.rset()
            s.mail("news@dropco.test")
            self.assertEqual(s.rcpt("quit@remote.test")[0], 250)
            self.assertEqual(s.rcpt("gone@remote.test")[0], 250)
            self.assertEqual(s.rcpt("kept@remote.test")[0], 250)
            code, text = s.data(message("news@dropco.test", "events-dropped"))
            self.assertEqual(code, 250, text)
            qid = re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()
        # events reach the table within the outbox's flush interval
        wait_for(lambda: len(self.suppressed_events("queue_id = ?", qid)) >= 2)
        self.assertEqual(sorted(self.suppressed_events("queue_id = ?", qid)),
                         [(qid, "gone@remote.test", "unsubscribe", "rcpt"),
                          (qid, "quit@remote.test", "complaint: arf from yahoo", "rcpt")])
        self.assertEqual(self.suppressed_events("rcpt = 'Quit@Remote.test'"), [])
        events = self.f.ctl("events", "list", "dropco", "suppressed").stdout
        self.assertIn("quit@remote.test", events)

    def test_import_ranks_bom_and_trailing_dot(self):
        f = self.f
        f.ctl("suppression", "add", "acme", "keep@remote.test", "--reason", "complaint",
              "--cause", "fbl")
        path = os.path.join(f.tmp, "excel.csv")
        # Excel's "CSV UTF-8": a byte order mark, CRLF; an old export whose
        # rows expired long ago; a domain written with its root dot
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            fh.write("address,reason,time,expires,cause\r\n"
                     "Keep@Remote.Test.,manual,2020-01-01,2020-06-01,old export\r\n"
                     "Dot@Remote.Test.,hard-bounce,,,550 5.1.1\r\n")
        r = f.ctl("suppression", "import", "acme", path, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imported 2 rows", r.stderr)
        out = f.ctl("suppression", "list", "acme").stdout
        self.assertRegex(out, r"(?m)^keep@remote\.test\tcomplaint\t.*\tfbl$")
        self.assertRegex(out, r"(?m)^dot@remote\.test\thard-bounce\t")
        # a bounce never overwrites it either; the operator's add does
        f.ctl("suppression", "add", "acme", "keep@remote.test", "--reason", "manual",
              "--cause", "corrected by hand")
        out = f.ctl("suppression", "list", "acme").stdout
        self.assertRegex(out, r"(?m)^keep@remote\.test\tmanual\t.*\tcorrected by hand$")
        with self.session("acme") as s:
            s.ehlo()
            s.mail("news@acme.test")
            code, text = s.rcpt("dot@remote.test")
            self.assertEqual(code, 550, text)
            # RFC 5321's Domain has no root dot: the parser refuses it before
            # any list is asked (the lookup would strip it, test_suppress.c)
            self.assertEqual(s.rcpt("Dot@Remote.Test.")[0], 501)
            s.rset()

    def test_drop_mode_bdat_from_a_connector(self):
        # CHUNKING (RFC 3030) ends the same way, and a connector's
        # transaction on the mx listener is the tenant's as soon as it relays
        body = message("app@dropco.test", "bdat-dropped")
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=30, source_address=("127.0.0.7", 0)) as s:
            s.ehlo()
            s.mail("app@dropco.test")
            self.assertEqual(s.rcpt("gone@remote.test")[0], 250)
            s.send(b"BDAT %d LAST\r\n" % len(body) + body)
            code, text = s.getreply()
            self.assertEqual(code, 250, text)
            self.assertIn(b"not queued, every recipient is suppressed", text)
        self.assertRegex(self.f.log_text(), r"event=message-dropped sid=\d+ client=127\.0\.0\.7 ")

    def test_expiry(self):
        path = os.path.join(self.f.tmp, "exp.csv")
        with open(path, "w") as fh:
            fh.write("address,reason,expires\nold@remote.test,manual,1\n"
                     "later@remote.test,manual,%d\n" % (time.time() + 3600))
        self.f.ctl("suppression", "import", "acme", path)
        with self.session("acme") as s:
            s.ehlo()
            s.mail("news@acme.test")
            self.assertEqual(s.rcpt("old@remote.test")[0], 250)
            self.assertEqual(s.rcpt("later@remote.test")[0], 550)
            s.rset()
        # listed all the same, marked
        self.assertIn("(expired)", self.f.ctl("suppression", "list", "acme").stdout)

    def test_inbound_and_plain_relay_untouched(self):
        # alice@example.test is on acme's list: inbound mail to her is not acme's
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=30) as s:
            s.ehlo()
            s.mail("someone@elsewhere.test")
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            s.rset()
        # a relay_networks client (no tenant) to a recipient acme suppressed
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=30, source_address=("127.0.0.9", 0)) as s:
            s.ehlo()
            s.mail("app@elsewhere.test")
            self.assertEqual(s.rcpt("bob@remote.test")[0], 250)
            s.rset()
        # acme's own connector on the mx listener: inbound mail to a hosted
        # mailbox is not acme's, even in a transaction that also relays
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=30, source_address=("127.0.0.8", 0)) as s:
            s.ehlo()
            s.mail("someone@elsewhere.test")
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            s.rset()
            s.mail("news@acme.test")
            self.assertEqual(s.rcpt("x@far.test")[0], 250)
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            self.assertEqual(s.rcpt("bob@remote.test")[0], 550)
            s.rset()
        # another tenant's list is its own
        with self.session("dropco") as s:
            s.ehlo()
            s.mail("news@dropco.test")
            self.assertEqual(s.rcpt("bob@remote.test")[0], 250)
            s.rset()

    def test_database_error_is_451(self):
        self.f.sql("ALTER TABLE suppressions RENAME TO suppressions_away")
        try:
            with self.session("acme") as s:
                s.ehlo()
                s.mail("news@acme.test")
                code, text = s.rcpt("ok@remote.test")
                s.rset()
            self.assertEqual(code, 451, text)
            self.assertIn(b"4.3.0", text)
        finally:
            self.f.sql("ALTER TABLE suppressions_away RENAME TO suppressions")
        self.assertIn("event=suppression-lookup-failed", self.f.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
