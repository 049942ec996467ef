#!/usr/bin/python3
"""Self-test for smtp_server.py.  Run: /usr/bin/python3 smtp_server_selftest.py -v

Talks to the real aiosmtpd-based CaptureServer with smtplib and raw sockets.
(Deliberately not named test_*.py so test discovery does not pick it up.)
"""
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from smtp_server import CaptureServer, make_self_signed_cert  # noqa: E402

MSG = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n..dot\r\n"
QUEUED = re.compile(rb"^2\.0\.0 Ok: queued as ([0-9A-F]+)$")


class RawClient:
    """Minimal line-oriented SMTP client over a raw socket (no normalisation)."""
    opened = []

    def __init__(self, port):
        RawClient.opened.append(self)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        assert self.reply().startswith(b"220"), "no greeting"

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return b"".join(lines) or b"<closed>"
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return b"\n".join(lines)

    def cmd(self, raw):
        self.sock.sendall(raw)
        return self.reply()

    def send(self, data, mail=b"MAIL FROM:<a@example.org>", rcpt=b"RCPT TO:<b@example.org>"):
        """Full transaction with raw DATA bytes; returns the end-of-data reply."""
        assert self.cmd(b"EHLO raw\r\n").startswith(b"250")
        assert self.cmd(mail + b"\r\n").startswith(b"250")
        assert self.cmd(rcpt + b"\r\n").startswith(b"250")
        assert self.cmd(b"DATA\r\n").startswith(b"354")
        return self.cmd(data + b".\r\n")

    def close(self):
        self.sock.close()


class PlainTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.srv = CaptureServer(maildir=self.tmp.name).start()

    def tearDown(self):
        while RawClient.opened:
            RawClient.opened.pop().close()
        self.srv.stop()
        self.tmp.cleanup()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.port, timeout=10)
        self.addCleanup(s.close)
        s.ehlo("selftest")
        return s

    def transact(self, s, rcpts=("b@example.org",), msg=MSG):
        self.assertEqual(s.mail("a@example.org")[0], 250)
        for r in rcpts:
            s.rcpt(r)
        return s.data(msg)

    def test_plain_send_and_queue_id(self):
        s = self.smtp()
        code, resp = self.transact(s)
        self.assertEqual(code, 250, resp)
        qid = QUEUED.match(resp).group(1).decode()
        [m] = self.srv.wait_for(1, timeout=5)
        self.assertEqual(m["queue_id"], qid)
        self.assertEqual(m["mail_from"], "a@example.org")
        self.assertEqual(m["rcpt_tos"], ["b@example.org"])
        self.assertEqual(m["data"], MSG)   # smtplib dot-stuffs "..dot", server unstuffs
        self.assertIsNone(m["authenticated_user"])
        self.assertEqual(m["session_id"], 1)
        self.assertEqual(m["peer"][0], "127.0.0.1")
        with open(os.path.join(self.tmp.name, "0001.eml"), "rb") as f:
            self.assertEqual(f.read(), m["data"])
        code2, resp2 = self.transact(s)
        self.assertNotEqual(QUEUED.match(resp2).group(1).decode(), qid)
        self.assertTrue(os.path.exists(os.path.join(self.tmp.name, "0002.eml")))

    def test_data_is_raw_bytes(self):
        body = b"Subject: x\r\n\r\n\xc3\xa9t\xe9\r\n..leading dot\r\n"
        c = RawClient(self.srv.port)
        self.assertTrue(c.send(body, mail=b"MAIL FROM:<a@example.org> BODY=8BITMIME")
                        .startswith(b"250 2.0.0"))
        self.assertEqual(self.srv.messages[0]["data"], body.replace(b"..", b"."))
        self.assertEqual(self.srv.messages[0]["mail_options"], ["BODY=8BITMIME"])

    def test_bare_lf_and_cr_rejected(self):
        for bad in (b"Subject: x\r\n\r\nline1\nline2\r\n",
                    b"Subject: x\n\r\nbody\r\n",
                    b"Subject: x\r\n\r\nline1\rline2\r\n"):
            c = RawClient(self.srv.port)
            r = c.send(bad)
            self.assertTrue(r.startswith(b"550 5.5.2"), (bad, r))
            # session stays usable after the rejection
            self.assertTrue(c.send(b"Subject: ok\r\n\r\nok\r\n").startswith(b"250"))
            c.close()
        self.assertEqual(len(self.srv.messages), 3)
        self.assertEqual([t["outcome"] for t in self.srv.transactions],
                         ["reject", "accept"] * 3)
        self.assertNotIn(b"\n", self.srv.messages[0]["data"].replace(b"\r\n", b""))

    def test_long_lines(self):
        c = RawClient(self.srv.port)
        ok = b"Subject: x\r\n\r\n" + b"a" * 998 + b"\r\n" + b".." + b"b" * 997 + b"\r\n"
        self.assertTrue(c.send(ok).startswith(b"250"))
        for n in (999, 1500, 20000):   # 1500+ would be aiosmtpd's own "500" by default
            r = c.send(b"Subject: x\r\n\r\n" + b"a" * n + b"\r\n")
            self.assertTrue(r.startswith(b"550 5.5.2"), (n, r))
        self.assertEqual(len(self.srv.messages), 1)

    def test_strict_envelope_syntax(self):
        c = RawClient(self.srv.port)
        c.cmd(b"EHLO raw\r\n")
        for bad in (b"MAIL FROM: <a@example.org>", b"MAIL FROM:a@example.org",
                    b"MAIL FROM:<a@example.org>  SIZE=10", b"MAIL FROM:<a@example.org>SIZE=1"):
            self.assertTrue(c.cmd(bad + b"\r\n").startswith(b"501"), bad)
        self.assertTrue(c.cmd(b"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8\r\n")
                        .startswith(b"250"))
        for bad in (b"RCPT TO: <b@example.org>", b"RCPT TO:b@example.org", b"RCPT TO:<>"):
            self.assertTrue(c.cmd(bad + b"\r\n").startswith(b"501"), bad)
        self.assertTrue(c.cmd(b"RCPT TO:<b@example.org>\r\n").startswith(b"250"))
        c.close()

    def test_lenient_mode(self):
        with CaptureServer(strict=False) as srv:
            c = RawClient(srv.port)
            self.assertTrue(c.send(b"Subject: x\r\n\r\nbare\nlf\r\n",
                                   mail=b"MAIL FROM: <a@example.org>").startswith(b"250"))
            self.assertEqual(srv.messages[0]["data"], b"Subject: x\r\n\r\nbare\nlf\r\n")

    def test_fail_next_then_success(self):
        self.srv.fail_next(2, 451, "4.3.0 try later")
        s = self.smtp()
        self.assertEqual(self.transact(s), (451, b"4.3.0 try later"))
        s.rset()
        self.assertEqual(self.transact(s), (451, b"4.3.0 try later"))
        s.rset()
        self.assertEqual(self.transact(s)[0], 250)
        self.srv.fail_next(1, 554, "5.7.1 rejected")
        self.assertEqual(self.transact(s), (554, b"5.7.1 rejected"))
        self.assertEqual(len(self.srv.messages), 1)
        self.assertEqual([t["reply"][:3] for t in self.srv.transactions],
                         ["451", "451", "250", "554"])

    def test_reject_rcpt(self):
        self.srv.reject_rcpt("nobody@example.org", 550, "5.1.1 no such user")
        s = self.smtp()
        s.mail("a@example.org")
        self.assertEqual(s.rcpt("nobody@example.org"), (550, b"5.1.1 no such user"))
        self.assertEqual(s.rcpt("b@example.org")[0], 250)
        self.assertEqual(s.data(MSG)[0], 250)
        self.assertEqual(self.srv.messages[0]["rcpt_tos"], ["b@example.org"])
        refused = s.sendmail("a@example.org", ["NoBody@example.org", "c@example.org"], MSG)
        self.assertEqual(refused, {"NoBody@example.org": (550, b"5.1.1 no such user")})
        self.srv.unreject_rcpt("nobody@example.org")
        self.assertEqual(s.sendmail("a@example.org", ["nobody@example.org"], MSG), {})

    def test_close_next(self):
        self.srv.close_next(1)
        s = self.smtp()
        s.mail("a@example.org")
        s.rcpt("b@example.org")
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.data(MSG)
        self.assertEqual(self.srv.transactions[0]["outcome"], "close")
        self.assertIsNone(self.srv.transactions[0]["reply"])
        self.assertEqual(self.srv.messages, [])
        s2 = self.smtp()
        self.assertEqual(self.transact(s2)[0], 250)
        self.assertEqual(self.srv.connections, 2)

    def test_reply_421_next(self):
        self.srv.reply_421_next(1)
        c = RawClient(self.srv.port)
        self.assertTrue(c.send(b"Subject: x\r\n\r\nx\r\n").startswith(b"421 "))
        self.assertEqual(c.sock.recv(100), b"")    # server closed the connection
        c.close()
        self.assertEqual(self.srv.messages, [])

    def test_delay_next(self):
        self.srv.delay_next(1, 0.7)
        s = self.smtp()
        t0 = time.monotonic()
        self.assertEqual(self.transact(s)[0], 250)
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        t0 = time.monotonic()
        self.assertEqual(self.transact(s)[0], 250)
        self.assertLess(time.monotonic() - t0, 0.5)

    def test_connection_reuse_counter(self):
        s = self.smtp()
        for _ in range(3):
            self.assertEqual(self.transact(s)[0], 250)
        s.quit()
        msgs = self.srv.wait_for(3, timeout=5)
        self.assertEqual(self.srv.connections, 1)
        self.assertEqual({m["session_id"] for m in msgs}, {1})
        self.assertEqual(len({m["queue_id"] for m in msgs}), 3)

    def test_wait_for_timeout_reports(self):
        self.srv.fail_next(1, 451, "4.3.0 try later")
        self.transact(self.smtp())
        with self.assertRaises(AssertionError) as cm:
            self.srv.wait_for(1, timeout=0.3)
        self.assertIn("4.3.0 try later", str(cm.exception))

    def test_no_auth_advertised_without_users(self):
        s = self.smtp()
        self.assertFalse(s.has_extn("auth"))
        self.assertTrue(s.has_extn("8bitmime"))


class TLSAuthTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cert, cls.key = make_self_signed_cert(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def server(self, **kw):
        srv = CaptureServer(tls_cert=self.cert, tls_key=self.key, **kw).start()
        self.addCleanup(srv.stop)
        return srv

    def client(self, srv):
        s = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
        self.addCleanup(s.close)
        s.ehlo("selftest")
        return s

    def ctx(self):
        return ssl.create_default_context(cafile=self.cert)   # verifies IP SAN 127.0.0.1

    def test_starttls_auth_plain_and_login(self):
        srv = self.server(require_starttls=True, auth_users={"letterd": "s3cret"})
        for mech in ("PLAIN", "LOGIN"):
            s = self.client(srv)
            self.assertTrue(s.has_extn("starttls"))
            self.assertFalse(s.has_extn("auth"))
            self.assertEqual(s.mail("a@example.org")[0], 530)   # must STARTTLS first
            s.starttls(context=self.ctx())
            s.ehlo("selftest")
            self.assertIn(mech, s.esmtp_features["auth"].split())
            self.assertEqual(s.mail("a@example.org")[0], 530)   # AUTH required
            s.rset()
            s.user, s.password = "letterd", "s3cret"
            code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()))
            self.assertEqual(code, 235)
            self.assertEqual(s.sendmail("a@example.org", ["b@example.org"], MSG), {})
            s.quit()
        msgs = srv.wait_for(2)
        self.assertEqual([m["authenticated_user"] for m in msgs], ["letterd", "letterd"])
        self.assertEqual(srv.connections, 2)

    def test_wrong_password(self):
        srv = self.server(auth_users={"letterd": "s3cret"})
        s = self.client(srv)
        s.starttls(context=self.ctx())
        s.ehlo("selftest")
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login("letterd", "wrong")
        self.assertEqual(cm.exception.smtp_code, 535)
        self.assertIn(b"5.7.8", cm.exception.smtp_error)

    def test_tls_without_auth_users(self):
        srv = self.server()
        s = self.client(srv)
        s.starttls(context=self.ctx())
        s.ehlo("selftest")
        self.assertFalse(s.has_extn("auth"))
        self.assertEqual(s.sendmail("a@example.org", ["b@example.org"], MSG), {})
        self.assertEqual(srv.wait_for(1)[0]["session_id"], 1)

    def test_close_and_421_under_tls(self):
        srv = self.server()
        for fault in (srv.close_next, srv.reply_421_next):
            fault(1)
            s = self.client(srv)
            s.starttls(context=self.ctx())
            s.ehlo("selftest")
            with self.assertRaises((smtplib.SMTPServerDisconnected, smtplib.SMTPDataError,
                                    smtplib.SMTPResponseException)):
                s.sendmail("a@example.org", ["b@example.org"], MSG)
        self.assertEqual([t["outcome"] for t in srv.transactions], ["close", "421"])


class CLITests(unittest.TestCase):
    def test_cli(self):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.Popen([sys.executable, os.path.join(HERE, "smtp_server.py"),
                                  "--port", "0", "--maildir", d],
                                 stdout=subprocess.PIPE, text=True)
            try:
                line = p.stdout.readline()
                m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
                self.assertTrue(m, line)
                with smtplib.SMTP("127.0.0.1", int(m.group(1)), timeout=10) as s:
                    s.sendmail("a@example.org", ["b@example.org"], MSG)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(timeout=10), 0)
                self.assertEqual(os.listdir(d), ["0001.eml"])
            finally:
                if p.poll() is None:
                    p.kill()
                p.stdout.close()


if __name__ == "__main__":
    unittest.main()
