"""Tenants on the wire: SMTP AUTH with tenant accounts and API keys,
connectors, sender lockdown (MAIL FROM and From:), suspension, rate limits,
recipients per message and return-path tokens, against a live ferryd with
real clients (smtplib, swaks)."""
import os
import shutil
import smtplib
import subprocess
import time
import unittest

import ferrytest
from ferrytest import Ferryd, verp_local


def tls_session(f, user, password):
    """A submission session after STARTTLS and AUTH PLAIN; raises
    smtplib.SMTPAuthenticationError when AUTH is refused."""
    s = smtplib.SMTP("127.0.0.1", f.submission, local_hostname="client.test", timeout=30)
    s.starttls(context=ferrytest.tls_context())
    s.ehlo("client.test")
    s.user, s.password = user, password
    try:
        s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
    except Exception:
        s.close()
        raise
    return s


def auth_refusal(f, user, password):
    """The (code, text) of a refused AUTH, or None when it succeeded."""
    try:
        tls_session(f, user, password).quit()
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code, e.smtp_error.decode()
    return None


def message(from_lines, subject="test"):
    hdr = "".join("From: %s\r\n" % x for x in from_lines)
    return hdr + "To: someone@far.test\r\nSubject: %s\r\n\r\nhello\r\n" % subject


def transaction(s, mail_from, rcpts, body):
    """MAIL, RCPTs, DATA; stops at the first refusal. Returns (code, text)."""
    s.ehlo_or_helo_if_needed()
    code, text = s.mail(mail_from)
    if code != 250:
        s.rset()
        return code, text.decode()
    for r in rcpts:
        code, text = s.rcpt(r)
        if code != 250:
            s.rset()
            return code, text.decode()
    code, text = s.data(body)
    return code, text.decode()


def swaks(*args):
    return subprocess.run(["swaks", "--silent", "1", "--timeout", "20"] + list(args),
                          capture_output=True, text=True, timeout=60)


class TenantsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("swaks") is None:
            raise AssertionError("swaks missing: run scripts/setup.sh")
        cls.f = f = Ferryd().start()
        f.user_add("bob@example.test", "bob-pass")
        cls.keys = {}
        for t in ("acme", "globex", "umbrella", "hooli", "initech", "bouncy"):
            f.ctl("tenant", "add", t)
            f.ctl("domain", "add", t, t + ".test")
            f.ctl("account", "add", "--password-stdin", t, t + "-user", input="pw-%s\n" % t)
            cls.keys[t] = f.ctl("key", "create", t).stdout.splitlines()[0]
        f.ctl("account", "add", "--password-stdin", "acme", "alice", input="pw\n")
        f.ctl("domain", "add", "acme", "acme-group.test", "--subdomains")
        f.ctl("connector", "add", "acme", "printers", "127.0.0.5/32")
        f.ctl("tenant", "limit", "hooli", "--per-minute", "3")
        f.ctl("tenant", "limit", "initech", "--rcpts", "2")
        f.ctl("tenant", "set", "bouncy", "--bounce-domain", "rp.bouncy.test")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def sql(self, query, args=()):
        # on SQLite or PostgreSQL, whichever the Ferryd's state is on
        return self.f.sql(query, args)

    sql_write = sql

    def tenant_id(self, name):
        return self.sql("SELECT id FROM tenants WHERE name = ?", (name,))[0][0]

    def spool_entry(self, reply):
        qid = reply.rsplit(" ", 1)[-1]
        return ferrytest.read_spool_file(os.path.join(self.f.spool, "queue", qid))

    # --- AUTH -----------------------------------------------------------

    def test_auth_account_and_key(self):
        s = tls_session(self.f, "alice", "pw")
        code, text = transaction(s, "alice@acme.test", ["x@far.test"], message(["alice@acme.test"]))
        s.quit()
        self.assertEqual(code, 250, text)
        self.assertEqual(self.spool_entry(text)["G"], str(self.tenant_id("acme")))
        for user in ("apikey", "acme"):
            s = tls_session(self.f, user, self.keys["acme"])
            code, text = transaction(s, "news@acme.test", ["x@far.test"], message(["news@acme.test"]))
            s.quit()
            self.assertEqual(code, 250, text)
        self.assertIn("event=auth", self.f.log_text())
        self.assertIn("result=ok tenant=acme as=key", self.f.log_text())

    def test_auth_refusals(self):
        self.assertEqual(auth_refusal(self.f, "alice", "wrong")[0], 535)
        # A key with another tenant's name as the user is refused.
        self.assertEqual(auth_refusal(self.f, "globex", self.keys["acme"])[0], 535)
        key = self.f.ctl("key", "create", "globex").stdout.splitlines()[0]
        self.assertIsNone(auth_refusal(self.f, "apikey", key))
        self.f.ctl("key", "revoke", "globex", key[:15])
        self.assertEqual(auth_refusal(self.f, "apikey", key)[0], 535)

    def test_auth_with_swaks(self):
        r = swaks("--server", "127.0.0.1:%d" % self.f.submission, "--tls", "--auth", "LOGIN",
                  "--auth-user", "apikey", "--auth-password", self.keys["globex"],
                  "--from", "ops@globex.test", "--to", "x@far.test",
                  "--header", "From: Ops <ops@globex.test>")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = swaks("--server", "127.0.0.1:%d" % self.f.submission, "--tls", "--auth", "PLAIN",
                  "--auth-user", "apikey", "--auth-password", self.keys["globex"],
                  "--from", "ops@acme.test", "--to", "x@far.test")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("550 5.7.1 Sender <ops@acme.test> is not in a domain of tenant globex",
                      r.stdout + r.stderr)

    def test_users_file_user_unrestricted(self):
        s = tls_session(self.f, "bob@example.test", "bob-pass")
        code, text = transaction(s, "bob@anything.test", ["x@far.test"], message(["x@globex.test"]))
        s.quit()
        self.assertEqual(code, 250, text)
        self.assertNotIn("G", self.spool_entry(text))

    # --- sender lockdown ------------------------------------------------

    def test_mail_from_domain_case(self):
        # Domains compare case-insensitively: MAIL FROM in capitals, From:
        # in lowercase, both the tenant's; another tenant's in capitals is not.
        s = tls_session(self.f, "alice", "pw")
        code, text = transaction(s, "alice@ACME.Test", ["x@far.test"], message(["alice@acme.test"]))
        self.assertEqual(code, 250, text)
        code, text = transaction(s, "alice@GLOBEX.TEST", ["x@far.test"], message(["alice@acme.test"]))
        s.quit()
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1 Sender <alice@globex.test> is not in a domain of tenant acme", text)

    def test_mail_from_domains(self):
        s = tls_session(self.f, "alice", "pw")
        code, text = transaction(s, "alice@globex.test", ["x@far.test"], message(["alice@acme.test"]))
        self.assertEqual(code, 550)
        self.assertIn("5.7.1 Sender <alice@globex.test> is not in a domain of tenant acme", text)
        # Subdomains only of a domain added with --subdomains.
        code, text = transaction(s, "a@sub.acme.test", ["x@far.test"], message(["a@acme.test"]))
        self.assertEqual(code, 550, text)
        code, text = transaction(s, "a@news.acme-group.test", ["x@far.test"],
                                 message(["a@news.acme-group.test"]))
        self.assertEqual(code, 250, text)
        # The null reverse-path names no domain.
        code, text = transaction(s, "<>", ["x@far.test"], message(["alice@acme.test"]))
        self.assertEqual(code, 250, text)
        s.quit()
        self.assertIn("event=tenant-refused", self.f.log_text())

    def test_from_header_refused(self):
        cases = [
            (['me@acme.test <x@globex.test>'], "x@globex.test"),
            (['x@globex.test (me@acme.test)'], "x@globex.test"),
            (['=?utf-8?q?me=40acme.test?= <x@globex.test>'], "x@globex.test"),
            (['me@acme.test, x@globex.test'], "x@globex.test"),
            (['team: me@acme.test, x@globex.test;'], "x@globex.test"),
            (['me@acme.test', 'me@acme.test'], "2 From: fields"),
            ([], "no From: field"),
            ([''], "empty or cannot be parsed"),
        ]
        s = tls_session(self.f, "alice", "pw")
        for from_lines, why in cases:
            n = len(self.f.queue_files())
            code, text = transaction(s, "alice@acme.test", ["x@far.test"], message(from_lines))
            self.assertEqual(code, 550, (from_lines, text))
            self.assertIn("5.7.1", text)
            self.assertIn(why, text)
            self.assertEqual(len(self.f.queue_files()), n, from_lines)
        s.quit()

    def test_from_header_odd_forms_refused(self):
        """Forms GMime reads leniently or readers may take for a From: field:
        each carries a globex address that must not go out as acme's."""
        bodies = [
            b"From: alice@acme.test; x@globex.test\r\n\r\nhi\r\n",
            b"From: x@globex.test <alice@acme.test>\r\n\r\nhi\r\n",
            b'From: alice@acme.test, "x@globex.test\r\n\r\nhi\r\n',
            b"From: alice@acme.test, [x@globex.test\r\n\r\nhi\r\n",
            b" From: x@globex.test\r\nFrom: alice@acme.test\r\n\r\nhi\r\n",
            b"From: alice@acme.test\r\nFrom\r\n : x@globex.test\r\n\r\nhi\r\n",
            b"From: alice@acme.test\r\nFr\0om: x@globex.test\r\n\r\nhi\r\n",
        ]
        s = tls_session(self.f, "alice", "pw")
        for body in bodies:
            n = len(self.f.queue_files())
            code, text = transaction(s, "alice@acme.test", ["x@far.test"], body)
            self.assertEqual(code, 550, (body, text))
            self.assertIn("5.7.1", text)
            self.assertEqual(len(self.f.queue_files()), n, body)
        # Still fine: a quoted display name, a route (no address), folding.
        for body in (b'From: "x@globex.test" <alice@acme.test>\r\n\r\nhi\r\n',
                     b"From: <@globex.test:alice@acme.test>\r\n\r\nhi\r\n",
                     b"From\r\n : alice@acme.test\r\n\r\nhi\r\n"):
            code, text = transaction(s, "alice@acme.test", ["x@far.test"], body)
            self.assertEqual(code, 250, (body, text))
        s.quit()

    def test_subdomain_owned_by_other_tenant(self):
        """acme's acme-group.test covers its subdomains, but not one that
        globex owns: the most specific domain decides."""
        self.f.ctl("domain", "add", "globex", "gx.acme-group.test")
        s = tls_session(self.f, "alice", "pw")
        code, text = transaction(s, "a@gx.acme-group.test", ["x@far.test"],
                                 message(["a@acme.test"]))
        self.assertEqual(code, 550, text)
        self.assertIn("not in a domain of tenant acme", text)
        for frm in ("a@gx.acme-group.test", "a@GX.acme-group.test", "a@deep.gx.acme-group.test"):
            code, text = transaction(s, "a@acme.test", ["x@far.test"], message([frm]))
            self.assertEqual(code, 550, (frm, text))
        code, text = transaction(s, "a@other.acme-group.test", ["x@far.test"],
                                 message(["a@other.acme-group.test"]))
        self.assertEqual(code, 250, text)
        s.quit()
        s = tls_session(self.f, "globex-user", "pw-globex")
        code, text = transaction(s, "a@gx.acme-group.test", ["x@far.test"],
                                 message(["a@gx.acme-group.test"]))
        s.quit()
        self.assertEqual(code, 250, text)

    def test_idn_sender_domain(self):
        """An IDN domain is added as its A-label; SMTPUTF8 mail names it by
        its U-label in MAIL FROM and From: alike. Another tenant cannot."""
        self.f.ctl("domain", "add", "globex", "xn--bcher-kva.test")
        body = "From: a@b\u00fccher.test\r\nSubject: idn\r\n\r\nhi\r\n".encode()
        for user, pw, want in (("globex-user", "pw-globex", 250), ("initech-user", "pw-initech", 550)):
            s = tls_session(self.f, user, pw)
            code, text = s.mail("a@b\u00fccher.test", ["SMTPUTF8"])
            if code == 250:
                self.assertEqual(s.rcpt("x@far.test")[0], 250)
                code, text = s.data(body)
            s.quit()
            self.assertEqual(code, want, (user, text))

    def test_from_header_accepted(self):
        s = tls_session(self.f, "alice", "pw")
        for from_lines in (['"ceo@globex.test" <me@acme.test>'], ['me@acme.test (x@globex.test)'],
                           ['=?utf-8?q?Caf=C3=A9?= <me@acme.test>'], ['Me <me@ACME.test>'],
                           ['me@acme.test,\r\n\tyou@acme.test']):
            code, text = transaction(s, "alice@acme.test", ["x@far.test"], message(from_lines))
            self.assertEqual(code, 250, (from_lines, text))
            self.assertEqual(self.spool_entry(text)["G"], str(self.tenant_id("acme")))
        s.quit()

    def test_bdat_from_checked(self):
        s = tls_session(self.f, "alice", "pw")
        for from_line, want in (("x@globex.test", 550), ("alice@acme.test", 250)):
            n = len(self.f.queue_files())
            self.assertEqual(s.mail("alice@acme.test")[0], 250)
            self.assertEqual(s.rcpt("x@far.test")[0], 250)
            first, rest = "From: " + from_line, "\r\nSubject: chunks\r\n\r\nhi\r\n"
            s.send(("BDAT %d\r\n" % len(first) + first).encode())
            self.assertEqual(s.getreply()[0], 250)
            s.send(("BDAT %d LAST\r\n" % len(rest) + rest).encode())
            code, text = s.getreply()
            self.assertEqual(code, want, text)
            self.assertEqual(len(self.f.queue_files()), n + (want == 250))
            if want != 250:
                s.rset()
        s.quit()

    def test_header_section_bounded(self):
        s = tls_session(self.f, "alice", "pw")
        big = "".join("X-Filler-%d: %s\r\n" % (i, "y" * 900) for i in range(300))
        code, text = transaction(s, "alice@acme.test", ["x@far.test"],
                                 "From: alice@acme.test\r\n" + big + "\r\nbody\r\n")
        self.assertEqual(code, 552, text)
        self.assertIn("5.3.4 Header section larger than 262144 octets", text)
        # The same size in the body is fine: only the header section is kept.
        code, text = transaction(s, "alice@acme.test", ["x@far.test"],
                                 "From: alice@acme.test\r\n\r\n" + big)
        s.quit()
        self.assertEqual(code, 250, text)

    def test_from_header_names_address_and_tenant(self):
        s = tls_session(self.f, "alice", "pw")
        code, text = transaction(s, "alice@acme.test", ["x@far.test"],
                                 message(['"alice@acme.test" <boss@globex.test>']))
        s.quit()
        self.assertEqual(code, 550)
        self.assertIn("From: address <boss@globex.test> is not in a domain of tenant acme", text)

    # --- suspension -----------------------------------------------------

    def test_suspended_tenant(self):
        s = tls_session(self.f, "umbrella-user", "pw-umbrella")
        code, text = transaction(s, "a@umbrella.test", ["x@far.test"], message(["a@umbrella.test"]))
        self.assertEqual(code, 250, text)
        self.f.ctl("tenant", "suspend", "umbrella", "--reason", "abuse")
        code, text = transaction(s, "a@umbrella.test", ["x@far.test"], message(["a@umbrella.test"]))
        s.quit()
        self.assertEqual(code, 550)
        self.assertIn("5.7.1 Tenant umbrella is suspended: abuse", text)
        code, text = auth_refusal(self.f, "umbrella-user", "pw-umbrella")
        self.assertEqual(code, 535)
        self.assertIn("5.7.1 Tenant umbrella is suspended: abuse", text)
        self.assertEqual(auth_refusal(self.f, "apikey", self.keys["umbrella"])[0], 535)
        self.assertIn("result=suspended tenant=umbrella", self.f.log_text())

    # --- connectors -----------------------------------------------------

    def test_connector(self):
        s = smtplib.SMTP("127.0.0.1", self.f.mx, local_hostname="printer.test", timeout=30,
                         source_address=("127.0.0.5", 0))
        code, text = transaction(s, "scan@acme.test", ["x@far.test"], message(["scan@acme.test"]))
        self.assertEqual(code, 250, text)
        self.assertEqual(self.spool_entry(text)["G"], str(self.tenant_id("acme")))
        code, text = transaction(s, "scan@globex.test", ["x@far.test"], message(["scan@acme.test"]))
        self.assertEqual(code, 550, text)
        code, text = transaction(s, "scan@acme.test", ["x@far.test"], message(["x@globex.test"]))
        self.assertEqual(code, 550, text)
        s.quit()
        s = smtplib.SMTP("127.0.0.1", self.f.mx, local_hostname="other.test", timeout=30,
                         source_address=("127.0.0.6", 0))
        code, text = transaction(s, "scan@acme.test", ["x@far.test"], message(["scan@acme.test"]))
        s.quit()
        self.assertEqual(code, 554, text)
        self.assertIn("5.7.1", text)
        self.assertIn("connector=printers", self.f.log_text())

    def test_connector_inbound_mail_stays_inbound(self):
        # On the mx listener a connector's client also delivers ordinary
        # inbound mail to hosted mailboxes: that is not the tenant sending
        # (no lockdown, no tenant record, not counted); relaying is.
        s = smtplib.SMTP("127.0.0.1", self.f.mx, local_hostname="printer.test", timeout=30,
                         source_address=("127.0.0.5", 0))
        code, text = transaction(s, "someone@elsewhere.test", ["alice@example.test"],
                                 message(["Someone <someone@elsewhere.test>"]))
        self.assertEqual(code, 250, text)
        self.assertNotIn("G", self.spool_entry(text))
        code, text = transaction(s, "someone@elsewhere.test", ["alice@example.test", "x@far.test"],
                                 message(["someone@elsewhere.test"]))
        self.assertEqual(code, 550, text)
        self.assertIn("not in a domain of tenant acme", text)
        code, text = transaction(s, "scan@acme.test", ["alice@example.test", "x@far.test"],
                                 message(["x@globex.test"]))
        self.assertEqual(code, 550, text)      # relaying: the From: lockdown applies
        code, text = transaction(s, "scan@acme.test", ["alice@example.test", "x@far.test"],
                                 message(["scan@acme.test"]))
        self.assertEqual(code, 250, text)
        self.assertEqual(self.spool_entry(text)["G"], str(self.tenant_id("acme")))
        s.quit()

    # --- limits ---------------------------------------------------------

    def test_rate_limit(self):
        # Three per minute: stay clear of a minute boundary so the window
        # does not reset halfway (not a timing assertion, a precondition).
        if time.gmtime().tm_sec >= 45:
            time.sleep(61 - time.gmtime().tm_sec)
        s = tls_session(self.f, "hooli-user", "pw-hooli")
        late = tls_session(self.f, "apikey", self.keys["hooli"])
        for i in range(2):
            code, text = transaction(s, "a@hooli.test", ["x@far.test"], message(["a@hooli.test"]))
            self.assertEqual(code, 250, text)
        # Two sessions pass MAIL with one message left; only one gets it.
        self.assertEqual(s.mail("a@hooli.test")[0], 250)
        self.assertEqual(late.mail("a@hooli.test")[0], 250)
        self.assertEqual(s.rcpt("x@far.test")[0], 250)
        self.assertEqual(late.rcpt("x@far.test")[0], 250)
        self.assertEqual(s.data(message(["a@hooli.test"]))[0], 250)
        n = len(self.f.queue_files())
        code, text = late.data(message(["a@hooli.test"]))
        self.assertEqual(code, 451, text)
        self.assertEqual(len(self.f.queue_files()), n)
        late.quit()
        code, text = transaction(s, "a@hooli.test", ["x@far.test"], message(["a@hooli.test"]))
        s.quit()
        self.assertEqual(code, 451, text)
        self.assertRegex(text, r"4\.7\.1 Rate limit reached: tenant hooli may send 3 messages per "
                               r"minute; resets at \d\d:\d\d:00 UTC \(in \d+ s\)")
        # Usage is persisted once a second.
        self.assertTrue(ferrytest.wait_for(
            lambda: "minute 3/3" in self.f.ctl("tenant", "show", "hooli").stdout, timeout=10),
            self.f.ctl("tenant", "show", "hooli").stdout)

    def test_rcpts_limit(self):
        s = tls_session(self.f, "initech-user", "pw-initech")
        self.assertEqual(s.mail("a@initech.test")[0], 250)
        self.assertEqual(s.rcpt("x1@far.test")[0], 250)
        self.assertEqual(s.rcpt("x2@far.test")[0], 250)
        code, text = s.rcpt("x3@far.test")
        self.assertEqual(code, 452)
        self.assertIn("4.5.3 Too many recipients: tenant initech allows 2 per message", text.decode())
        code, text = s.data(message(["a@initech.test"]))
        s.quit()
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.spool_entry(text.decode())["rcpts"]), 2)

    # --- return-path tokens ---------------------------------------------

    def test_return_path_tokens(self):
        tid = self.tenant_id("bouncy")
        secret = self.sql("SELECT value FROM meta WHERE key = 'verp_secret'")[0][0]
        good = verp_local(secret, tid, "0123ABCD0123ABCD", 2) + "@rp.bouncy.test"
        forged = verp_local(secret, tid, "0123ABCD0123ABCE", 2)
        # The last MAC character changed (to 'a', or 'b' when it is an 'a').
        forged = forged[:-1] + ("b" if forged[-1] == "a" else "a") + "@rp.bouncy.test"
        other = verp_local(secret, self.tenant_id("acme"), "0123ABCD0123ABCD", 2) + "@rp.bouncy.test"
        n = len(self.f.queue_files())
        s = smtplib.SMTP("127.0.0.1", self.f.mx, local_hostname="remote-mta.test", timeout=30)
        s.ehlo()
        for addr in (forged, other, "b+junk@rp.bouncy.test", "postmaster@rp.bouncy.test"):
            self.assertEqual(s.mail("<>")[0], 250)
            code, text = s.rcpt(addr)
            self.assertEqual(code, 550, addr)
            self.assertIn("5.1.1 Unknown or forged return-path address", text.decode())
            s.rset()
        self.assertEqual(s.mail("<>")[0], 250)
        self.assertEqual(s.rcpt(good.upper().replace("B+", "b+"))[0], 250)
        code, text = s.rcpt("alice@example.test")
        self.assertEqual(code, 452)
        self.assertIn("4.5.3", text.decode())
        code, text = s.data("From: MAILER-DAEMON@remote-mta.test\r\nSubject: failure\r\n\r\nbounced\r\n")
        s.quit()
        self.assertEqual(code, 250, text)
        # attributed, and queued as a report for the feedback loop (delivery is
        # off here), never as mail to deliver
        self.assertEqual(len(self.f.queue_files()), n + 1)
        env = self.spool_entry(text.decode())
        self.assertEqual(env.get("r"), "1")
        self.assertNotIn("G", env)
        rows = self.sql("SELECT tenant_id, queue_id, rcpt_index, sender, client FROM bounces")
        self.assertEqual(rows, [(tid, "0123ABCD0123ABCD", 2, "", "127.0.0.1")])
        self.assertIn("event=bounce-attributed tenant=bouncy queue_id=0123ABCD0123ABCD rcpt_index=2"
                      " client=127.0.0.1", self.f.log_text())

    def test_return_path_report_from_tenant_session(self):
        # A report sent in a tenant's session is recorded like any other:
        # no From: check applies to it (it is not relayed as the tenant's).
        tid = self.tenant_id("bouncy")
        secret = self.sql("SELECT value FROM meta WHERE key = 'verp_secret'")[0][0]
        good = verp_local(secret, tid, "0123ABCD0123ABCF", 1) + "@rp.bouncy.test"
        self.addCleanup(self.sql_write, "DELETE FROM bounces WHERE queue_id = '0123ABCD0123ABCF'")
        s = tls_session(self.f, "alice", "pw")
        code, text = transaction(s, "<>", [good], "Subject: no from\r\n\r\nbounced\r\n")
        s.quit()
        self.assertEqual(code, 250, text)
        rows = self.sql("SELECT tenant_id, rcpt_index FROM bounces WHERE queue_id = '0123ABCD0123ABCF'")
        self.assertEqual(rows, [(tid, 1)])


if __name__ == "__main__":
    ferrytest.main()
