"""Delivery for tenants, driven as a customer would: tenants made with
ferryctl, mail submitted over SMTP AUTH with each tenant's API key, and a
scripted receiver (receiver.py) recording where each message came from.

Checked: each tenant's mail leaves only from its own IP pool's addresses,
round-robin spreads over them and the EHLO name follows the address; a
weighted pool spreads by weight; a pool missing from the configuration
defers (never another address); a warm-up cap keeps the rest queued
(deferred, not bounced, also past max_queue_lifetime) until an address with
room takes over; a provider's
connections=1 is never exceeded and its rate defers; every tenant's mail is
DKIM-signed with its own domain's keys (verified by python3-dkim against the
records `ferryctl domain dns` prints, served by unbound); the return path is
b+TOKEN@<bounce domain> with a token that authenticates; a suspended
tenant's queued mail goes to hold/ and leaves after `tenant resume`."""
import base64
import collections
import hashlib
import hmac
import os
import re
import smtplib
import unittest

import dkim

from dkimkeys import dns_txt_func
from dnsserver import DnsServer
from ferrytest import Ferryd, tls_context, wait_for
from receiver import Receiver

P1 = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
P2 = ["127.0.0.5", "127.0.0.6", "127.0.0.7"]
EHLO = {a: "out%s.ferry.test" % a.split(".")[-1] for a in P1 + P2}

# name -> (pool, bounce domain or None, sending domain)
TENANTS = {
    "acme": ("p1", "bounce.acme.test", "acme.test"),
    "beta": ("p2", None, "beta.test"),
    "gamma": ("pw", None, "gamma.test"),
    "delta": ("warm", None, "delta.test"),
    "eps": ("p2", None, "eps.test"),          # suspended and resumed
    "zeta": ("gone", None, "zeta.test"),      # its pool leaves the configuration
}


def zone_to_local_data(lines):
    """`ferryctl domain dns` prints zone-file lines; unbound wants
    "name TTL IN TYPE DATA". Only the TXT records matter here."""
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        m = re.match(r"^(\S+)\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+(.*)$", line)
        if m:
            out.append("%s 300 IN TXT %s" % (m.group(1), m.group(2)))
    return out


class PoolsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.rxp = Receiver("127.0.0.20")        # provider "big": connections=1
        cls.rxs = Receiver("127.0.0.21")        # provider "slow": rate=2
        pools = ["pool p1", "pool p2", "pool pw select=weighted", "pool warm", "pool gone",
                 "pool_address gone 127.0.0.14"]
        pools += ["pool_address p1 %s ehlo=%s" % (a, EHLO[a]) for a in P1]
        pools += ["pool_address p2 %s ehlo=%s" % (a, EHLO[a]) for a in P2]
        pools += ["pool_address pw 127.0.0.8 weight=3", "pool_address pw 127.0.0.9 weight=1",
                  "pool_address warm 127.0.0.11 warmup=3"]
        routes = ["route %s.prov.test smtp:127.0.0.20:%d" % (d, cls.rxp.port) for d in "abcd"]
        routes += ["route slow.test smtp:127.0.0.21:%d" % cls.rxs.port,
                   "route * smtp:127.0.0.1:%d" % cls.rx.port,
                   "provider big 127.0.0.20 connections=1",
                   "provider slow 127.0.0.21 rate=2"]
        cls.f = Ferryd(deliver=True, extra="\n".join(pools + routes + ["delivery_threads 4"]) + "\n")
        cls.f.start()
        cls.keys, cls.ids, records = {}, {}, []
        for name, (pool, bounce, domain) in TENANTS.items():
            args = ["tenant", "add", name, "--pool", pool]
            if bounce:
                args += ["--bounce-domain", bounce]
            cls.f.ctl(*args)
            cls.keys[name] = cls.f.ctl("key", "create", name).stdout.splitlines()[0].strip()
            cls.f.ctl("domain", "add", name, domain)
            records += zone_to_local_data(cls.f.ctl("domain", "dns", domain).stdout.splitlines())
        for name in TENANTS:
            cls.ids[name] = cls.f.sql("SELECT id FROM tenants WHERE name = ?", (name,))[0][0]
        cls.dnsserver = DnsServer(records).start()
        cls.dnsfunc = staticmethod(dns_txt_func(cls.dnsserver.port))

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.dnsserver.stop()
        for r in (cls.rx, cls.rxp, cls.rxs):
            r.stop()

    def send(self, tenant, rcpts, subject="test", local="news"):
        """Submit one message as tenant: SMTP AUTH with its API key."""
        domain = TENANTS[tenant][2]
        sender = "%s@%s" % (local, domain)
        msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%s@%s>\r\n\r\nhello from %s\r\n"
               % (sender, rcpts[0], subject, subject, os.urandom(4).hex(), domain, tenant)).encode()
        with smtplib.SMTP("127.0.0.1", self.f.submission) as s:
            s.starttls(context=tls_context())
            s.login(tenant, self.keys[tenant])
            s.sendmail(sender, rcpts, msg)
        return sender

    def received(self, rx, prefix):
        """Messages rx took whose first recipient starts with prefix."""
        with rx.lock:
            return [m for m in rx.messages if m["rcpts"] and m["rcpts"][0].startswith(prefix)]

    def wait_received(self, rx, prefix, n, timeout=30):
        self.assertTrue(wait_for(lambda: len(self.received(rx, prefix)) >= n, timeout),
                        "%d of %d %s* messages arrived; log:\n%s" % (
                            len(self.received(rx, prefix)), n, prefix, self.f.log_text()[-3000:]))
        return self.received(rx, prefix)

    # ---- pools ------------------------------------------------------------------

    def test_each_tenant_leaves_from_its_own_pool_round_robin(self):
        for i in range(6):
            self.send("acme", ["rr-acme-%d@remote.test" % i])
            self.send("beta", ["rr-beta-%d@remote.test" % i])
        acme = self.wait_received(self.rx, "rr-acme-", 6)
        beta = self.wait_received(self.rx, "rr-beta-", 6)
        self.assertTrue(all(m["peer"] in P1 for m in acme), [m["peer"] for m in acme])
        self.assertTrue(all(m["peer"] in P2 for m in beta), [m["peer"] for m in beta])
        # round-robin: six messages over three addresses use every one of them
        self.assertEqual(set(m["peer"] for m in acme), set(P1))
        self.assertEqual(set(m["peer"] for m in beta), set(P2))
        for m in acme + beta:
            self.assertEqual(m["helo"], EHLO[m["peer"]], m)

    def test_weighted_pool_spreads_by_weight(self):
        for i in range(12):
            self.send("gamma", ["w-gamma-%d@remote.test" % i])
        got = collections.Counter(m["peer"] for m in self.wait_received(self.rx, "w-gamma-", 12))
        self.assertEqual(set(got), {"127.0.0.8", "127.0.0.9"}, got)
        # weights 3:1 give 9:3 exactly; allow slack, but the heavy one must lead clearly
        self.assertGreaterEqual(got["127.0.0.8"], 7, got)
        self.assertGreaterEqual(got["127.0.0.9"], 1, got)
        # no EHLO configured: the host name
        self.assertTrue(all(m["helo"] == "mx.ferry.test" for m in self.received(self.rx, "w-gamma-")))

    def test_warmup_cap_defers_then_second_address_takes_over(self):
        for i in range(5):
            self.send("delta", ["warm-%d@remote.test" % i])
        first = self.wait_received(self.rx, "warm-", 3)
        self.assertTrue(wait_for(lambda: "reason=warmup-cap" in self.f.log_text()))
        self.assertTrue(wait_for(lambda: len(re.findall(r"event=deferred .*to=\"warm-.*reason=warmup-cap",
                                                        self.f.log_text())) >= 2 and
                                 "event=warmup-cap pool=warm addr=127.0.0.11" in self.f.log_text()))
        log = self.f.log_text()
        self.assertIn("every address reached its warm-up cap for today", log)
        self.assertNotIn("event=bounced", log)
        self.assertEqual(len(self.received(self.rx, "warm-")), 3)
        self.assertTrue(all(m["peer"] == "127.0.0.11" for m in first))
        queued = self.f.ctl("queue", "list").stdout
        self.assertEqual(len(re.findall(r"warm-\d@", queued)), 2, queued)
        # an address with room joins the pool: the rest leaves from it
        reloads = self.f.log_text().count("event=reloaded")
        with open(self.f.conf, "a") as conf:
            conf.write("pool_address warm 127.0.0.12\n")
        self.f.hup()
        self.assertTrue(wait_for(lambda: self.f.log_text().count("event=reloaded") > reloads))
        self.f.ctl("queue", "flush")
        got = self.wait_received(self.rx, "warm-", 5)
        self.assertEqual(sorted(m["peer"] for m in got), ["127.0.0.11"] * 3 + ["127.0.0.12"] * 2)

    def test_pool_missing_from_configuration_defers(self):
        with open(self.f.conf) as conf:
            lines = [l for l in conf if " gone" not in l]
        with open(self.f.conf, "w") as conf:
            conf.writelines(lines)
        reloads = self.f.log_text().count("event=reloaded")
        self.f.hup()
        self.assertTrue(wait_for(lambda: self.f.log_text().count("event=reloaded") > reloads))
        self.send("zeta", ["gone-0@remote.test"])
        self.assertTrue(wait_for(lambda: "event=pool-unknown" in self.f.log_text()), self.f.log_text()[-2000:])
        deferred = re.compile(r"event=deferred .*to=\"gone-0@remote.test\".*4\.3\.5 IP pool gone"
                              r" is not configured.*reason=pool-unknown")
        self.assertTrue(wait_for(lambda: deferred.search(self.f.log_text())), self.f.log_text()[-2000:])
        self.assertEqual(self.received(self.rx, "gone-"), [])

    # ---- providers ----------------------------------------------------------------

    def test_provider_connections_shared_by_its_domains(self):
        for i in range(8):
            self.send("acme", ["prov-%d@%s.prov.test" % (i, "abcd"[i % 4])])
        self.wait_received(self.rxp, "prov-", 8)
        self.assertEqual(self.rxp.max_active, 1)

    def test_provider_rate_defers_without_bounce(self):
        for i in range(5):
            self.send("beta", ["rate-%d@slow.test" % i])
        self.wait_received(self.rxs, "rate-", 2)
        self.assertTrue(wait_for(lambda: "provider slow: rate limit 2/min" in self.f.log_text()),
                        self.f.log_text()[-2000:])
        self.assertIn("reason=provider-rate", self.f.log_text())
        # within two minute windows at most four of the five can have gone
        self.assertLessEqual(len(self.received(self.rxs, "rate-")), 4)
        self.assertNotIn("rate-", "".join(l for l in self.f.log_text().splitlines() if "event=bounced" in l))

    # ---- DKIM and return path ------------------------------------------------------

    def test_dkim_with_each_tenants_own_keys(self):
        self.send("acme", ["dkim-acme@remote.test"])
        self.send("beta", ["dkim-beta@remote.test"])
        for tenant in ("acme", "beta"):
            data = self.wait_received(self.rx, "dkim-%s" % tenant, 1)[0]["data"]
            sigs = [l for l in data.split(b"\r\n") if l.startswith(b"DKIM-Signature:")]
            self.assertGreaterEqual(len(sigs), 1, data[:600])
            d = dkim.DKIM(data)
            for idx in range(len(sigs)):
                self.assertTrue(d.verify(idx=idx, dnsfunc=self.dnsfunc), "%s signature %d" % (tenant, idx))
            domains = set(re.findall(rb"\bd=([^;\s]+)", b"".join(sigs)))
            self.assertEqual(domains, {TENANTS[tenant][2].encode()})

    def test_verp_return_path_one_transaction_per_recipient(self):
        self.send("acme", ["verp-0@remote.test", "verp-1@remote.test"])
        got = self.wait_received(self.rx, "verp-", 2)
        secret = bytes(self.f.sql("SELECT value FROM meta WHERE key = 'verp_secret'")[0][0])
        seen = set()
        for m in got:
            self.assertEqual(len(m["rcpts"]), 1)
            local, _, domain = m["sender"].rpartition("@")
            self.assertEqual(domain, "bounce.acme.test")
            tm = re.match(r"^b\+(\d+)-([0-9a-f]{16})-(\d+)-([a-z2-7]{16})-([a-z2-7]{6})$", local)
            self.assertIsNotNone(tm, m["sender"])
            tenant, qid, idx, mac, rmac = tm.groups()
            self.assertEqual(int(tenant), self.ids["acme"])
            want = hmac.new(secret, ("%s-%s-%s" % (tenant, qid, idx)).encode(), hashlib.sha256).digest()[:10]
            self.assertEqual(mac, base64.b32encode(want).decode().lower())
            # bound to the recipient's address (verp.h)
            bound = hmac.new(secret, ("rcpt:%s-%s-%s:%s" % (tenant, qid, idx, m["rcpts"][0].lower())).encode(),
                             hashlib.sha256).digest()[:5]
            self.assertEqual(rmac, base64.b32encode(bound).decode().lower()[:6])
            self.assertEqual(m["rcpts"][0], "verp-%s@remote.test" % idx)
            seen.add(idx)
        self.assertEqual(seen, {"0", "1"})
        # a tenant without a bounce domain keeps its own return path
        self.send("beta", ["noverp@remote.test"])
        self.assertEqual(self.wait_received(self.rx, "noverp", 1)[0]["sender"], "news@beta.test")

    # ---- suspension ------------------------------------------------------------------

    def test_suspended_tenants_mail_held_then_delivered_on_resume(self):
        # The receiver defers these for now, so they wait in the queue.
        self.rx.set("rcpt", lambda cmd: "450 4.2.0 later" if "held-" in cmd else "250 2.1.5 ok")
        try:
            for i in range(2):
                self.send("eps", ["held-%d@remote.test" % i])
            self.assertTrue(wait_for(lambda: len(re.findall(r"event=deferred .*to=\"held-",
                                                            self.f.log_text())) >= 2))
            self.f.ctl("tenant", "suspend", "eps")
            self.f.ctl("queue", "flush")
            self.assertTrue(wait_for(lambda: self.f.log_text().count("reason=\"tenant suspended\"") >= 2),
                            self.f.log_text()[-2000:])
            self.assertIn("event=held id=", self.f.log_text())
            self.assertEqual(len(os.listdir(os.path.join(self.f.spool, "hold"))), 2)
            self.assertNotIn("event=bounced", self.f.log_text())
        finally:
            self.rx.clear()
        self.f.ctl("tenant", "resume", "eps")
        got = self.wait_received(self.rx, "held-", 2)
        self.assertTrue(all(m["peer"] in P2 for m in got))
        self.assertEqual(os.listdir(os.path.join(self.f.spool, "hold")), [])


