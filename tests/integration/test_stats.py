"""Delivery statistics end to end (src/analytics/): a tenant sends through
ferryd to a Python receiver that takes some recipients and refuses others
with 550 5.1.1; `ferryctl stats TENANT --by domain` then shows per
destination domain what was sent, delivered and bounced, `--by category`
the bounces under the classifier's category, `--bounces` the failing domain
with its rate and the receiver's own reply as sample, `--json` the same
numbers, another tenant sees none of them, and a bad --by or --since is a
usage error. The same over HTTP: GET /v1/stats and /v1/stats/bounces with
the tenant's key, the admin token for a tenant or all, another tenant's key
seeing nothing of it, and 400 for a bad parameter."""
import json
import time
import unittest

from ferrytest import Ferryd, wait_for
from receiver import Receiver

SAMPLE = "550 5.1.1 no such mailbox here (stats-test)"
GOOD = ["g%d@good.test" % i for i in range(3)]
MIXED = ["ok%d@mixed.test" % i for i in range(2)] + ["bad%d@Mixed.TEST" % i for i in range(2)]


def refuse_bad(cmd):
    return SAMPLE if "<bad" in cmd.lower() else "250 2.1.5 ok"


def table(text):
    """ferryctl's tab-separated listing as dicts keyed by its header."""
    lines = [ln for ln in text.splitlines() if ln]
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]


class StatsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.rx.set("rcpt", refuse_bad)
        cls.f = f = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                           extra="route * smtp:127.0.0.1:%d\n" % cls.rx.port, http=True)
        f.start()
        cls.key = f.tenant_add("acme")
        cls.other_key = f.tenant_add("other")
        f.submit("apikey", cls.key, "news@acme.test", GOOD + MIXED)

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()

    def stats(self, *args):
        return self.f.ctl("stats", *args).stdout

    def by_domain(self):
        return {r["DOMAIN"]: r for r in table(self.stats("acme", "--by", "domain"))}

    def test_1_by_domain(self):
        want = {"good.test": ("3", "3", "0"), "mixed.test": ("4", "2", "2")}
        got = lambda: {d: (r["SENT"], r["DELIVERED"], r["BOUNCED"]) for d, r in self.by_domain().items()}
        self.assertTrue(wait_for(lambda: got() == want, timeout=60),
                        "%s\n%s" % (got(), self.f.log_text()[-3000:]))
        self.assertEqual(self.by_domain()["mixed.test"]["COMPLAINED"], "0")

    def test_2_by_category_and_insights(self):
        self.assertTrue(wait_for(lambda: self.by_domain().get("mixed.test", {}).get("BOUNCED") == "2",
                                 timeout=60))
        cats = table(self.stats("acme", "--by", "category"))
        self.assertEqual([(c["CATEGORY"], c["BOUNCED"]) for c in cats], [("invalid-recipient", "2")])
        self.assertIn("stats-test", cats[0]["SAMPLE REPLY"])
        text = self.stats("acme", "--bounces", "--since", "7d")
        domains = table(text.split("\n\n")[0])
        self.assertEqual(domains[0]["DOMAIN"], "mixed.test")
        self.assertEqual((domains[0]["BOUNCED"], domains[0]["OUTCOMES"], domains[0]["RATE"]),
                         ("2", "4", "50.0%"))
        self.assertIn("stats-test", domains[0]["SAMPLE REPLY"])
        self.assertEqual(domains[0]["CATEGORY"], "invalid-recipient")
        self.assertEqual(len(domains), 1)                 # good.test never failed
        j = json.loads(self.stats("acme", "--bounces", "--json"))
        self.assertEqual(j["domains"][0]["domain"], "mixed.test")
        self.assertIn("stats-test", j["domains"][0]["sample_reply"])
        self.assertEqual(j["categories"][0]["category"], "invalid-recipient")

    def test_3_scopes_and_totals(self):
        self.assertTrue(wait_for(lambda: self.by_domain().get("good.test", {}).get("DELIVERED") == "3",
                                 timeout=60))
        j = json.loads(self.stats("acme", "--by", "hour", "--json"))
        self.assertEqual((j["totals"]["sent"], j["totals"]["delivered"], j["totals"]["bounced"]), (7, 5, 2))
        ips = table(self.stats("acme", "--by", "ip"))
        self.assertEqual(sum(int(r["DELIVERED"]) for r in ips), 5)
        self.assertEqual(table(self.stats("other", "--by", "domain")), [])
        everyone = {r["DOMAIN"]: r for r in table(self.stats("--by", "domain"))}
        self.assertEqual(everyone["mixed.test"]["BOUNCED"], "2")
        # a window in the past holds nothing
        self.assertEqual(table(self.stats("acme", "--since", "2020-01-01", "--until", "2020-01-02")), [])

    def test_4_usage_errors(self):
        self.assertEqual(self.f.ctl("stats", "--by", "site", check=False).returncode, 2)
        self.assertEqual(self.f.ctl("stats", "--since", "yesterday", check=False).returncode, 2)
        self.assertEqual(self.f.ctl("stats", "nobody", check=False).returncode, 1)

    def test_5_http(self):
        self.assertTrue(wait_for(lambda: self.by_domain().get("mixed.test", {}).get("BOUNCED") == "2",
                                 timeout=60))
        status, _, j = self.f.api("GET", "/v1/stats?by=domain&since=7d", token=self.key)
        self.assertEqual(status, 200, j)
        self.assertEqual(j["tenant"], "acme")
        rows = {r["domain"]: r for r in j["rows"]}
        self.assertEqual((rows["mixed.test"]["sent"], rows["mixed.test"]["delivered"],
                          rows["mixed.test"]["bounced"]), (4, 2, 2))
        self.assertEqual(j["totals"]["delivered"], 5)
        status, _, j = self.f.api("GET", "/v1/stats/bounces", token=self.key)
        self.assertEqual(status, 200, j)
        self.assertEqual(j["domains"][0]["domain"], "mixed.test")
        self.assertEqual(j["domains"][0]["rate"], 0.5)
        self.assertIn("stats-test", j["domains"][0]["sample_reply"])
        # another tenant's key sees none of it; the admin sees a tenant or all
        status, _, j = self.f.api("GET", "/v1/stats?by=domain", token=self.other_key)
        self.assertEqual((status, j["rows"]), (200, []))
        admin = self.f.admin_token()
        status, _, j = self.f.api("GET", "/v1/stats?by=category&tenant=acme", token=admin)
        self.assertEqual((status, j["tenant"]), (200, "acme"))
        self.assertEqual([(r["category"], r["bounced"]) for r in j["rows"]], [("invalid-recipient", 2)])
        status, _, j = self.f.api("GET", "/v1/stats", token=admin)
        self.assertEqual((status, j["tenant"], j["totals"]["sent"]), (200, None, 7))
        # bad parameters, no credential
        for q in ("by=site", "since=yesterday", "limit=0"):
            status, _, j = self.f.api("GET", "/v1/stats?" + q, token=self.key)
            self.assertEqual((status, j["error"]["code"]), (400, "bad_request"), q)
        self.assertEqual(self.f.api("GET", "/v1/stats")[0], 401)


if __name__ == "__main__":
    unittest.main()
