"""A full spool (defect 7): ferryd's spool on a small filesystem of its own
(a 20 MiB tmpfs, else a loop-mounted ext4 image), filled by smtp-source.
ferryd must refuse at MAIL with 452 4.3.1 once free space falls under
queue_minfree, answer 451 for a body that no longer fits, never say 250
for a message it could not make durable, log and count every refusal,
keep serving, and take mail again by itself once space returns."""
import errno
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient

MIB = 1024 * 1024
MSG = b"From: a@sender.test\r\nTo: alice@example.test\r\nSubject: full\r\n\r\n"


def small_fs(path, size_mib):
    """Mount a filesystem of size_mib at path; returns how, or None."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mib, "tmpfs", path],
                       capture_output=True)
    if r.returncode == 0:
        return "tmpfs"
    img = path + ".img"
    with open(img, "wb") as f:
        f.truncate(size_mib * MIB)
    if subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", img], capture_output=True).returncode == 0 \
            and subprocess.run(["mount", "-o", "loop", img, path], capture_output=True).returncode == 0:
        return "loop ext4"
    os.unlink(img)
    return None


def fill(path, limit=None):
    """Write zeros into path until the filesystem is full (or limit octets
    are written); returns the octets written."""
    done, chunk = 0, b"\0" * 65536
    with open(path, "ab") as f:
        try:
            while limit is None or done < limit:
                n = f.write(chunk if limit is None else chunk[:min(65536, limit - done)])
                f.flush()
                done += n
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return done


def free_octets(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("smtp-source") is None:
            self.skipTest("smtp-source (Debian package postfix) is not installed")
        self.tmp = tempfile.mkdtemp(prefix="ferrytest.")
        self.spool = os.path.join(self.tmp, "spool")
        os.mkdir(self.spool)
        self.how = small_fs(self.spool, 20)
        if self.how is None:
            self.skipTest("cannot make a small filesystem: mount tmpfs and loop ext4 both refused")
        self.addCleanup(self.unmount)
        self.f = Ferryd(tmp=self.tmp, extra="queue_minfree 2m\nmax_message_size 4m\n"
                                             "max_connections_per_client 1000")
        self.f.start()
        self.addCleanup(self.f.stop)
        self.acked = set()

    def unmount(self):
        if subprocess.run(["umount", self.spool], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", self.spool], capture_output=True)
        if os.path.exists(self.spool + ".img"):
            os.unlink(self.spool + ".img")
        if not os.environ.get("FERRY_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def stored(self):
        """Queue ids of the complete messages in queue/ (each file parses)."""
        return {ferrytest.read_spool_file(p).get("I") or os.path.basename(p)
                for p in self.f.queue_files()}

    def smtp_source(self, count, size):
        r = subprocess.run(["smtp-source", "-v", "-s", "10", "-m", str(count), "-l", str(size),
                            "-f", "a@sender.test", "-t", "alice@example.test",
                            "127.0.0.1:%d" % self.f.mx], capture_output=True, text=True, timeout=300)
        out = r.stdout + r.stderr
        ids = re.findall(r"<<< 250 2\.0\.0 Ok: queued as ([0-9A-F]+)", out)
        self.acked.update(ids)
        return out, len(ids)

    def send(self, body=MSG + b"hello\r\n"):
        """One message by smtplib: the final code (250 ids are recorded)."""
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            s.ehlo("client.test")
            code, text = s.mail("a@sender.test")
            if code != 250:
                return code, text
            s.rcpt("alice@example.test")
            code, text = s.data(body)
            if code == 250:
                self.acked.add(text.decode().split()[-1])
            return code, text

    def test_full_spool(self):
        filler = os.path.join(self.spool, "filler")
        fill(filler, free_octets(self.spool) - 8 * MIB)   # leave 8 MiB

        # smtp-source fills the rest until ferryd refuses at MAIL (it stops
        # at the first refused sender).
        out, n = self.smtp_source(2000, 20000)
        self.assertTrue("<<< 452 4.3.1 Insufficient system storage" in out,
                        out[-300:] + "\n".join(l for l in self.f.log_text().splitlines()
                                                if "storage" in l or "spool" in l or "started" in l)[-3000:]
                        + str(free_octets(self.spool)))
        self.assertGreater(n, 0)
        # smtp-source exits on the refusal without waiting for ferryd to log
        # the session's end: wait for that line rather than race it
        refused_end = re.compile(r"event=disconnect .*errors=[1-9]")
        self.assertTrue(ferrytest.wait_for(lambda: refused_end.search(self.f.log_text())),
                        "no disconnect line with errors>0")
        log = self.f.log_text()
        self.assertIn("event=storage-low", log)
        self.assertRegex(log, r"event=mail-refused .*reply=\"452 4\.3\.1 ")
        # MAIL SIZE= beyond what is left above the reserve is refused too.
        c = RawClient(self.f.mx)
        c.reply()
        c.cmd("EHLO client.test")
        code, lines = c.cmd("MAIL FROM:<a@sender.test> SIZE=%d" % (3 * MIB))
        self.assertEqual((code, lines[0]), (452, "452 4.3.1 Insufficient system storage"))
        # ...and it keeps serving: the session is still usable.
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.cmd("QUIT")
        c.close()

        # Bodies that no longer fit: MAIL passed, then the disk filled up.
        # The large one fails as it is written, the small one only when
        # the committer flushes it; both get 451, a log line and a count.
        os.unlink(filler)
        self.assertTrue(ferrytest.wait_for(lambda: self.send()[0] == 250, 10))
        sessions = []
        for body in (MSG + (b"x" * 998 + b"\r\n") * 1000, MSG + b"small\r\n"):
            s = smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60)
            self.addCleanup(s.close)
            s.ehlo("client.test")
            self.assertEqual(s.mail("a@sender.test")[0], 250)
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            sessions.append((s, body))
        mark = len(self.f.log_text())
        fill(filler)
        for s, body in sessions:
            code, text = s.data(body)
            self.assertEqual(code, 451, text)
            s.quit()
        self.assertTrue(ferrytest.wait_for(lambda: len(re.findall(
            r"event=disconnect .*mail=1 rcpt=1 queued=0 errors=1",
            self.f.log_text()[mark:])) == 2, 10), self.f.log_text()[mark:])
        self.assertEqual(len(re.findall(r"event=message-refused .*reply=\"451 4\.3\.0 ",
                                        self.f.log_text()[mark:])), 2)
        self.assertEqual(self.send()[0], 452)

        # Space returns: the next MAIL is accepted, without a restart.
        os.unlink(filler)
        self.assertTrue(ferrytest.wait_for(lambda: self.send()[0] == 250, 10))

        stored = self.stored()
        print("\ndisk full (%s, 20 MiB): smtp-source acknowledged %d; acknowledged in all %d, "
              "stored %d, acknowledged but missing %d" % (self.how, n, len(self.acked), len(stored),
                                                         len(self.acked - stored)))
        self.assertEqual(self.acked - stored, set())   # nothing acknowledged is lost
        self.assertIsNone(self.f.proc.poll())


if __name__ == "__main__":
    ferrytest.main()
