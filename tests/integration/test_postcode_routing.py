"""Letters by postcode, end to end against the real SMTP server: the
example ONS Postcode Directory imported, a supporter who gives only their
postcode reaches their MP, and a terminated or unknown postcode is rejected
with its reason."""
import os
import time
import unittest

from harness import SOURCE, RelayTestCase, parse, submission

EXAMPLE = os.path.join(SOURCE, "config", "postcodes-example.csv")


class ByPostcode(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.letterd.extra = {"postcodes": "postcodes.db"}
        self.letterd.campaign["letters"]["mp"]["to"] = {"by": "postcode"}
        self.letterd.write_config()

    def import_example(self):
        result = self.letterd.cli("postcodes", "import", EXAMPLE)
        self.assertEqual(result.returncode, 0, result.stderr)

    def by_postcode(self, id, postcode):
        s = submission(id=id)
        del s["constituency"]
        s["supporter"]["postcode"] = postcode
        return s

    def test_a_postcode_alone_reaches_the_mp_for_it(self):
        self.import_example()
        self.letterd.drop("p.json", self.by_postcode("p", "sw1a1aa"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        to = sorted(parse(raw["data"])["To"].addresses[0].addr_spec for raw in self.server.wait_for(2))
        self.assertEqual(to, ["alex.example.mp@example.org", "justice.secretary@example.org"])
        rows = self.letterd.query("SELECT postcode FROM submissions")
        self.assertEqual([r["postcode"] for r in rows], ["SW1A 1AA"], "the canonical form is kept")
        check = self.letterd.cli("check")
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("constituencies in the postcode lookup have a target", check.stdout)

    def test_a_terminated_or_unknown_postcode_is_rejected_with_its_reason(self):
        self.import_example()
        self.letterd.drop("old.json", self.by_postcode("old", "EC2P 2EJ"))
        self.letterd.drop("unknown.json", self.by_postcode("unknown", "SW1A 1ZZ"))
        self.letterd.drop("nothing.json", self.by_postcode("nothing", "not a postcode"))
        self.letterd.run_once()
        self.assertEqual(self.letterd.rejected(), ["nothing.json", "nothing.json.error", "old.json", "old.json.error",
                                                   "unknown.json", "unknown.json.error"])
        self.assertIn("supporter.postcode: terminated in 2019-12", self.letterd.error_file("old.json"))
        self.assertIn("supporter.postcode: not in the postcode lookup", self.letterd.error_file("unknown.json"))
        self.assertIn("supporter.postcode: not a UK postcode", self.letterd.error_file("nothing.json"))
        self.assertNotIn("SW1A 1ZZ", self.letterd.error_file("unknown.json"), "the reason, never the value")
        self.assertEqual(self.server.transactions, [])

    def test_without_the_lookup_files_wait_until_it_is_imported(self):
        self.letterd.start()
        self.letterd.drop("w.json", self.by_postcode("w", "BS1 5TR"))
        deadline = time.time() + 10
        while "cannot take w.json now" not in self.letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("postcodes import FILE builds it", self.letterd.daemon_log())
        self.assertEqual(self.letterd.waiting(), ["w.json"], "letterd's own trouble: the file is not rejected")
        self.import_example()
        self.letterd.wait_for_status("sent", 2, timeout=15)
        to = sorted(parse(raw["data"])["To"].addresses[0].addr_spec for raw in self.server.wait_for(2))
        self.assertEqual(to, ["justice.secretary@example.org", "robin.fictional.mp@example.org"])


if __name__ == "__main__":
    unittest.main()
