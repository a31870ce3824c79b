"""Durability under load and crashes: every message that got a 250 is in the
spool, byte for byte, after kill -9; a load from Postfix's smtp-source lands
each message exactly once and intact."""
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient


class CrashTest(unittest.TestCase):
    def sender(self, port, tag, acked, stop):
        n = 0
        while not stop.is_set():
            try:
                c = RawClient(port, timeout=5)
                c.reply()
                c.cmd("EHLO crash.test")
                while not stop.is_set():
                    n += 1
                    body = ("Subject: crash %s-%d\r\n\r\n" % (tag, n)).encode() + \
                        os.urandom(300).hex().encode() + b"\r\n" + os.urandom(300).hex().encode() + b"\r\n"
                    c.cmd("MAIL FROM:<load@s.test>")
                    c.cmd("RCPT TO:<alice@example.test>")
                    c.cmd("DATA")
                    c.send(body + b".\r\n")
                    code, lines = c.reply()
                    if code == 250:
                        acked.append((lines[0].split()[-1], body))
            except (OSError, ConnectionError, ValueError):
                time.sleep(0.05)

    def test_kill9_during_stream(self):
        f = Ferryd().start()
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=self.sender, args=(f.mx, i, acked, stop)) for i in range(4)]
        for t in threads:
            t.start()
        deadline = time.time() + 20
        while len(acked) < 300 and time.time() < deadline:
            time.sleep(0.05)
        f.kill9()
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(acked), 50)
        f.start()   # recovery
        f.stop()
        stored = {os.path.basename(p): ferrytest.read_spool_file(p) for p in f.queue_files()}
        missing = [qid for qid, _ in acked if qid not in stored]
        self.assertEqual(missing, [], "acknowledged but lost")
        for qid, body in acked:
            self.assertTrue(stored[qid]["content"].endswith(body), qid)
        self.assertEqual(os.listdir(os.path.join(f.spool, "corrupt")), [])
        self.assertEqual(os.listdir(os.path.join(f.spool, "incoming")), [])
        print("crash test: %d acknowledged, %d in spool" % (len(acked), len(stored)))


class LoadSmokeTest(unittest.TestCase):
    def test_smtp_source_2000_over_50_sessions(self):
        if shutil.which("smtp-source") is None:
            self.fail("smtp-source missing: run scripts/setup.sh")
        f = Ferryd(extra="max_connections_per_client 500").start()
        try:
            r = subprocess.run(["smtp-source", "-s", "50", "-m", "2000", "-l", "2048",
                                "-f", "load@src.test", "-t", "alice@example.test",
                                "127.0.0.1:%d" % f.mx], capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            f.stop()
        files = f.queue_files()
        self.assertEqual(len(files), 2000)
        ids, msgids, bodies = set(), set(), set()
        for p in files:
            env = ferrytest.read_spool_file(p)
            self.assertEqual(env["S"], "load@src.test")
            self.assertEqual(env["rcpts"], ["alice@example.test"])
            ids.add(env["I"])
            content = env["content"]
            self.assertTrue(content.startswith(b"Received: from "))
            headers, body = content.split(b"\r\n\r\n", 1)
            for h in headers.split(b"\r\n"):
                if h.lower().startswith(b"message-id:"):
                    msgids.add(h)
            bodies.add(body)
            self.assertNotIn(b"\r\r", content)
        self.assertEqual(len(ids), 2000)
        # smtp-source numbers its messages: each one arrived exactly once
        self.assertEqual(len(msgids), 2000)
        # and intact: every body is the same 2 KiB smtp-source generated
        self.assertEqual(len(bodies), 1)
        self.assertGreater(len(bodies.pop()), 1500)
        self.assertEqual(len(os.listdir(os.path.join(f.spool, "corrupt"))), 0)


if __name__ == "__main__":
    ferrytest.main()
