"""letterd against a hostile or careless relay set-up: relay urls libcurl
would refuse or that hold a password, a config with a second YAML
document, and a real SMTP server (aiosmtpd) that answers with endless
replies or not at all."""
import json
import time
import unittest

from harness import RelayTestCase, submission

URL_ADVICE = ("holds a user name or password; put the user in username: and the password in "
              "password_file: or password_env:")


def multi_line_reply(code, total_bytes, line_bytes=1000):
    """A reply of about `total_bytes` in lines of `line_bytes`, the way a hostile relay might answer."""
    filler = "%d-5.7.1 %s" % (code, "y" * (line_bytes - 10))
    lines = [filler] * (total_bytes // (line_bytes + 2))
    return "\r\n".join(lines + ["%d 5.7.1 the end" % code])


class RelayUrls(RelayTestCase):

    def check(self, url):
        self.letterd.relay["url"] = url
        self.letterd.write_config()
        return self.letterd.cli("check")

    def test_a_password_in_the_url_is_refused_and_never_shown(self):
        url = f"smtp://letters%40example.org:hunter2-horse@127.0.0.1:{self.server.port}"
        result = self.check(url)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("relays.local.url: " + URL_ADVICE, result.stderr)
        for args in (("run", "--once"), ("status",)):
            other = self.letterd.cli(*args)
            self.assertNotEqual(other.returncode, 0, args)
            self.assertNotIn("hunter2-horse", other.stdout + other.stderr, args)
        self.assertNotIn("hunter2-horse", result.stdout + result.stderr)
        self.assertEqual(self.server.connections, 0, "letterd must not log in with a password from the url")

    def test_check_refuses_every_url_libcurl_would_refuse_when_sending(self):
        port = self.server.port
        for url, says in ((f"smtp://127.0.0.1:99999", "Port number"),
                          (f"smtp://127.0.0.1\r\n:{port}", "control character"),
                          (f"smtp://127.0.0.1:{port}/helo\x7f", "control character"),
                          (f"smtp://:{port}", "no host"),
                          ("smtp://", "no host"),
                          (f"imap://127.0.0.1:{port}", "must start with smtp:// or smtps://"),
                          (f"http://127.0.0.1:{port}", "must start with smtp:// or smtps://")):
            with self.subTest(url=url):
                result = self.check(url)
                self.assertEqual(result.returncode, 2, result.stdout)
                self.assertIn("relays.local.url: ", result.stderr)
                self.assertIn(says, result.stderr)

    def test_check_still_passes_a_good_url(self):
        result = self.check(f"smtp://127.0.0.1:{self.server.port}")
        self.assertEqual(result.returncode, 0, result.stderr)


class ConfigDocuments(RelayTestCase):

    def test_a_second_yaml_document_is_refused_naming_the_file(self):
        second = {"relays": {"local": dict(self.letterd.relay, url="smtp://127.0.0.1:1")}}
        self.letterd.write_config(json.dumps(self.letterd.config()) + "\n---\n" + json.dumps(second) + "\n")
        result = self.letterd.cli("check")
        self.assertEqual(result.returncode, 2, result.stdout)
        self.assertIn(self.letterd.config_path + ":", result.stderr)
        self.assertIn("second YAML document", result.stderr)


class HostileReplies(RelayTestCase):

    def setUp(self):
        super().setUp()
        self.letterd.campaign["letters"].pop("justice-secretary")  # one letter a submission
        self.letterd.write_config()

    def test_a_10_mb_reply_is_kept_and_logged_in_1_kb(self):
        self.server.raw_reply_next(1, multi_line_reply(554, 10_000_000))
        self.letterd.drop("big.json", submission(id="big"))
        result = self.letterd.run_once(timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        row = self.letterd.messages()[0]
        self.assertEqual(row["status"], "failed")
        self.assertEqual(row["smtp_code"], 554)
        attempt = self.letterd.query("SELECT smtp_response FROM attempts")[0]
        for kept in (row["smtp_response"], attempt["smtp_response"]):
            # 1 KB of the reply; the delivery record may add a short reason after it.
            self.assertLessEqual(len(kept.encode("utf-8")), 1024 + 80, kept[:80])
            self.assertTrue(kept.startswith("5.7.1 yyy"), kept[:80])
            self.assertIn("[cut: the relay's reply was longer than 1 KB]", kept)
        self.assertLess(len(result.stderr), 8_000, "the log must not carry the relay's reply in full")
        self.assertLess(max(len(line) for line in result.stderr.splitlines()), 2_000)

    def test_a_250_to_the_end_of_data_too_long_for_libcurl_is_sent_once(self):
        # Over libcurl's 300 KB limit for replies: libcurl reports an error,
        # but the relay had taken the letter with its first line.
        self.letterd.retry = {"first": "500ms", "max": "1s", "lifetime": "1h"}
        self.letterd.write_config()
        self.server.long_accept_next(10, 1_000_000)
        self.letterd.start()
        self.letterd.drop("long.json", submission(id="long"))
        self.letterd.wait_for_status("sent", 1, timeout=10)
        time.sleep(3)  # three backoffs: a letter taken for deferred would go again
        self.assertEqual(len(self.server.transactions), 1, "the letter was sent again")
        row = self.letterd.messages()[0]
        self.assertEqual((row["status"], row["attempts"], row["smtp_code"]), ("sent", 1, 250))
        queue_id = self.server.messages[0]["queue_id"]
        self.assertTrue(row["smtp_response"].startswith("2.0.0 Ok: queued as " + queue_id), row["smtp_response"][:80])
        self.assertLessEqual(len(row["smtp_response"]), 1024)

    def test_a_stalled_reply_ends_after_about_the_timeout(self):
        timeout_ms = 2000
        self.letterd.relay["timeout"] = f"{timeout_ms}ms"
        self.letterd.write_config()
        self.server.stall_next(1)
        self.letterd.drop("stall.json", submission(id="stall"))
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        attempts = self.letterd.query("SELECT outcome, smtp_code, duration_ms FROM attempts")
        self.assertEqual(len(attempts), 1, attempts)
        self.assertEqual(attempts[0]["outcome"], "deferred")
        self.assertIsNone(attempts[0]["smtp_code"])
        self.assertGreaterEqual(attempts[0]["duration_ms"], timeout_ms * 0.9, "it must wait for the timeout")
        self.assertLess(attempts[0]["duration_ms"], timeout_ms * 1.5, "a stalled reply must end after about timeout")
        self.assertEqual(self.letterd.messages()[0]["status"], "deferred")


if __name__ == "__main__":
    unittest.main()
