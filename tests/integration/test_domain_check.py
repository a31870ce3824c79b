"""`ferryctl domain check DOMAIN` against a real DNS server (unbound on
loopback) serving one good sender domain and domains that are each broken
in one way: a DKIM record with another key, no DMARC record, an SPF -all
that excludes the pool's addresses, and an SPF record that authorises the
pool only through include: (libspf2 must follow it through our DNS layer,
not /etc/resolv.conf). Also a tenant whose bounce domain's MX is not this
relay. The pool's addresses are TEST-NET ones (libspf2 passes loopback
unconditionally, so loopback addresses would prove nothing)."""
import os
import sqlite3
import tempfile
import time
import unittest

from dkimkeys import make_key, txt_record
from dnsserver import DnsServer
from ferrytest import Ferryd

HOST = "mx.ferry.test"      # Ferryd's hostname
POOL = ("192.0.2.10", "192.0.2.11")


def txt(name, value):
    return txt_record(name + ".", value)


class DomainCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ferrycheck.")
        os.chmod(cls.tmp, 0o755)
        rsa, rsa_txt = make_key(cls.tmp, "rsa1.pem", "RSA")
        ed, ed_txt = make_key(cls.tmp, "ed1.pem", "ED25519")
        old, old_txt = make_key(cls.tmp, "old.pem", "ED25519")
        _, other_txt = make_key(cls.tmp, "other.pem", "RSA")
        cls.keys = [("rsa1", "rsa-sha256", rsa, 1), ("ed1", "ed25519-sha256", ed, 1),
                    ("old1", "ed25519-sha256", old, 0)]
        good_spf = "v=spf1 ip4:%s ip4:%s -all" % POOL
        records = [
            # the tenant's bounce domain (VERP return paths): MX here, SPF passes
            "bounce.good.test. 300 IN MX 10 %s." % HOST,
            txt("bounce.good.test", "v=spf1 ip4:192.0.2.0/24 -all"),
            # a second tenant whose bounce domain's MX is some other host
            "bounce.beta.test. 300 IN MX 10 mx.elsewhere.test.",
            txt("bounce.beta.test", good_spf),
            txt("spf.other.test", "v=spf1 ip4:192.0.2.0/24 -all"),
        ]
        spf = {"good.test": good_spf, "badkey.test": good_spf, "nodmarc.test": good_spf,
               "inc.test": "v=spf1 ip4:198.51.100.1 include:spf.other.test -all",
               "fail.test": "v=spf1 ip4:198.51.100.0/24 -all", "beta.test": good_spf,
               # include: of a name that does not exist, of one whose server fails
               "perm.test": "v=spf1 include:nothing.test -all",
               "temp.test": "v=spf1 include:x.servfail.test -all"}
        for d, s in spf.items():
            records.append(txt(d, s))
            records.append(txt("rsa1._domainkey." + d, other_txt if d == "badkey.test" else rsa_txt))
            records.append(txt("ed1._domainkey." + d, ed_txt))
            # the retired selector stays published on good.test only
            if d == "good.test":
                records.append(txt("old1._domainkey." + d, old_txt))
            if d != "nodmarc.test":
                records.append(txt("_dmarc." + d, "v=DMARC1; p=reject; rua=mailto:d@" + d))
        cls.dns = DnsServer(records)
        cls.dns.start()
        cls.db = os.path.join(cls.tmp, "state.db")
        cls.f = Ferryd(tmp=cls.tmp, dns=cls.dns.servers, extra="state_db %s\npool p1\n%s" % (
            cls.db, "".join("pool_address p1 %s\n" % ip for ip in POOL)))
        # the first run creates the state database (and knows no domain yet)
        r = cls.f.ctl("domain", "check", "good.test", check=False)
        assert r.returncode == 1 and "not a sender domain" in r.stderr, r.stderr
        cls.state_fill(spf)

    @classmethod
    def state_fill(cls, spf):
        """Tenants, domains and DKIM keys as `ferryctl domain add` makes them."""
        now = int(time.time())
        with sqlite3.connect(cls.db) as db:
            acme = db.execute("INSERT INTO tenants(name, pool, bounce_domain, created)"
                              " VALUES ('acme', 'p1', 'bounce.good.test', ?)", (now,)).lastrowid
            beta = db.execute("INSERT INTO tenants(name, pool, bounce_domain, created)"
                              " VALUES ('beta', 'p1', 'bounce.beta.test', ?)", (now,)).lastrowid
            for d in spf:
                did = db.execute("INSERT INTO domains(tenant_id, name, created) VALUES (?, ?, ?)",
                                 (beta if d == "beta.test" else acme, d, now)).lastrowid
                for sel, algo, path, signing in cls.keys:
                    db.execute("INSERT INTO dkim_keys(domain_id, selector, algo, path, signing,"
                               " created) VALUES (?, ?, ?, ?, ?, ?)",
                               (did, sel, algo, path, signing, now))

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def check(self, domain):
        r = self.f.ctl("domain", "check", domain, check=False)
        self.assertEqual(r.stderr, "", r.stderr)
        return r.returncode, r.stdout.splitlines()

    def lines(self, out, status, what):
        return [l for l in out if l.split()[0] == status and what in l]

    def test_good_domain_all_ok(self):
        rc, out = self.check("good.test")
        findings = [l for l in out if not l.startswith("domain ")]
        self.assertEqual(rc, 0, "\n".join(out))
        self.assertTrue(all(l.startswith("ok ") for l in findings), "\n".join(out))
        for ip in POOL:
            self.assertTrue(self.lines(out, "ok", "spf good.test %s: pass" % ip), out)
            self.assertTrue(self.lines(out, "ok", "bounce spf bounce.good.test %s: pass" % ip), out)
        for sel in ("rsa1", "ed1"):
            self.assertTrue(self.lines(out, "ok", "dkim %s._domainkey.good.test: " % sel), out)
        self.assertTrue(self.lines(out, "ok", "old1._domainkey.good.test: ed25519-sha256 key "
                                   "matches"), out)
        self.assertTrue(self.lines(out, "ok", "dmarc _dmarc.good.test: p=reject"), out)
        self.assertTrue(self.lines(out, "ok", "dmarc spf alignment: return path domain "
                                   "bounce.good.test"), out)
        self.assertTrue(self.lines(out, "ok", "bounce mx bounce.good.test: MX 10 " + HOST), out)

    def test_wrong_dkim_key(self):
        rc, out = self.check("badkey.test")
        self.assertEqual(rc, 1)
        self.assertTrue(self.lines(out, "wrong", "dkim rsa1._domainkey.badkey.test: p= is a "
                                   "different key"), out)
        self.assertTrue(self.lines(out, "ok", "dkim ed1._domainkey.badkey.test"), out)
        # a retired selector that is no longer published is fine
        self.assertTrue(self.lines(out, "ok", "old1._domainkey.badkey.test: not signing"), out)

    def test_missing_dmarc(self):
        rc, out = self.check("nodmarc.test")
        self.assertEqual(rc, 1)
        self.assertTrue(self.lines(out, "missing", "dmarc _dmarc.nodmarc.test"), out)
        self.assertEqual(len([l for l in out if not l.startswith(("ok ", "domain "))]), 1, out)

    def test_spf_pass_through_include(self):
        rc, out = self.check("inc.test")
        self.assertEqual(rc, 0, "\n".join(out))
        for ip in POOL:
            self.assertTrue(self.lines(out, "ok", "spf inc.test %s: pass" % ip), out)

    def test_spf_all_excludes_pool(self):
        rc, out = self.check("fail.test")
        self.assertEqual(rc, 1)
        for ip in POOL:
            self.assertTrue(self.lines(out, "wrong", "spf fail.test %s: fail" % ip), out)

    def test_spf_errors(self):
        for domain, result in (("perm.test", "permerror"), ("temp.test", "temperror")):
            rc, out = self.check(domain)
            self.assertEqual(rc, 1)
            for ip in POOL:
                self.assertTrue(self.lines(out, "wrong", "spf %s %s: %s" % (domain, ip, result)), out)

    def test_bounce_mx_elsewhere(self):
        rc, out = self.check("beta.test")
        self.assertEqual(rc, 1)
        self.assertTrue(self.lines(out, "wrong", "bounce mx bounce.beta.test: MX mx.elsewhere.test "
                                   "is not this relay"), out)
        # bounce.beta.test is under beta.test: SPF aligns
        self.assertTrue(self.lines(out, "ok", "dmarc spf alignment: return path domain "
                                   "bounce.beta.test"), out)

    def test_unknown_domain(self):
        r = self.f.ctl("domain", "check", "nowhere.test", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a sender domain", r.stderr)


if __name__ == "__main__":
    unittest.main()
