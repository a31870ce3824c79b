"""10,000 concurrent outbound connections in one ferryd (issue 9).

Ten smtp-sink processes on loopback ports, each the next hop of its own
route domain d0.test .. d9.test, answer DATA only after HOLD seconds, so
every delivery holds its connection that long. 1,000 messages per domain
are queued with delivery off (smtp-source), then ferryd is restarted with
delivery on, destination_concurrency 1000 and delivery_max_inflight 20000:
the ESTABLISHED connections from ferryd to the sinks (counted with ss)
must reach 10,000, then every message is delivered.

ferryd's RSS with the queue loaded and delivery off (a fresh process),
at the peak, and per connection are printed, not asserted (the test build runs under ASan; for
the figure without it: FERRY_BIN=build/release). The thread-per-delivery
engine fails here: it never has more connections than delivery_threads
(at most 1000). Takes about two minutes when it passes."""
import resource
import shutil
import subprocess
import time
import unittest

import ferrytest
from ferrytest import Ferryd, free_port, wait_for

NSINKS, PER = 10, 1000
N = NSINKS * PER
HOLD = 60           # seconds each sink waits before answering DATA


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def established(ports):
    """ESTABLISHED TCP connections whose destination is one of ports (the
    client side of each: ferryd's outbound connections)."""
    filt = "( " + " or ".join("dport = :%d" % p for p in ports) + " )"
    out = subprocess.run(["ss", "-Htn", "state", "established", filt], capture_output=True,
                         text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def raise_nofile(want):
    """Raise this process's (and so its children's) RLIMIT_NOFILE: root may
    go past the hard limit; otherwise up to it. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for lim in ((max(want, hard), max(want, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            return lim[0]
        except (ValueError, OSError):
            continue
    return soft


class OutboundScaleTest(unittest.TestCase):
    def setUp(self):
        for prog in ("smtp-sink", "smtp-source", "ss"):
            if shutil.which(prog) is None:
                self.fail("%s missing: run scripts/setup.sh" % prog)
        # ferryd holds one descriptor per connection (a queue file only
        # while its content is sent), each sink one per session
        if raise_nofile(2 * N) < N + 1000:
            self.skipTest("RLIMIT_NOFILE cannot be raised to %d" % (N + 1000))
        self.sinks, self.f = [], None
        self.ports = [free_port() for _ in range(NSINKS)]
        for p in self.ports:
            self.sinks.append(subprocess.Popen(
                ["smtp-sink", "-u", "nobody", "-m", str(PER + 100), "-w", str(HOLD),
                 "127.0.0.1:%d" % p, str(PER + 100)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in self.ports:
            ferrytest.wait_port(p)

    def tearDown(self):
        for s in self.sinks:        # first: ferryd need not wait for their replies
            s.kill()
            s.wait()
        if self.f is not None:
            self.f.stop()

    def test_ten_thousand_outbound_connections(self):
        routes = "".join("route d%d.test smtp:127.0.0.1:%d tls=none\n" % (i, p)
                         for i, p in enumerate(self.ports))
        self.f = f = Ferryd(relay_networks="127.0.0.0/8", listeners=("mx",), extra=(
            "destination_concurrency %d\ndelivery_max_inflight %d\n%s") % (PER, 2 * N, routes))
        f.start()
        t0 = time.time()
        # queue everything with delivery off
        loads = [subprocess.Popen(["smtp-source", "-s", "5", "-m", str(PER), "-l", "1024",
                                   "-f", "load@src.test", "-t", "rcpt@d%d.test" % i,
                                   "127.0.0.1:%d" % f.mx], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for i in range(NSINKS)]
        for p in loads:
            _, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(f.queue_files()), N)
        queued = time.time() - t0
        # the baseline: a fresh ferryd holding the same queue, delivery off
        f.stop()
        f.start()
        rss_idle = rss_kib(f.proc.pid)
        f.stop()
        # the same queue, now delivered
        with open(f.conf) as fh:
            conf = [l for l in fh if l.strip() != "delivery off"]
        with open(f.conf, "w") as fh:
            fh.writelines(conf)
        f.start()
        t1 = time.time()
        peak = {"conns": 0, "rss": 0}

        def sample():
            n = established(self.ports)
            if n >= peak["conns"]:
                peak["conns"], peak["rss"] = n, rss_kib(f.proc.pid)
            return n >= N
        reached = wait_for(sample, timeout=HOLD - 10)
        print("\n%d messages queued in %.0f s; %d outbound connections at the peak (want %d) after "
              "%.0f s; ferryd RSS %d KiB with the queue loaded and idle, %d KiB at the peak: "
              "%.1f KiB per connection" % (N, queued, peak["conns"], N, time.time() - t1, rss_idle,
                                           peak["rss"], (peak["rss"] - rss_idle) / max(peak["conns"], 1)))
        if not reached:
            deferred = [l for l in f.log_text().splitlines() if "event=deferred" in l]
            self.fail("at most %d of %d connections were open at once; %d deferred, e.g. %s"
                      % (peak["conns"], N, len(deferred), deferred[:3]))
        self.assertTrue(wait_for(lambda: f.queue_files() == [], timeout=HOLD + 90),
                        "%d messages still queued" % len(f.queue_files()))
        log = f.log_text()
        self.assertEqual(log.count("event=delivered"), N)
        self.assertNotIn("event=bounced", log)


if __name__ == "__main__":
    ferrytest.main()
