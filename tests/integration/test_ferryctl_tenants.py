"""ferryctl's relay-service administration against a running ferryd: tenants,
accounts, API keys, sender domains with generated DKIM keys, connectors,
limits, suspension; the state database and key files it writes (modes,
owners); `domain dns` output loaded into a real DNS server (unbound) and
checked by an independent DKIM verifier (python3-dkim) with messages signed
by the generated private keys; SMTP AUTH with an account and an API key."""
import base64
import os
import re
import smtplib
import stat
import subprocess
import unittest

import dkim
import dns.resolver
from cryptography.hazmat.primitives import serialization

from dnsserver import DnsServer
from ferrytest import STATE_PG, Ferryd, read_spool_file, tls_context

KEY_RE = re.compile(r"^fy_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")
POOL = "pool main\npool_address main 127.0.0.1\npool_address main ::1\n"


def zone_lines(text):
    """The records of `domain dns` output as unbound local-data lines; every
    line is a comment or one record."""
    out = []
    for line in text.splitlines():
        if line.startswith(";"):
            continue
        assert re.match(r"^\S+\. IN (TXT|MX) ", line), "not a record line: %r" % line
        out.append(line.replace(" IN ", " 300 IN ", 1))
    return out


class FerryctlTenantsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd(extra=POOL).start()
        cls.db = os.path.join(cls.f.spool, "ferry.db")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def state_dump(self):
        """Every byte of the state database: the SQLite file, or a pg_dump."""
        if STATE_PG:
            return subprocess.run(["pg_dump", "--data-only", self.f.pg], check=True,
                                  capture_output=True).stdout
        with open(self.db, "rb") as f:
            return f.read()

    def ctl(self, *args, **kw):
        return self.f.ctl(*args, **kw)

    def fails(self, *args, code=1, input=None):
        """Run a command that must fail with code and a message on stderr."""
        r = self.ctl(*args, check=False, input=input)
        self.assertEqual(r.returncode, code, (args, r.stdout, r.stderr))
        self.assertTrue(r.stderr.startswith("ferryctl: "), r.stderr)
        return r.stderr

    def test_tenant_lifecycle_and_limits(self):
        self.ctl("tenant", "add", "life", "--pool", "main")
        self.assertIn("already exists", self.fails("tenant", "add", "life"))
        self.assertIn("no pool", self.fails("tenant", "add", "life2", "--pool", "nosuch"))
        self.fails("tenant", "add", "bad/name")
        self.fails("tenant", "add", code=2)
        self.fails("tenant", "limit", "life", "--per-minute", "x", code=2)
        self.ctl("tenant", "limit", "life", "--per-minute", "10", "--per-day", "1000")
        self.ctl("tenant", "set", "life", "--bounce-domain", "Bounces.Life.Test")
        show = self.ctl("tenant", "show", "life").stdout
        self.assertIn("minute 0/10", show)
        self.assertIn("hour 0/none", show)
        self.assertIn("day 0/1000", show)
        self.assertIn("bounces.life.test", show)
        self.ctl("tenant", "suspend", "life", "--reason", "abuse report 42")
        self.assertIn("suspended: abuse report 42", self.ctl("tenant", "show", "life").stdout)
        self.assertRegex(self.ctl("tenant", "list").stdout, r"(?m)^life\tsuspended\t")
        # resume never fails for want of ferryd's release-tenant
        r = self.ctl("tenant", "resume", "life")
        self.assertRegex(r.stdout, r"released|queue release")
        self.assertIn("status:        active", self.ctl("tenant", "show", "life").stdout)
        self.ctl("tenant", "del", "life")
        self.assertIn("no tenant life", self.fails("tenant", "show", "life"))

    def test_accounts_and_keys(self):
        self.ctl("tenant", "add", "acct")
        self.ctl("tenant", "add", "acct2")
        self.ctl("account", "add", "acct", "u1", "--password-stdin", input="pw-one\n")
        self.assertIn("unique across tenants", self.fails(
            "account", "add", "acct2", "u1", "--password-stdin", input="x\n"))
        self.ctl("account", "limit", "acct", "u1", "--rcpts", "5")
        self.assertRegex(self.ctl("account", "list", "acct").stdout, r"(?m)^u1\t.*rcpts=5")
        r = self.ctl("key", "create", "acct", "--label", "ci runner")
        key = r.stdout.splitlines()[0]
        self.assertRegex(key, KEY_RE)
        self.assertIn("apikey", r.stdout)
        prefix = key[:15]
        self.assertRegex(self.ctl("key", "list", "acct").stdout,
                         r"(?m)^%s\t.*\tactive\tci runner$" % prefix)
        new = self.ctl("key", "rotate", "acct", prefix).stdout.splitlines()[0]
        self.assertRegex(new, KEY_RE)
        self.assertNotEqual(new, key)
        listing = self.ctl("key", "list", "acct").stdout
        self.assertRegex(listing, r"(?m)^%s\t.*\trevoked " % prefix)
        self.assertRegex(listing, r"(?m)^%s\t.*\tactive\tci runner$" % new[:15])
        self.assertIn("already revoked", self.fails("key", "revoke", "acct", prefix))
        self.fails("key", "revoke", "acct2", new[:15])
        # the database holds no key in clear and (a file) is not readable by others
        self.assertNotIn(new.encode(), self.state_dump())
        if not STATE_PG:
            self.assertEqual(stat.S_IMODE(os.stat(self.db).st_mode) & 0o077, 0)
        self.ctl("account", "del", "acct", "u1")
        self.fails("account", "del", "acct", "u1")

    def test_domains_keys_files(self):
        self.ctl("tenant", "add", "doms")
        self.ctl("tenant", "add", "doms2")
        out = self.ctl("domain", "add", "doms", "Files.Test").stdout
        self.assertIn("rsa1", out)
        self.assertIn("domain dns", out)
        err = self.fails("domain", "add", "doms2", "files.test")
        self.assertIn("belongs to tenant doms", err)
        self.fails("domain", "add", "doms", "not_a_domain")
        keydir = os.path.join(self.f.spool, "dkim", "files.test")
        # the keys' owner: the state file's, or (PostgreSQL) the spool's
        dbst = os.stat(self.f.spool if STATE_PG else self.db)
        for d in (os.path.dirname(keydir), keydir):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        for sel in ("rsa1", "ed1"):
            st = os.stat(os.path.join(keydir, sel + ".pem"))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual((st.st_uid, st.st_gid), (dbst.st_uid, dbst.st_gid))
        self.ctl("domain", "rotate-key", "files.test")
        self.assertEqual(sorted(os.listdir(keydir)), ["ed1.pem", "ed2.pem", "rsa1.pem", "rsa2.pem"])
        self.assertIn("still signs", self.fails("domain", "retire-key", "files.test", "rsa2"))
        self.ctl("domain", "retire-key", "files.test", "rsa1")
        self.assertEqual(sorted(os.listdir(keydir)), ["ed1.pem", "ed2.pem", "rsa2.pem"])
        self.assertRegex(self.ctl("domain", "list", "doms").stdout,
                         r"(?m)^files\.test\ttenant=doms\tsubdomains=no\tselectors=ed1\(retiring\),rsa2,ed2$")
        self.ctl("domain", "del", "doms", "files.test")
        self.assertFalse(os.path.exists(keydir))
        self.assertEqual(self.ctl("domain", "list", "doms").stdout, "")

    def test_connectors(self):
        self.ctl("tenant", "add", "conn")
        self.ctl("domain", "add", "conn", "conn.test")
        self.fails("connector", "add", "conn", "c1", "192.0.2.0/33")
        self.assertIn("not a domain of this tenant",
                      self.fails("connector", "add", "conn", "c1", "192.0.2.0/24",
                                 "--domains", "conn.test,other.test"))
        self.ctl("connector", "add", "conn", "c1", "192.0.2.0/24", "--domains", "Conn.Test",
                 "--pool", "main")
        self.ctl("connector", "limit", "conn", "c1", "--per-hour", "7")
        self.assertRegex(self.ctl("connector", "list", "conn").stdout,
                         r"(?m)^c1\ttenant=conn\tnetwork=192\.0\.2\.0/24\tdomains=conn\.test\t"
                         r"pool=main\t.*per-hour=7")
        self.ctl("connector", "del", "conn", "c1")
        self.assertEqual(self.ctl("connector", "list", "conn").stdout, "")

    def test_domain_dns_records_verify(self):
        self.ctl("tenant", "add", "dnst", "--pool", "main", "--bounce-domain", "bounce.dnst.test")
        self.ctl("domain", "add", "dnst", "dnst.test")
        text = self.ctl("domain", "dns", "dnst.test").stdout
        self.assertIn('dnst.test. IN TXT "v=spf1 ip4:127.0.0.1 ip6:::1 -all"', text)
        self.assertIn('_dmarc.dnst.test. IN TXT "v=DMARC1; p=none;', text)
        self.assertIn("bounce.dnst.test. IN MX 10 mx.ferry.test.", text)
        server = DnsServer(zone_lines(text)).start()
        try:
            res = dns.resolver.Resolver(configure=False)
            res.nameservers = ["127.0.0.1"]
            res.port = server.port

            def dnsfunc(name, timeout=5):
                answer = res.resolve(name.decode(), "TXT", lifetime=timeout)
                return b"".join(b"".join(r.strings) for r in answer)

            mx = res.resolve("bounce.dnst.test", "MX", lifetime=5)
            self.assertEqual(str(mx[0].exchange), "mx.ferry.test.")
            keydir = os.path.join(self.f.spool, "dkim", "dnst.test")
            msg = b"From: a@dnst.test\r\nTo: b@example.test\r\nSubject: s\r\n\r\nbody\r\n"
            heads = [b"from", b"to", b"subject"]
            with open(os.path.join(keydir, "rsa1.pem"), "rb") as fh:
                sig = dkim.sign(msg, b"rsa1", b"dnst.test", fh.read(), include_headers=heads)
            self.assertTrue(dkim.verify(sig + msg, dnsfunc=dnsfunc))
            with open(os.path.join(keydir, "ed1.pem"), "rb") as fh:
                k = serialization.load_pem_private_key(fh.read(), None)
            raw = k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption())
            sig = dkim.sign(msg, b"ed1", b"dnst.test", base64.b64encode(raw),
                            signature_algorithm=b"ed25519-sha256", include_headers=heads)
            self.assertTrue(dkim.verify(sig + msg, dnsfunc=dnsfunc))
            # a tampered message must fail against the same records
            self.assertFalse(dkim.verify(sig + msg.replace(b"body", b"b0dy"), dnsfunc=dnsfunc))
        finally:
            server.stop()

    def test_smtp_auth_account_and_key(self):
        self.ctl("tenant", "add", "authy")
        self.ctl("domain", "add", "authy", "authy.test")
        tid = re.search(r"\(id (\d+)\)", self.ctl("tenant", "show", "authy").stdout).group(1)
        self.ctl("account", "add", "authy", "authy-user", "--password-stdin", input="s3cret pw\n")
        key = self.ctl("key", "create", "authy").stdout.splitlines()[0]
        revoked = self.ctl("key", "create", "authy").stdout.splitlines()[0]
        self.ctl("key", "revoke", "authy", revoked[:15])
        for user, pw, ok in (("authy-user", "s3cret pw", True), ("authy-user", "wrong", False),
                             ("apikey", key, True), ("authy", key, True),
                             ("someone", key, False), ("apikey", revoked, False)):
            before = set(self.f.queue_files())
            with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
                s.starttls(context=tls_context())
                s.ehlo("client.test")
                if not ok:
                    with self.assertRaises(smtplib.SMTPAuthenticationError, msg=user):
                        s.login(user, pw)
                    continue
                self.assertEqual(s.login(user, pw)[0], 235, user)
                s.sendmail("app@authy.test", ["someone@remote.test"],
                           b"From: app@authy.test\r\nSubject: t\r\n\r\nhi\r\n")
            new = sorted(set(self.f.queue_files()) - before)
            self.assertEqual(len(new), 1, user)
            self.assertEqual(read_spool_file(new[0]).get("G"), tid, user)


if __name__ == "__main__":
    unittest.main()
