"""What a long campaign needs of the running daemon: one daemon per
database even when the database is deleted under it, nothing kept past
retention (the queue's kept files too), and errors said once."""
import glob
import os
import signal
import subprocess
import time
import unittest

from harness import LETTERD, RelayTestCase, submission


def supporter(n, **overrides):
    fields = {"id": f"web-{n}",
              "supporter": {"name": f"Supporter Number{n}", "email": f"s{n}@example.org", "postcode": "SW1A 1AA",
                            "address": "1 Example Street, London"}}
    fields.update(overrides)
    return submission(**fields)


class DatabaseUnderTheDaemon(RelayTestCase):
    def test_a_deleted_database_stops_the_daemon_and_leaves_new_files_waiting(self):
        self.letterd.start()
        self.letterd.drop("first.json", supporter(1))
        self.letterd.wait_for_status("sent", 2)
        for path in glob.glob(self.letterd.database + "*"):
            os.unlink(path)
        for n in range(2, 12):
            self.letterd.drop(f"later-{n}.json", supporter(n))
        code = self.letterd.process.wait(timeout=15)
        self.letterd.process = None
        self.letterd.log_file.close()
        self.assertEqual(code, 1)
        log = self.letterd.daemon_log()
        self.assertIn("was deleted or replaced while letterd ran", log)
        # Every file dropped after the deletion is still there for a daemon with a database.
        self.assertEqual(self.letterd.waiting(), sorted(f"later-{n}.json" for n in range(2, 12)))

        self.letterd.run_once()
        self.assertEqual(self.letterd.waiting(), [])
        self.assertEqual(len([m for m in self.letterd.messages() if m["status"] == "sent"]), 20)
        # Nothing committed into the deleted database went out: each letter reached the relay once.
        self.assertEqual(len(self.server.messages), 22)

    def test_a_second_daemon_sees_the_first_after_its_database_was_deleted(self):
        self.letterd.start()
        self.letterd.drop("first.json", supporter(1))
        self.letterd.wait_for_status("sent", 2)
        os.unlink(self.letterd.database)
        second = subprocess.run([LETTERD, "-c", self.letterd.config_path, "run"], capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn("another letterd is running on a database in " + self.letterd.dir, second.stderr)


class KeptFiles(RelayTestCase):
    def kept(self, sub):
        path = os.path.join(self.letterd.queue, sub)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def test_retention_removes_accepted_and_rejected_files_with_the_bodies(self):
        self.letterd.extra = {"retention": {"bodies": "1s"}, "queue": {"rescan": "1s", "keep_accepted": True}}
        self.letterd.write_config()
        self.letterd.drop("kept.json", supporter(1))
        self.letterd.drop("bad.json", supporter(2, campaign="no-such-campaign"))
        self.letterd.run_once()
        self.assertEqual(self.kept("accepted"), ["kept.json"])
        self.assertEqual(self.kept("rejected"), ["bad.json", "bad.json.error"])
        # Young files stay.
        self.letterd.cli("purge", check=True)
        self.assertEqual(self.kept("accepted"), ["kept.json"])
        time.sleep(1.2)
        out = self.letterd.cli("purge", check=True).stdout
        self.assertIn("2 kept queue file(s)", out)
        self.assertEqual(self.kept("accepted"), [])
        self.assertEqual(self.kept("rejected"), [])

    def test_the_daemons_hourly_retention_removes_old_kept_files(self):
        self.letterd.extra = {"retention": {"bodies": "1s"}, "queue": {"rescan": "1s", "keep_accepted": True}}
        self.letterd.write_config()
        self.letterd.drop("kept.json", supporter(1))
        self.letterd.run_once()
        self.assertEqual(self.kept("accepted"), ["kept.json"])
        time.sleep(1.2)
        self.letterd.start()  # retention runs at start, then hourly
        # The line comes when the whole run is done, the space given back after the files.
        deadline = time.time() + 10
        while "1 kept queue files" not in self.letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.kept("accepted"), [])
        self.assertEqual(self.letterd.stop(), 0)
        self.assertIn("1 kept queue files", self.letterd.daemon_log())
        self.assertEqual(self.letterd.query("SELECT count(*) AS n FROM messages WHERE body IS NULL")[0]["n"], 2)

    def test_purge_supporter_removes_their_kept_and_rejected_files_and_rejections(self):
        self.letterd.extra = {"queue": {"rescan": "1s", "keep_accepted": True}}
        self.letterd.write_config()
        self.letterd.drop("jane.json", supporter(1))
        self.letterd.drop("other.json", supporter(2))
        self.letterd.run_once()
        self.letterd.drop("jane-again.json", supporter(1, id="web-1b"))  # a duplicate: rejected
        self.letterd.run_once()
        self.assertEqual(self.kept("accepted"), ["jane.json", "other.json"])
        self.assertIn("jane-again.json", self.kept("rejected"))
        out = self.letterd.cli("purge", "--supporter", "S1@example.org", check=True).stdout
        self.assertIn("2 kept queue file(s) removed", out)
        self.assertEqual(self.kept("accepted"), ["other.json"])
        self.assertEqual(self.kept("rejected"), [])
        self.assertEqual(self.letterd.query("SELECT file FROM rejections"), [])


class ErasureIsExact(RelayTestCase):
    def test_purge_supporter_leaves_a_longer_address_that_contains_theirs(self):
        self.letterd.extra = {"queue": {"rescan": "1s", "keep_accepted": True}}
        self.letterd.write_config()
        for name, address in (("ann", "ann@example.org"), ("joann", "joann@example.org"),
                              ("ann-uk", "ann@example.org.uk")):
            self.letterd.drop(f"{name}.json", supporter(1, id=name, campaign="no-such-campaign",
                                                          supporter={"name": "A Supporter", "email": address,
                                                                     "postcode": "SW1A 1AA", "address": "1 Street"}))
        self.letterd.run_once()
        self.assertEqual(len(self.letterd.query("SELECT file FROM rejections")), 3)
        self.letterd.cli("purge", "--supporter", "ann@example.org", check=True)
        rejected = os.listdir(os.path.join(self.letterd.queue, "rejected"))
        self.assertEqual(sorted(rejected), ["ann-uk.json", "ann-uk.json.error", "joann.json", "joann.json.error"])
        self.assertEqual(sorted(r["file"] for r in self.letterd.query("SELECT file FROM rejections")),
                         ["ann-uk.json", "joann.json"])


class Status(RelayTestCase):
    def test_status_counts_what_the_log_holds(self):
        for n in range(5):
            self.letterd.drop(f"s{n}.json", supporter(n))
        self.letterd.run_once()
        out = self.letterd.cli("status", check=True).stdout
        self.assertRegex(out, r"legal-advocacy\s+0\s+0\s+0\s+10\s+0")
        self.assertIn("sent in the last minute: 10", out)


if __name__ == "__main__":
    unittest.main()
