"""receiver - a scripted SMTP receiver for delivery tests.

A real TCP SMTP server on a loopback address that records every transaction
(with the client's source address) and answers according to a script, so a
test can make it defer, refuse, drop the connection mid-DATA or send
malformed replies at any stage. Threads, no asyncio: simple and robust.
Given an ssl.SSLContext (tls=), it offers STARTTLS (RFC 3207) and, once
in TLS, AUTH PLAIN (RFC 4954), recording every AUTH line it receives and
every handshake that failed.
"""
import socket
import ssl
import threading
import time


class Receiver:
    def __init__(self, host="127.0.0.1", port=0, name="rx.test", lmtp=False, tls=None):
        self.host = host
        self.tls = tls                # server-side ssl.SSLContext, or None: no STARTTLS
        self.auths = []               # AUTH command lines received
        self.tls_errors = []          # handshakes that failed (str of the exception)
        self.name = name
        self.lmtp = lmtp
        self.script = {}          # stage -> reply line(s) or callable(arg) -> reply / "DROP"
        self.messages = []        # dicts: sender, rcpts, data, peer, helo, tls
        self.connections = 0
        self._quit = set()
        self.active = 0           # sessions open now, and the most at once
        self.max_active = 0
        self.commands = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def set(self, stage, reply):
        """stage: greeting, ehlo, mail, rcpt, data, dot. reply: "250 ok",
        a callable(arg) returning one, "DROP" to close the connection."""
        with self.lock:
            self.script[stage] = reply

    def clear(self):
        with self.lock:
            self.script = {}

    def stop(self):
        self.running = False
        try:
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError:
            pass
        self.sock.close()

    def wait(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return True
            time.sleep(0.05)
        return False

    def _accept(self):
        while self.running:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            if not self.running:
                c.close()
                return
            with self.lock:
                self.connections += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            threading.Thread(target=self._serve, args=(c, peer), daemon=True).start()

    def _reply(self, stage, arg, default):
        with self.lock:
            r = self.script.get(stage, default)
        if callable(r):
            r = r(arg)
        return r

    def _serve(self, c, peer):
        f = c.makefile("rb")
        try:
            self._session(c, f, peer, id(c))
        except (OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass
            with self.lock:
                if id(c) in self._quit:
                    self._quit.discard(id(c))
                else:
                    self.active -= 1

    def _send(self, c, r):
        if r == "DROP":
            raise OSError("scripted drop")
        if isinstance(r, bytes):
            c.sendall(r)
        else:
            c.sendall((r + "\r\n").encode())

    def _tls_keywords(self, c):
        if self.tls is None:
            return ""
        return "250-AUTH PLAIN\r\n" if isinstance(c, ssl.SSLSocket) else "250-STARTTLS\r\n"

    def _session(self, c, f, peer, key):
        self._send(c, self._reply("greeting", None, "220 %s ESMTP test receiver" % self.name))
        tx = None
        helo = None
        while True:
            line = f.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            with self.lock:
                self.commands.append(cmd)
            verb = cmd[:4].upper()
            if verb in ("EHLO", "LHLO"):
                helo = cmd[5:]
                default = "250-%s\r\n250-PIPELINING\r\n250-SIZE 10000000\r\n250-8BITMIME\r\n" \
                          "250-SMTPUTF8\r\n250-DSN\r\n%s250 ENHANCEDSTATUSCODES" \
                          % (self.name, self._tls_keywords(c))
                self._send(c, self._reply("ehlo", cmd, default))
            elif verb == "STAR" and self.tls is not None and not isinstance(c, ssl.SSLSocket):
                self._send(c, "220 2.0.0 ready to start TLS")
                try:
                    c = self.tls.wrap_socket(c, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self.lock:
                        self.tls_errors.append(str(e))
                    return
                f = c.makefile("rb")
                tx = helo = None
            elif verb == "AUTH":
                with self.lock:
                    self.auths.append(cmd)
                self._send(c, self._reply("auth", cmd, "235 2.7.0 authenticated"))
            elif verb == "HELO":
                helo = cmd[5:]
                self._send(c, "250 %s" % self.name)
            elif verb == "MAIL":
                tx = {"sender": cmd[10:].split(">")[0].lstrip("<"), "rcpts": [], "peer": peer[0],
                      "helo": helo, "mail": cmd}
                self._send(c, self._reply("mail", cmd, "250 2.1.0 ok"))
            elif verb == "RCPT":
                r = self._reply("rcpt", cmd, "250 2.1.5 ok")
                if isinstance(r, str) and r.startswith("2") and tx is not None:
                    tx["rcpts"].append(cmd[8:].split(">")[0].lstrip("<"))
                self._send(c, r)
            elif verb == "DATA":
                # RFC 5321 3.3: no accepted recipient, no content (as Postfix answers)
                default = "354 go ahead" if tx and tx["rcpts"] else "554 5.5.1 no valid recipients"
                r = self._reply("data", cmd, default)
                self._send(c, r)
                if not (isinstance(r, str) and r.startswith("354")):
                    continue
                data = b""
                while True:
                    l = f.readline(65536)
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    if self._reply("middata", None, None) == "DROP" and len(data) > 100:
                        raise OSError("drop mid-DATA")
                    data += l[1:] if l.startswith(b".") else l
                tx["data"] = data
                if self.lmtp:    # RFC 2033 4.2: one reply per accepted recipient
                    replies = [self._reply("dot", tx, "250 2.0.0 delivered") for _ in tx["rcpts"]]
                else:
                    replies = [self._reply("dot", tx, "250 2.0.0 queued")]
                ok = any(isinstance(r, str) and r.startswith("2") for r in replies)
                if ok:
                    with self.lock:
                        self.messages.append(tx)
                for r in replies:
                    self._send(c, r)
                tx = None
            elif verb == "RSET":
                tx = None
                self._send(c, "250 2.0.0 ok")
            elif verb == "NOOP":
                self._send(c, "250 2.0.0 ok")
            elif verb == "QUIT":
                with self.lock:     # the session ends here for the client
                    self.active -= 1
                    self._quit.add(key)     # c may be the TLS wrapper by now
                self._send(c, "221 2.0.0 bye")
                return
            else:
                self._send(c, "502 5.5.2 unknown")
