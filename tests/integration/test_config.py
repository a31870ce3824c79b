"""ferryd -t and configuration errors: every error names the file and line,
and no configuration that would relay for everyone is accepted."""
import os
import re
import subprocess
import tempfile
import unittest

import ferrytest
from ferrytest import FERRYCTL, FERRYD


def check(text, name="ferry.conf"):
    d = tempfile.mkdtemp(prefix="ferryconf.")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([FERRYD, "-t", "-c", path], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr, path, d


BASE = "listen mx 127.0.0.1:2599\ndomain example.test\n"


class ConfigTest(unittest.TestCase):
    def test_valid_config(self):
        rc, out, path, d = check(BASE + "spool_dir %s/spool\nmailbox a@example.test\n" % "/tmp")
        self.assertEqual(rc, 0, out)
        self.assertIn("valid", out)

    def test_embedded_default_is_valid(self):
        d = tempfile.mkdtemp()
        r = subprocess.run([FERRYD, "-t"], capture_output=True, text=True, cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_unknown_option_names_file_and_line(self):
        rc, out, path, d = check(BASE + "# comment\n\nfrobnicate yes\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:5: unknown option 'frobnicate'" % path, out)

    def test_out_of_range(self):
        rc, out, path, d = check(BASE + "max_recipients 10\n")
        self.assertEqual(rc, 1)
        self.assertIn(":3: max_recipients", out)
        self.assertIn("out of range", out)

    def test_bad_values(self):
        for line in ["listen mx nowhere", "listen relay 127.0.0.1:25", "max_message_size 10q",
                     "relay_networks 10.0.0.0/99", "mailbox not-an-address", "bare_lf maybe",
                     "timeout_command", "domain bad..domain"]:
            rc, out, path, d = check(BASE + line + "\n")
            self.assertEqual(rc, 1, line)
            self.assertIn("%s:3:" % path, out, line)

    def test_open_relay_refused(self):
        for nets in ["0.0.0.0/0", "::/0", "128.0.0.0/1", "127.0.0.0/8 0.0.0.0/0"]:
            rc, out, path, d = check(BASE + "relay_networks %s\n" % nets)
            self.assertEqual(rc, 1, nets)
            self.assertIn("open relay", out)

    def test_open_relay_names_line(self):
        rc, out, path, d = check(BASE + "hostname mx.example.test\nrelay_networks 127.0.0.0/8 0.0.0.0/0\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: relay_networks: 0.0.0.0/0 is wider than /8 (IPv4) or /16 (IPv6): "
                      "that would be an open relay" % path, out)

    def test_mailbox_outside_hosted_domain(self):
        rc, out, path, d = check(BASE + "mailbox a@other.test\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: mailbox a@other.test is not in a hosted domain (add a 'domain' line)"
                      % path, out)

    def test_alias_outside_hosted_domain(self):
        rc, out, path, d = check(BASE + "mailbox a@example.test\n\nalias b@other.test a@example.test\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:5: alias b@other.test is not in a hosted domain (add a 'domain' line)"
                      % path, out)

    def test_domain_may_follow_its_mailboxes(self):
        rc, out, path, d = check("mailbox a@late.test\nalias @late.test a@late.test\n" + BASE +
                                 "domain late.test\nspool_dir /tmp/spool\n")
        self.assertEqual(rc, 0, out)

    def test_nul_byte_is_named(self):
        rc, out, path, d = check(BASE + "hostname mx\0evil.test\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: NUL byte in line" % path, out)
        self.assertNotIn("too long", out)

    def test_line_too_long(self):
        rc, out, path, d = check(BASE + "hostname " + "a" * 5000 + "\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: line too long (max 4096 bytes)" % path, out)

    def test_directory_as_configuration(self):
        d = tempfile.mkdtemp()
        r = subprocess.run([FERRYD, "-t", "-c", d], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "ferryd: %s: is a directory\n" % d)

    def test_tls_cert_without_key_names_line(self):
        rc, out, path, d = check(BASE + "tls_cert /etc/ferry/cert.pem\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: tls_cert is set but tls_key is not" % path, out)
        rc, out, path, d = check(BASE + "\ntls_key /etc/ferry/key.pem\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: tls_key is set but tls_cert is not" % path, out)

    def test_set_twice_names_both_lines(self):
        rc, out, path, d = check(BASE + "hostname a.test\nhostname b.test\n")
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: hostname is set twice (first on line 3)" % path, out)
        for line in ["bare_lf reject", "delivery off", "spool_sync fsync", "smtp_tls none"]:
            rc, out, path, d = check(BASE + line + "\n" + line + "\n")
            self.assertEqual(rc, 1, line)
            self.assertIn("%s:4: %s is set twice (first on line 3)" % (path, line.split()[0]), out)

    def test_dkim_key_errors_name_key_and_line(self):
        d = tempfile.mkdtemp()
        key = os.path.join(d, "missing.pem")
        rc, out, path, _ = check(BASE + "dkim_sign example.test s1 %s\n" % key)
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: dkim_sign: %s: No such file or directory" % (path, key), out)
        rc, out, path, _ = check(BASE + "dkim_sign example.test s1 %s\n" % d)
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: dkim_sign: %s: is a directory" % (path, d), out)

    def test_key_readable_by_others_refused(self):
        d = tempfile.mkdtemp()
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=t.test"],
                       check=True, capture_output=True)
        os.chmod(key, 0o644)
        rc, out, path, _ = check(BASE + "tls_cert %s\ntls_key %s\n" % (cert, key))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: tls_key: %s: private key is readable by group or world" % (path, key), out)
        os.chmod(key, 0o600)
        rc, out, path, _ = check(BASE + "tls_key %s\ntls_cert %s.missing\n" % (key, cert))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: tls_cert: %s.missing: " % (path, cert), out)
        rc, out, path, _ = check(BASE + "tls_cert %s\ntls_key %s\nspool_dir %s\n" % (cert, key, d))
        self.assertEqual(rc, 0, out)

    def test_users_file_error_names_conf_line(self):
        d = tempfile.mkdtemp()
        rc, out, path, _ = check(BASE + "spool_dir %s\nusers_file %s\n" % (d, d))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: users_file: %s: not a regular file" % (path, d), out)

    def test_reload_logs_file_line_and_cause(self):
        f = ferrytest.Ferryd().start()
        try:
            with open(f.conf) as fh:
                n = fh.read().count("\n")
            with open(f.conf, "a") as fh:
                fh.write("relay_networks 0.0.0.0/0\n")
            f.hup()
            self.assertTrue(ferrytest.wait_for(lambda: "event=reload-failed" in f.log_text()))
            self.assertIn('error="%s:%d: relay_networks: 0.0.0.0/0 is wider than' % (f.conf, n + 1),
                          f.log_text())
        finally:
            f.stop()

    def test_shaping_rules_errors_name_both_files(self):
        d = d_tmp()
        rules = os.path.join(d, "shaping.rules")
        with open(rules, "w") as fh:
            fh.write("# mine\nok 421 4.7.28 * rate 20/min for 30m\n"
                     "bad 421 * \"[TSS04\" suspend for 1h\n")
        rc, out, path, _ = check(BASE + "spool_dir %s\nshaping_rules %s\n" % (d, rules))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: shaping_rules: %s:3: regular expression \"[TSS04\" at offset 6: "
                      "missing terminating ] for character class" % (path, rules), out)
        with open(rules, "w") as fh:
            fh.write("ok 421 4.7.28 * rate 20/min for\n")
        rc, out, path, _ = check(BASE + "spool_dir %s\nshaping_rules %s\n" % (d, rules))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: shaping_rules: %s:1: rate needs a duration: 'for 30m'" % (path, rules), out)
        rc, out, path, _ = check(BASE + "spool_dir %s\nshaping_rules %s.missing\n" % (d, rules))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: shaping_rules: %s.missing: No such file or directory" % (path, rules), out)

    def test_shaping_rules_shipped_file_and_none(self):
        shipped = os.path.join(ferrytest.SRC, "dist", "shaping.rules")
        for value in (shipped, "none"):
            rc, out, path, _ = check(BASE + "spool_dir %s\nshaping_rules %s\n" % (d_tmp(), value))
            self.assertEqual(rc, 0, out)

    def test_reload_rereads_shaping_rules(self):
        f = ferrytest.Ferryd()
        rules = os.path.join(f.tmp, "shaping.rules")
        with open(rules, "w") as fh:
            fh.write("ok 421 * * suspend for 1m\n")
        os.chmod(rules, 0o644)
        with open(f.conf, "a") as fh:
            fh.write("shaping_rules %s\n" % rules)
        f.start()
        try:
            with open(rules, "a") as fh:
                fh.write("\nbroken 421 * * slow for 1m\n")
            f.hup()
            self.assertTrue(ferrytest.wait_for(lambda: "event=reload-failed" in f.log_text()))
            self.assertIn("shaping_rules: %s:3: action 'slow': connections N, rate N/min, "
                          "suspend or ignore" % rules, f.log_text())
        finally:
            f.stop()

    # bounce_rules (bounce classification): the same contract as shaping_rules,
    # and `ferryctl bounce classify` reads the same file.
    def test_bounce_rules_errors_name_both_files(self):
        d = d_tmp()
        rules = os.path.join(d, "bounce.rules")
        with open(rules, "w") as fh:
            fh.write("# mine\ncategory other soft \"fallback\"\ncategory gone hard \"gone\"\n"
                     "rule ok gone 550 5.1.1 *\nrule bad gone 550 * \"(unclosed\"\n")
        rc, out, path, _ = check(BASE + "spool_dir %s\nbounce_rules %s\n" % (d, rules))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: bounce_rules: %s:5: regular expression \"(unclosed\" at offset 9: "
                      "missing closing parenthesis" % (path, rules), out)
        r = subprocess.run([FERRYCTL, "bounce", "classify", "-f", rules, "550", "5.1.1", "x"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("%s:5: regular expression" % rules, r.stderr)
        with open(rules, "w") as fh:
            fh.write("category gone hard \"gone\"\nrule ok gone 550 5.1.1 *\n")
        rc, out, path, _ = check(BASE + "spool_dir %s\nbounce_rules %s\n" % (d, rules))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: bounce_rules: %s: no category 'other'" % (path, rules), out)
        rc, out, path, _ = check(BASE + "spool_dir %s\nbounce_rules %s.missing\n" % (d, rules))
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: bounce_rules: %s.missing: No such file or directory" % (path, rules), out)

    def test_bounce_rules_shipped_file_and_none(self):
        shipped = os.path.join(ferrytest.SRC, "dist", "bounce.rules")
        for value in (shipped, "none"):
            rc, out, path, _ = check(BASE + "spool_dir %s\nbounce_rules %s\n" % (d_tmp(), value))
            self.assertEqual(rc, 0, out)

    def test_ferryctl_bounce_classify_uses_configured_rules(self):
        d = d_tmp()
        rules = os.path.join(d, "bounce.rules")
        with open(rules, "w") as fh:
            fh.write("category other soft \"fallback\"\ncategory gone hard \"gone\"\n"
                     "rule mine gone 5xx * \"nobody home\"i\n")
        conf = os.path.join(d, "ferry.conf")
        with open(conf, "w") as fh:
            fh.write(BASE + "spool_dir %s\nbounce_rules %s\n" % (d, rules))

        def classify(*args, config=conf):
            r = subprocess.run([FERRYCTL, "-c", config, "bounce", "classify"] + list(args),
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout
        self.assertEqual(classify("550", "-", "Nobody", "HOME", "here"), "gone\thard\tmine\t%s:3\n" % rules)
        self.assertEqual(classify("550", "5.1.1", "x"), "other\tsoft\t-\t(no rule matched)\n")
        # without bounce_rules, the shipped rules compiled in
        with open(conf, "w") as fh:
            fh.write(BASE + "spool_dir %s\n" % d)
        out = classify("-", "-", "smtp; 550-5.1.1 The email account that you tried to reach does not exist.")
        self.assertRegex(out, r"^invalid-recipient\thard\tgmail-no-such-user\t\(embedded bounce.rules\):\d+\n$")
        # a 5.7.x status with RFC 5321's generic wording: policy, about the sender
        out = classify("550", "5.7.1", "Requested action not taken: mailbox unavailable")
        self.assertRegex(out, r"^policy\tsoft,sender\tstatus-5.7\t\(embedded bounce.rules\):\d+\n$")
        out = classify("550", "-", "Requested action not taken: mailbox unavailable")
        self.assertRegex(out, r"^invalid-recipient\thard\tuser-unknown\t")
        r = subprocess.run([FERRYCTL, "-c", conf, "bounce", "categories"], capture_output=True, text=True)
        self.assertIn("authentication\tsoft,sender\t", r.stdout)
        self.assertIn("mailbox-full\tsoft\t", r.stdout)
        self.assertIn("invalid-recipient\thard\t", r.stdout)
        r = subprocess.run([FERRYCTL, "-c", conf, "bounce", "classify", "55", "-", "x"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("CODE is a reply code", r.stderr)

    def test_reload_rereads_bounce_rules(self):
        f = ferrytest.Ferryd()
        rules = os.path.join(f.tmp, "bounce.rules")
        with open(rules, "w") as fh:
            fh.write("category other soft \"fallback\"\n")
        os.chmod(rules, 0o644)
        with open(f.conf, "a") as fh:
            fh.write("bounce_rules %s\n" % rules)
        f.start()
        try:
            with open(rules, "a") as fh:
                fh.write("\nrule r nosuch 550 * *\n")
            f.hup()
            self.assertTrue(ferrytest.wait_for(lambda: "event=reload-failed" in f.log_text()))
            self.assertIn("bounce_rules: %s:3: category 'nosuch' is not declared" % rules, f.log_text())
        finally:
            f.stop()

    def test_missing_file(self):
        r = subprocess.run([FERRYD, "-t", "-c", "/nonexistent/ferry.conf"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "ferryd: /nonexistent/ferry.conf: No such file or directory\n")


class ConfigDocsTest(unittest.TestCase):
    """docs/configuration.md against the code it documents: `delivery on|off`
    had no entry, and the spool's mode was given as 0750 (it is 0751)."""

    def read(self, *path):
        with open(os.path.join(ferrytest.SRC, *path)) as f:
            return f.read()

    def test_every_option_has_an_entry(self):
        src = self.read("src", "conf", "conf_option.c")
        table = src[src.index("conf_options[] = {"):]
        table = table[:table.index("\n};")]
        names = re.findall(r"\bOPT_[A-Z]+\(\s*(\w+)", table)
        self.assertGreater(len(names), 50)
        doc = self.read("docs", "configuration.md")
        missing = [n for n in names if not re.search(r"`%s[ `]" % n, doc)]
        self.assertEqual(missing, [])

    def test_spool_mode_as_documented(self):
        f = ferrytest.Ferryd().start()
        try:
            mode = os.stat(f.spool).st_mode & 0o777
        finally:
            f.stop()
        doc = self.read("docs", "configuration.md")
        entry = doc[doc.index("`spool_dir DIR`"):]
        entry = entry[:entry.index("\n\n")]
        self.assertEqual(re.findall(r"spool mode (0[0-7]{3})", entry), ["%04o" % mode], entry)


class FerryctlConfigTest(unittest.TestCase):
    """ferryctl reads ferry.conf through ferryd's own reader: every command
    accepts and refuses the same files, with ferryd's messages."""

    COMMANDS = (["user", "list"], ["tenant", "list"], ["domain", "list"], ["queue", "list"])

    def ctl(self, path, args):
        return subprocess.run([FERRYCTL, "-c", path] + args, capture_output=True, text=True)

    def test_every_command_refuses_what_ferryd_refuses(self):
        for bad in ["frobnicate yes", "relay_networks 0.0.0.0/0", "mailbox a@other.test",
                    "hostname a\0b", "tls_cert /etc/ferry/cert.pem"]:
            rc, out, path, d = check("spool_dir %s\nlisten mx 127.0.0.1:2599\n%s\n" % (d_tmp(), bad))
            self.assertEqual(rc, 1, out)
            want = out.replace("ferryd: ", "ferryctl: ", 1)
            self.assertIn(":3: ", want)
            for args in self.COMMANDS:
                r = self.ctl(path, args)
                self.assertEqual((r.returncode, r.stderr), (1, want), (bad, args))

    def test_directory_refused_alike(self):
        d = d_tmp()
        for args in self.COMMANDS:
            r = self.ctl(d, args)
            self.assertEqual((r.returncode, r.stderr), (1, "ferryctl: %s: is a directory\n" % d), args)

    def valid_conf(self):
        """A valid configuration with its own spool: (dir, spool, conf path)."""
        d = d_tmp()
        spool = os.path.join(d, "spool")
        os.mkdir(spool)
        rc, out, path, _ = check("spool_dir %s\nlisten mx 127.0.0.1:2599\n" % spool)
        self.assertEqual(rc, 0, out)
        return d, spool, path

    def test_paths_come_from_the_configuration(self):
        d, spool, path = self.valid_conf()
        r = subprocess.run([FERRYCTL, "-c", path, "user", "add", "--password-stdin", "u@example.test"],
                           input="pw\n", capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(spool, "users")))
        r = self.ctl(path, ["tenant", "add", "acme"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(spool, "ferry.db")))
        r = self.ctl(path, ["queue", "list"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.join(spool, "control.sock"), r.stderr)

    def test_ferry_config_variable_names_the_file(self):
        # as ferry-sendmail: FERRY_CONFIG points ferryctl at an installed
        # configuration without -c; -c still wins over it
        d, spool, path = self.valid_conf()
        env = dict(os.environ, FERRY_CONFIG=path)
        r = subprocess.run([FERRYCTL, "user", "add", "--password-stdin", "v@example.test"],
                           input="pw\n", capture_output=True, text=True, env=env, cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(spool, "users")))
        self.assertFalse(os.path.exists(os.path.join(d, "var")))   # not the embedded default
        r = subprocess.run([FERRYCTL, "-c", d, "user", "list"], capture_output=True, text=True, env=env)
        self.assertEqual((r.returncode, r.stderr), (1, "ferryctl: %s: is a directory\n" % d))


def d_tmp():
    return tempfile.mkdtemp(prefix="ferryconf.")


if __name__ == "__main__":
    ferrytest.main()
