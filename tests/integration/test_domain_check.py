"""`ferryctl domain check DOMAIN` against a real DNS server (unbound on
loopback). Tenants, domains and DKIM keys are made with ferryctl (tenant
add, domain add, domain rotate-key); each domain's zone is what `ferryctl
domain dns` prints, then broken in one way per domain: a DKIM record with
another key, no DMARC record, an SPF -all that excludes the pool, SPF
errors, and an SPF record that authorises the pool only through include:
(libspf2 must follow it through our DNS layer, not /etc/resolv.conf: the
system resolver knows no .test names). Also a tenant whose bounce domain's
MX is not this relay. The pool's addresses are TEST-NET ones: libspf2
passes loopback unconditionally, so loopback addresses would prove nothing."""
import os
import tempfile
import unittest

from dkimkeys import txt_record
from dnsserver import DnsServer
from ferrytest import Ferryd

HOST = "mx.ferry.test"      # Ferryd's hostname
POOL = ("192.0.2.10", "192.0.2.11", "2001:db8::25")
# domain -> tenant
DOMAINS = {"good.test": "acme", "badkey.test": "acme", "nodmarc.test": "acme",
           "inc.test": "acme", "fail.test": "acme", "perm.test": "acme", "temp.test": "acme",
           "beta.test": "beta"}
SPF = {
    "inc.test": "v=spf1 ip4:198.51.100.1 include:spf.other.test -all",
    "fail.test": "v=spf1 ip4:198.51.100.0/24 -all",
    # include: of a name that does not exist, of one whose server fails
    "perm.test": "v=spf1 include:nothing.test -all",
    "temp.test": "v=spf1 include:x.servfail.test -all",
}


def records(text):
    """`domain dns` output as [name, type, rdata] (comments dropped)."""
    out = []
    for line in text.splitlines():
        if not line.startswith(";"):
            name, cls, rtype, rdata = line.split(" ", 3)
            assert cls == "IN" and rtype in ("TXT", "MX"), line
            out.append([name.rstrip("."), rtype, rdata])
    return out


class DomainCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ferrycheck.")
        os.chmod(cls.tmp, 0o755)
        cls.extra = "state_db %s\npool p1\n%s" % (os.path.join(cls.tmp, "state.db"),
                                                 "".join("pool_address p1 %s\n" % a for a in POOL))
        cls.f = Ferryd(tmp=cls.tmp, extra=cls.extra)
        cls.f.ctl("tenant", "add", "acme", "--pool", "p1", "--bounce-domain", "bounce.good.test")
        cls.f.ctl("tenant", "add", "beta", "--pool", "p1", "--bounce-domain", "bounce.beta.test")
        for domain, tenant in DOMAINS.items():
            cls.f.ctl("domain", "add", tenant, domain)
        # rsa1/ed1 stop signing (still published while mail signed with them travels)
        for domain in ("good.test", "inc.test"):
            cls.f.ctl("domain", "rotate-key", domain)
        zone = {d: records(cls.f.ctl("domain", "dns", d).stdout) for d in DOMAINS}
        cls.zone_break(zone)
        lines = [txt_record("spf.other.test.", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")]
        for recs in zone.values():
            for name, rtype, rdata in recs:
                line = "%s. 300 IN %s %s" % (name, rtype, rdata)
                if line not in lines:       # the bounce domain's records repeat
                    lines.append(line)
        cls.dns = DnsServer(lines).start()
        # the same files, now asking the test zone's server
        cls.f = Ferryd(tmp=cls.tmp, extra=cls.extra, dns=cls.dns.servers)

    @classmethod
    def zone_break(cls, zone):
        """Break each domain's records in the one way its tests expect."""
        def find(domain, name, rtype="TXT"):
            return next(r for r in zone[domain] if r[0] == name and r[1] == rtype)

        # badkey.test's rsa1 record carries good.test's rsa2 key
        find("badkey.test", "rsa1._domainkey.badkey.test")[2] = \
            find("good.test", "rsa2._domainkey.good.test")[2]
        zone["nodmarc.test"].remove(find("nodmarc.test", "_dmarc.nodmarc.test"))
        # inc.test's retired ed1 is no longer published: fine
        zone["inc.test"].remove(find("inc.test", "ed1._domainkey.inc.test"))
        for domain, spf in SPF.items():
            find(domain, domain)[2] = '"%s"' % spf
        find("beta.test", "bounce.beta.test", "MX")[2] = "10 mx.elsewhere.test."

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
        findings = out[1:]
        self.assertTrue(out[0].startswith("domain good.test, tenant acme, source addresses (pools): "
                                          "192.0.2.10 192.0.2.11 2001:db8::25"), out)
        self.assertEqual(rc, 0, "\n".join(out))
        self.assertTrue(all(l.startswith("ok ") for l in findings), "\n".join(out))
        for ip in POOL:
            self.assertTrue(self.lines(out, "ok", "spf good.test %s: pass" % ip), out)
            self.assertTrue(self.lines(out, "ok", "bounce spf bounce.good.test %s: pass" % ip), out)
        for sel in ("rsa2", "ed2"):
            self.assertTrue(self.lines(out, "ok", "dkim %s._domainkey.good.test: " % sel), out)
        for sel in ("rsa1", "ed1"):
            self.assertTrue(self.lines(out, "ok", "dkim %s._domainkey.good.test: " % sel), out)
            self.assertTrue(self.lines(out, "ok", "%s._domainkey.good.test: " % sel)[0]
                            .endswith("(not signing)"), out)
        self.assertTrue(self.lines(out, "ok", "dmarc _dmarc.good.test: p=none"), out)
        self.assertTrue(self.lines(out, "ok", "dmarc dkim alignment: signatures carry d=good.test"),
                        out)
        self.assertTrue(self.lines(out, "ok", "dmarc spf alignment: return path domain "
                                   "bounce.good.test (tenant's bounce domain, VERP) aligns"), out)
        self.assertTrue(self.lines(out, "ok", "bounce mx bounce.good.test: MX 10 " + HOST), out)
        self.assertEqual(len(findings), 3 + 4 + 3 + 1 + 3, out)

    def test_wrong_dkim_key(self):
        rc, out = self.check("badkey.test")
        self.assertEqual(rc, 1)
        self.assertTrue(self.lines(out, "wrong", "dkim rsa1._domainkey.badkey.test: p= is a "
                                   "different key"), out)
        self.assertTrue(self.lines(out, "ok", "dkim ed1._domainkey.badkey.test"), out)
        self.assertEqual(len([l for l in out[1:] if not l.startswith("ok ")]), 1, out)

    def test_missing_dmarc(self):
        rc, out = self.check("nodmarc.test")
        self.assertEqual(rc, 1)
        self.assertTrue(self.lines(out, "missing", "dmarc _dmarc.nodmarc.test"), out)
        self.assertEqual(len([l for l in out[1:] if not l.startswith("ok ")]), 1, out)

    def test_spf_pass_through_include(self):
        rc, out = self.check("inc.test")
        self.assertEqual(rc, 0, "\n".join(out))
        for ip in POOL:
            self.assertTrue(self.lines(out, "ok", "spf inc.test %s: pass" % ip), out)
        # SPF does not align (bounce.good.test is not under inc.test); DKIM does
        self.assertTrue(self.lines(out, "ok", "does not align with inc.test"), out)
        self.assertTrue(self.lines(out, "ok", "ed1._domainkey.inc.test: not signing; not "
                                   "published"), out)

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
        self.assertEqual(len([l for l in out[1:] if not l.startswith("ok ")]), 1, out)

    def test_pool_missing_from_config(self):
        state_db = self.extra.splitlines()[0]
        try:
            Ferryd(tmp=self.tmp, extra=state_db, dns=self.dns.servers)     # no pool p1
            rc, out = self.check("good.test")
        finally:
            Ferryd(tmp=self.tmp, extra=self.extra, dns=self.dns.servers)
        self.assertEqual(rc, 1)
        self.assertTrue(self.lines(out, "wrong", "pool: p1 (the tenant's or a connector's) is not "
                                   "in the configuration"), out)
        self.assertTrue(self.lines(out, "missing", "spf good.test: no source address"), out)

    def test_unknown_domain(self):
        r = self.f.ctl("domain", "check", "nowhere.test", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no tenant has domain nowhere.test", r.stderr)


if __name__ == "__main__":
    unittest.main()
