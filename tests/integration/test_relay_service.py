"""The relay service end to end, as a hosting provider uses it (issue 4,
"done means"): two tenants, each with its domain, DKIM keys, IP pool and API
key, created with ferryctl; each sends over SMTP AUTH on the submission port.
Each tenant's mail is signed with its own keys and verifies (python3-dkim
against a real DNS server serving what `ferryctl domain dns` printed),
leaves from its own pool's addresses within their warm-up caps, is held to
its rate limit with 451 4.7.1, and neither tenant can send as the other."""
import re
import smtplib
import time
import unittest

import dkim

from dkimkeys import dns_txt_func
from dnsserver import DnsServer
from ferrytest import Ferryd, wait_for
from receiver import Receiver

ACME_POOL = {"127.0.0.2": "o2.ferry.test", "127.0.0.3": "o3.ferry.test"}
GLOBEX_POOL = {"127.0.0.4": "o4.ferry.test", "127.0.0.5": "o5.ferry.test"}
GLOBEX_CAP = 2          # warm-up: day 1 cap of each globex address
ACME_PER_HOUR = 6


def zone_lines(text):
    """`ferryctl domain dns` output (zone-file lines, ';' comments) as
    unbound local-data lines."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        out.append(line)
    return out


def message(frm, to, subject, body="Hello.\r\n"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%f@test>\r\n\r\n%s"
            % (frm, to, subject, subject.replace(" ", "-"), time.time(), body)).encode()


class RelayServiceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        pools = ["pool p-acme", "pool p-globex"]
        for ip, ehlo in ACME_POOL.items():
            pools.append("pool_address p-acme %s ehlo=%s" % (ip, ehlo))
        for ip, ehlo in GLOBEX_POOL.items():
            pools.append("pool_address p-globex %s ehlo=%s warmup=%d,100" % (ip, ehlo, GLOBEX_CAP))
        # DNS first (empty), so ferryd's dns_servers can name it; records are
        # added once ferryctl has made the keys.
        cls.f = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                       extra="route * smtp:127.0.0.1:%d\n%s\n" % (cls.rx.port, "\n".join(pools)))
        cls.f.start()
        f = cls.f
        f.ctl("tenant", "add", "acme", "--pool", "p-acme")
        f.ctl("tenant", "add", "globex", "--pool", "p-globex")
        f.ctl("domain", "add", "acme", "acme.test")
        f.ctl("domain", "add", "globex", "globex.test")
        f.ctl("tenant", "limit", "acme", "--per-hour", str(ACME_PER_HOUR))
        cls.keys = {t: f.ctl("key", "create", t).stdout.splitlines()[0].strip()
                    for t in ("acme", "globex")}
        records = zone_lines(f.ctl("domain", "dns", "acme.test").stdout) + \
            zone_lines(f.ctl("domain", "dns", "globex.test").stdout)
        cls.dnsserver = DnsServer(records).start()
        cls.dnsfunc = staticmethod(dns_txt_func(cls.dnsserver.port))
        cls.sent = {"acme": 0, "globex": 0}

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()
        cls.dnsserver.stop()

    def session(self, tenant):
        s = smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30)
        s.starttls()
        s.login("apikey", self.keys[tenant])
        return s

    def send(self, tenant, sender, frm, subject):
        with self.session(tenant) as s:
            s.sendmail(sender, ["rcpt@remote.test"], message(frm, "rcpt@remote.test", subject))
        self.sent[tenant] += 1

    def delivered(self, subject_prefix):
        return [m for m in list(self.rx.messages)
                if re.search(rb"Subject: " + subject_prefix.encode(), m["data"])]

    def test_1_each_tenant_signed_with_its_own_keys_from_its_own_pool(self):
        for i in range(4):
            self.send("acme", "news@acme.test", "Acme News <news@acme.test>", "acme %d" % i)
        self.assertTrue(wait_for(lambda: len(self.delivered("acme")) == 4), self.f.log_text()[-3000:])
        sources = set()
        for m in self.delivered("acme"):
            self.assertIn(m["peer"], ACME_POOL)
            self.assertEqual(m["helo"], ACME_POOL[m["peer"]])
            sources.add(m["peer"])
            sigs = re.findall(rb"^DKIM-Signature:.*?d=([a-z.]+);", m["data"], re.M | re.S)
            self.assertTrue(sigs and all(d == b"acme.test" for d in sigs), m["data"][:600])
            data = m["data"]
            nsig = len(re.findall(rb"^DKIM-Signature:", data, re.M))
            self.assertEqual(nsig, 2)      # RSA-2048 and Ed25519
            for i in range(nsig):
                self.assertTrue(dkim.verify(data, dnsfunc=self.dnsfunc) if i == 0 else
                                dkim.DKIM(data).verify(idx=i, dnsfunc=self.dnsfunc),
                                "signature %d does not verify" % i)
        self.assertEqual(sources, set(ACME_POOL))      # round-robin used both

    def test_2_warmup_caps_hold_the_rest(self):
        total = 2 * GLOBEX_CAP + 2
        for i in range(total):
            self.send("globex", "info@globex.test", "info@globex.test", "globex %d" % i)
        self.assertTrue(wait_for(lambda: len(self.delivered("globex")) == 2 * GLOBEX_CAP),
                        self.f.log_text()[-3000:])
        self.assertTrue(wait_for(lambda: "warm-up" in self.f.log_text()), self.f.log_text()[-3000:])
        time.sleep(1)
        got = self.delivered("globex")
        self.assertEqual(len(got), 2 * GLOBEX_CAP)    # no more than the caps
        per_addr = {}
        for m in got:
            self.assertIn(m["peer"], GLOBEX_POOL)
            per_addr[m["peer"]] = per_addr.get(m["peer"], 0) + 1
            self.assertIn(b"d=globex.test", m["data"])
            self.assertTrue(dkim.verify(m["data"], dnsfunc=self.dnsfunc))
        self.assertEqual(per_addr, {ip: GLOBEX_CAP for ip in GLOBEX_POOL})
        # the rest waits in the queue: deferred, never bounced
        self.assertEqual(len(self.f.queue_files()), 2)
        self.assertNotIn("event=bounced", self.f.log_text())

    def test_3_neither_tenant_can_send_as_the_other(self):
        with self.session("acme") as s:
            code, msg = s.mail("ceo@globex.test")
            self.assertEqual(code, 550, msg)
            self.assertIn(b"5.7.1", msg)
            s.rset()
            code, _ = s.mail("news@acme.test")
            self.assertEqual(code, 250)
            s.rcpt("rcpt@remote.test")
            code, msg = s.data(message("CEO <ceo@globex.test>", "rcpt@remote.test", "spoof"))
            self.assertEqual(code, 550, msg)
            self.assertIn(b"5.7.1", msg)
        with self.session("globex") as s:
            code, msg = s.mail("news@acme.test")
            self.assertEqual(code, 550, msg)

    def test_4_rate_limit_answers_451_with_limit_and_reset(self):
        # Fill acme's hour (test 1 used some of it); a refusal must come at
        # the limit. An hour boundary passed during the test resets the
        # window: then start again.
        for _attempt in range(2):
            hour = int(time.time()) // 3600
            refused = None
            for i in range(ACME_PER_HOUR + 1):
                with self.session("acme") as s:
                    code, msg = s.mail("news@acme.test")
                    if code == 250:
                        s.rcpt("rcpt@remote.test")
                        code, msg = s.data(message("news@acme.test", "rcpt@remote.test",
                                                   "rate %d" % i))
                    if code != 250:
                        refused = (i, code, msg)
                        break
            if int(time.time()) // 3600 == hour:
                break
        self.assertIsNotNone(refused, "no refusal after %d messages" % (ACME_PER_HOUR + 1))
        _i, code, msg = refused
        self.assertEqual(code, 451, msg)
        self.assertIn(b"4.7.1", msg)
        self.assertIn(str(ACME_PER_HOUR).encode(), msg)
        self.assertIn(b"UTC", msg)
        want = "%d/%d" % (ACME_PER_HOUR, ACME_PER_HOUR)
        self.assertTrue(wait_for(lambda: want in self.f.ctl("tenant", "show", "acme").stdout, 10),
                        self.f.ctl("tenant", "show", "acme").stdout)


if __name__ == "__main__":
    unittest.main()
