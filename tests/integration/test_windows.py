"""Sending windows against the real SMTP server: letters dropped before
their window opens wait as queued with next_attempt_at at the opening, and
go then; letters without a window go at once. The window is computed from
the test's own clock, seconds wide."""
import datetime
import signal
import time
import unittest

from harness import RelayTestCase, submission


def utc_time_of_day(moment):
    return moment.strftime("%H:%M:%S")


class Windows(RelayTestCase):
    def test_letters_dropped_before_the_window_wait_and_go_at_its_opening(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        if now.hour == 23 and now.minute == 59:
            time.sleep(61 - now.second)  # the window must open and close on one day
            now = datetime.datetime.now(datetime.timezone.utc)
        opens = (now + datetime.timedelta(seconds=4)).replace(microsecond=0)
        closes = opens + datetime.timedelta(seconds=30)
        self.letterd.campaign["letters"]["mp"]["window"] = {
            "hours": f"{utc_time_of_day(opens)}-{utc_time_of_day(closes)}", "timezone": "UTC"}
        self.letterd.campaign["copy_to_supporter"] = "none"
        self.letterd.write_config()
        self.letterd.start()
        for n in range(2):
            sub = submission(id=f"w{n}")
            sub["supporter"] = dict(sub["supporter"], email=f"w{n}@example.org")
            self.letterd.drop(f"w{n}.json", sub)

        # The minister's letters have no window: they go at once; the MP's wait.
        first = self.server.wait_for(2)
        self.assertEqual({m["rcpt_tos"][0] for m in first}, {"justice.secretary@example.org"})
        self.assertLess(datetime.datetime.now(datetime.timezone.utc), opens, "the test's window opened too soon")
        waiting = self.letterd.query("SELECT status, next_attempt_at FROM messages WHERE letter = 'mp'")
        self.assertEqual([r["status"] for r in waiting], ["queued", "queued"])
        self.assertEqual({r["next_attempt_at"] for r in waiting},
                         {opens.strftime("%Y-%m-%dT%H:%M:%S.000Z")}, "due at the opening")

        later = self.server.wait_for(4, timeout=20)[2:]
        self.assertEqual([m["rcpt_tos"][0] for m in later], ["alex.example.mp@example.org"] * 2)
        self.letterd.wait_for_status("sent", 4)
        sent_at = [datetime.datetime.fromisoformat(r["sent_at"].replace("Z", "+00:00"))
                   for r in self.letterd.query("SELECT sent_at FROM messages WHERE letter = 'mp'")]
        self.assertTrue(all(opens <= t < closes for t in sent_at), (opens, sent_at))

    def test_a_window_taken_out_of_the_config_lets_its_letters_go_at_the_reload(self):
        tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%a")
        self.letterd.campaign["window"] = {"days": tomorrow, "timezone": "UTC"}
        self.letterd.campaign["copy_to_supporter"] = "none"
        self.letterd.write_config()
        self.letterd.start()
        self.letterd.drop("r.json", submission(id="r"))
        self.letterd.wait_for_status("queued", 2)
        time.sleep(1)
        self.assertEqual(self.server.messages, [], "both letters wait for tomorrow")
        del self.letterd.campaign["window"]
        self.letterd.write_config()
        self.letterd.process.send_signal(signal.SIGHUP)
        self.assertEqual(len(self.server.wait_for(2)), 2)


if __name__ == "__main__":
    unittest.main()
