"""Fairness between tenants on one destination site (issue 9): tenant A
queues a backlog of 200 messages, then tenant B queues 10, all to one site
that takes one connection at a time. Within the site's queue the tenants
take turns, so B's ten do not wait behind A's whole backlog.

Only the order of arrival at the receiver is asserted. The receiver holds
the first DATA until both tenants have queued everything, so the order
depends on the scheduler alone, not on how fast mail was submitted.
A first-in-first-out engine delivers all of A's 200 first and fails."""
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for
from sinks import Sink

NA, NB = 200, 10


class OneSiteTest(unittest.TestCase):
    """One site on one connection, its first DATA held; tenants TENANTS."""
    TENANTS = ()

    def setUp(self):
        self.rx = Sink(name="fair.test", dot_delay=0.02)
        self.rx.hold_data()
        self.f = Ferryd(deliver=True, extra=(
            "retry_min 1\nretry_max 2\ndestination_concurrency 1\n"
            "route fair.test smtp:127.0.0.1:%d tls=none\n") % self.rx.port).start()
        self.keys = {t: self.f.tenant_add(t) for t in self.TENANTS}

    def tearDown(self):
        self.rx.stop()
        self.f.stop()

    def submit(self, tenant, n):
        self.f.submit(tenant, self.keys[tenant], "news@%s.test" % tenant,
                      ["%s-%d@fair.test" % (tenant, i) for i in range(n)])


class FairnessTest(OneSiteTest):
    TENANTS = ("tenanta", "tenantb")

    def test_small_tenant_not_starved_by_a_backlog(self):
        self.submit("tenanta", NA)
        # A's first message holds the only connection, parked at DATA
        self.assertTrue(wait_for(lambda: self.rx.parked == 1, timeout=60), self.f.log_text()[-2000:])
        self.submit("tenantb", NB)
        self.rx.release()
        self.assertTrue(self.rx.wait(NA + NB, timeout=300),
                        "%d of %d arrived; log:\n%s" % (self.rx.count(), NA + NB, self.f.log_text()[-3000:]))
        order = [m["sender"].split("@")[1].split(".")[0] for m in self.rx.snapshot()]
        self.assertEqual((order.count("tenanta"), order.count("tenantb")), (NA, NB))
        b_last = max(i for i, t in enumerate(order) if t == "tenantb")
        a_before = order[:b_last].count("tenanta")
        print("\nB's last message arrived %d-th, after %d of A's %d" % (b_last + 1, a_before, NA))
        self.assertLess(a_before, NA // 2, "tenant B waited behind A's backlog: %s"
                        % "".join(t[-1] for t in order))
        self.assertLessEqual(self.rx.max_active, 1)


class WeightedFairnessTest(OneSiteTest):
    """Tenants take turns in proportion to their weight (`ferryctl tenant
    set NAME --weight N`): with heavy at 3 and light at 1 both backlogged on
    one connection, heavy gets three messages through for each of light's.
    Only the order is asserted: of the first 40 after both queued, heavy has
    at least twice light's count (3:1 gives 30:10; equal turns 20:20)."""

    N = 40
    TENANTS = ("heavy", "light")

    def setUp(self):
        super().setUp()
        for bad in ("0", "101", "-1", "x"):     # refused before anything changes
            r = self.f.ctl("tenant", "set", "heavy", "--pool", "", "--weight", bad, check=False)
            self.assertNotEqual(r.returncode, 0, bad)
        self.f.ctl("tenant", "set", "heavy", "--weight", "3")
        self.assertIn("weight:        3", self.f.ctl("tenant", "show", "heavy").stdout)

    def test_heavy_tenant_gets_three_turns_for_one(self):
        self.submit("heavy", self.N + 1)
        self.assertTrue(wait_for(lambda: self.rx.parked == 1, timeout=60), self.f.log_text()[-2000:])
        self.submit("light", self.N)
        self.rx.release()
        self.assertTrue(self.rx.wait(2 * self.N + 1, timeout=300),
                        "%d arrived; log:\n%s" % (self.rx.count(), self.f.log_text()[-3000:]))
        order = [m["sender"].split("@")[1].split(".")[0] for m in self.rx.snapshot()]
        window = order[1:1 + self.N]         # after heavy's first, held one
        heavy, light = window.count("heavy"), window.count("light")
        print("\nfirst %d after both queued: heavy %d, light %d" % (self.N, heavy, light))
        self.assertGreaterEqual(heavy, 2 * light, "".join(t[0] for t in order))
        self.assertGreater(light, 0, "light starved: %s" % "".join(t[0] for t in order))


if __name__ == "__main__":
    ferrytest.main()