class WarmupLifetimeTest(unittest.TestCase):
    """A warm-up cap never bounces, however long the mail waits: here the
    queue lifetime is one second and retries come every second."""

    def test_capped_mail_outlives_max_queue_lifetime(self):
        rx = Receiver("127.0.0.1")
        f = Ferryd(deliver=True, extra="pool slow\npool_address slow 127.0.0.13 warmup=1\n"
                   "route * smtp:127.0.0.1:%d\nmax_queue_lifetime 1\nretry_min 1\nretry_max 1\n" % rx.port)
        f.start()
        try:
            f.ctl("tenant", "add", "slowco", "--pool", "slow")
            key = f.ctl("key", "create", "slowco").stdout.splitlines()[0].strip()
            f.ctl("domain", "add", "slowco", "slowco.test")
            with smtplib.SMTP("127.0.0.1", f.submission) as s:
                s.starttls(context=tls_context())
                s.login("slowco", key)
                for i in range(3):
                    s.sendmail("a@slowco.test", ["life-%d@remote.test" % i],
                               b"From: a@slowco.test\r\nSubject: %d\r\n\r\nx\r\n" % i)
            self.assertTrue(rx.wait(1))
            # retried past the lifetime, still deferred for the cap, never bounced
            self.assertTrue(wait_for(lambda: re.search(r"event=deferred .*attempts=[3-9].*reason=warmup-cap",
                                                       f.log_text()) is not None), f.log_text()[-2000:])
            log = f.log_text()
            self.assertNotIn("event=bounced", log)
            self.assertNotIn("4.4.7", log)
            self.assertEqual(len(rx.messages), 1)
            self.assertEqual(len(re.findall(r"life-\d@", f.ctl("queue", "list").stdout)), 2)
        finally:
            f.stop()
            rx.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
