"""The postcode lookup through the real binary: `letterd postcodes import`
of the example ONS Postcode Directory, its replacement by a second import
while lookups run, and `letterd lookup` with the exit codes and reasons a
web form relies on (0 found; 1 not found, terminated or not a postcode;
2 bad usage). Sends nothing: the relay's port is never dialled."""
import json
import os
import sqlite3
import stat
import subprocess
import sys
import unittest

from harness import SOURCE, Letterd

EXAMPLE = os.path.join(SOURCE, "config", "postcodes-example.csv")
MAKE_ONSPD = os.path.join(SOURCE, "bench", "make-onspd")


class Postcodes(unittest.TestCase):
    def setUp(self):
        self.letterd = Letterd(port=2525)
        self.addCleanup(self.letterd.cleanup)
        self.lookup_path = os.path.join(self.letterd.dir, "lookup", "postcodes.db")
        os.makedirs(os.path.dirname(self.lookup_path))
        self.letterd.extra = {"postcodes": "lookup/postcodes.db"}  # relative to the config's folder
        self.letterd.write_config()

    def import_file(self, path, code=0):
        result = self.letterd.cli("postcodes", "import", path)
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)
        return result

    def lookup(self, *args, code=0):
        result = self.letterd.cli("lookup", *args)
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)
        return result

    def lookup_folder(self):
        return sorted(os.listdir(os.path.dirname(self.lookup_path)))

    def write_csv(self, name, text):
        path = os.path.join(self.letterd.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_import_of_the_example_says_what_it_read_and_kept(self):
        out = self.import_file(EXAMPLE).stdout
        self.assertIn("postcode from pcds, constituency from pcon, terminations from doterm", out)
        self.assertIn("rows read: 42\n", out)
        self.assertIn("live: 37\n", out)
        self.assertIn("terminated: 3\n", out)
        self.assertIn("skipped: 2\n", out)
        self.assertIn("a pseudo-code for no constituency (such as L99999999 or M99999999): 2 (lines 42, 43)", out)
        self.assertIn("constituency codes: 24\n", out)
        self.assertIn(self.lookup_path + ": replaced", out)
        self.assertEqual(self.lookup_folder(), ["postcodes.db"])
        self.assertEqual(stat.S_IMODE(os.stat(self.lookup_path).st_mode), 0o644)
        with sqlite3.connect(self.lookup_path) as db:
            self.assertEqual(db.execute("SELECT constituency_code, terminated FROM lookup WHERE postcode = 'SE1 2AA'")
                             .fetchall(), [("E14001084", 202203)])

    def test_lookup_of_a_live_a_terminated_an_unknown_and_a_malformed_postcode(self):
        self.import_file(EXAMPLE)
        out = self.lookup("sw1a0aa").stdout
        self.assertEqual(out, "postcode           SW1A 0AA\nconstituency_code  E14001172\n")
        self.assertIn("SW1A 2AA", self.lookup("SW1A", "2AA").stdout)  # typed without quotes
        self.assertIn("W07000084", self.lookup("cf99 1sn", "--campaign", "legal-advocacy").stdout)

        result = self.lookup("SE1 2AA", code=1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr, "letterd: SE1 2AA: terminated in 2022-03\n")
        self.assertEqual(self.lookup("EC1A 1BB", code=1).stderr, "letterd: EC1A 1BB: not in the postcode lookup\n")
        self.assertEqual(self.lookup("JE1 1DD", code=1).stderr, "letterd: JE1 1DD: not in the postcode lookup\n")
        self.assertEqual(self.lookup("SW1A-1AA", code=1).stderr, "letterd: not a UK postcode\n")
        self.assertEqual(self.lookup("hello", code=1).stderr, "letterd: not a UK postcode\n")

    def test_lookup_as_json(self):
        self.import_file(EXAMPLE)
        found = json.loads(self.lookup("bt4 3xx", "--format", "json").stdout)
        self.assertEqual(found, {"postcode": "BT4 3XX", "constituency_code": "N05000001", "terminated": None,
                                 "targets": [], "problem": None})
        gone = json.loads(self.lookup("M60 2LA", "--format=json", code=1).stdout)
        self.assertEqual(gone, {"postcode": "M60 2LA", "constituency_code": "E14001356", "terminated": "2015-06",
                                "targets": [], "problem": "terminated in 2015-06"})
        unknown = json.loads(self.lookup("EC1A 1BB", "--format", "json", code=1).stdout)
        self.assertEqual((unknown["postcode"], unknown["constituency_code"], unknown["problem"]),
                         ("EC1A 1BB", None, "not in the postcode lookup"))
        malformed = self.lookup("not a postcode", "--format", "json", code=1)
        self.assertEqual(json.loads(malformed.stdout)["postcode"], None)
        self.assertEqual(json.loads(malformed.stdout)["problem"], "not a UK postcode")
        self.assertEqual(malformed.stderr, "")

    def test_a_reimport_replaces_the_lookup_whole(self):
        self.import_file(EXAMPLE)
        before = os.stat(self.lookup_path).st_ino
        reader = sqlite3.connect(self.lookup_path)  # open before, as a running daemon would be
        self.addCleanup(reader.close)
        self.assertEqual(reader.execute("SELECT count(*) FROM postcodes").fetchone(), (40,))

        second = self.write_csv("second.csv", "pcd7,pcon24cd,doterm\nEC1A 1BB,E14001172,\nSW1A 1AA,E14001999,\n")
        out = self.import_file(second).stdout
        self.assertIn("postcode from pcd7, constituency from pcon24cd", out)
        self.assertNotEqual(os.stat(self.lookup_path).st_ino, before)
        self.assertEqual(self.lookup_folder(), ["postcodes.db"])
        # The reader that had the old lookup still has all of it; a new one has all of the new.
        self.assertEqual(reader.execute("SELECT count(*) FROM postcodes").fetchone(), (40,))
        self.assertIn("E14001999", self.lookup("SW1A 1AA").stdout)
        self.assertIn("EC1A 1BB", self.lookup("EC1A 1BB").stdout)
        self.lookup("SE1 2AA", code=1)

    def test_lookups_during_an_import_see_the_old_lookup_or_the_new_never_none(self):
        big = os.path.join(self.letterd.dir, "onspd.csv")
        subprocess.run([sys.executable, MAKE_ONSPD, "--rows", "200000", "--out", big], check=True,
                       capture_output=True)
        self.import_file(big)
        importing = subprocess.Popen([os.environ.get("LETTERD_BIN", "letterd"), "-c", self.letterd.config_path,
                                      "postcodes", "import", big], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        answers = []
        while importing.poll() is None or not answers:
            answers.append(self.letterd.cli("lookup", "AA1 0AB").returncode)
        self.assertEqual(importing.wait(), 0, importing.stderr.read())
        importing.stdout.close()
        importing.stderr.close()
        self.assertEqual(set(answers), {0}, f"{len(answers)} lookups")
        self.assertGreater(len(answers), 3, "the import ended before lookups could overlap it")
        self.assertEqual(self.lookup_folder(), ["postcodes.db"])

    def test_a_file_without_the_columns_is_bad_usage_and_the_old_lookup_stays(self):
        self.import_file(EXAMPLE)
        targets = self.write_csv("targets.csv", "id,name,email\nmp-a,A,a@example.org\n")
        result = self.import_file(targets, code=2)
        self.assertEqual(result.stderr,
                         f"letterd: {targets}:1: no postcode column (pcds, pcd, pcd7, pcd8, pcd2 or postcode); "
                         "no constituency column (pcon24cd, pcon or constituency_code)\n")
        only_postcodes = self.write_csv("only.csv", "pcds,name\nSW1A 1AA,x\n")
        self.assertIn("no constituency column", self.import_file(only_postcodes, code=2).stderr)
        self.assertIn("is empty", self.import_file(self.write_csv("empty.csv", ""), code=2).stderr)
        missing = os.path.join(self.letterd.dir, "missing.csv")
        self.assertEqual(self.import_file(missing, code=1).stderr,
                         f"letterd: cannot read {missing}: No such file or directory\n")
        damaged = self.write_csv("damaged.csv", 'pcds,pcon\nSW1A 1AA,E14001172\n"SW1A 0AA,E14001172\n')
        self.assertEqual(self.import_file(damaged, code=1).stderr,
                         f"letterd: {damaged}:3: a quoted field is never closed\n")
        self.assertIn("E14001172", self.lookup("SW1A 1AA").stdout)
        self.assertEqual(self.lookup_folder(), ["postcodes.db"])

    def test_lookup_before_any_import_says_how_to_build_one(self):
        result = self.lookup("SW1A 1AA", code=1)
        self.assertEqual(result.stderr, f"letterd: no postcode lookup at {self.lookup_path} "
                                        "(letterd postcodes import FILE builds it)\n")

    def test_a_config_without_postcodes_refuses_both_commands(self):
        self.letterd.extra = {}
        self.letterd.write_config()
        for args in (("postcodes", "import", EXAMPLE), ("lookup", "SW1A 1AA")):
            result = self.letterd.cli(*args)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn("postcodes: is not set", result.stderr)

    def test_bad_usage_exits_2(self):
        for args in (("postcodes",), ("postcodes", "export", EXAMPLE), ("postcodes", "import"),
                     ("postcodes", "import", EXAMPLE, EXAMPLE), ("lookup",), ("lookup", "SW1A", "1AA", "x"),
                     ("lookup", "SW1A 1AA", "--format", "csv"), ("lookup", "SW1A 1AA", "--campaign", "nope"),
                     ("lookup", "SW1A 1AA", "--target", "x")):
            self.assertEqual(self.letterd.cli(*args).returncode, 2, args)


if __name__ == "__main__":
    unittest.main()
