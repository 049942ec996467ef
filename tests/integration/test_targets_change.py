"""Targets that change under a running campaign, against the real SMTP
server: a reshuffle readdresses the minister's waiting letters to the new
one, greeting them by name; a vacant seat holds its letters until a reload
brings the new member, whom they then greet; a target removed from the file
holds its letters, never fails them; a sent letter is never touched."""
import os
import signal
import time
import unittest

from harness import SOURCE, RelayTestCase, body_of, parse, submission

EXAMPLE_LOOKUP = os.path.join(SOURCE, "config", "postcodes-example.csv")
HEADER = "id,name,email,constituency,constituency_code,status\n"
CITIES = "mp-cities,Alex Example MP,alex.example.mp@example.org,Cities of London and Westminster,E14001172,\n"
BRISTOL = "mp-bristol,Robin Fictional MP,robin.fictional.mp@example.org,Bristol Central,E14001131,\n"
MINISTER = "justice-secretary,Sam Sample MP,justice.secretary@example.org,,,\n"


def by_postcode(id, postcode, email):
    s = submission(id=id, fields={"story": "a field no template uses"})
    del s["constituency"]
    s["supporter"] = dict(s["supporter"], postcode=postcode, email=email, name=f"Supporter {id}")
    return s


class TargetsChange(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.targets = os.path.join(self.letterd.dir, "targets.csv")
        self.write_targets(CITIES + BRISTOL + MINISTER)
        self.letterd.extra = {"postcodes": "postcodes.db"}
        self.letterd.campaign["targets"] = self.targets
        self.letterd.campaign["letters"]["mp"]["to"] = {"by": "postcode"}
        self.letterd.write_config()
        imported = self.letterd.cli("postcodes", "import", EXAMPLE_LOOKUP)
        self.assertEqual(imported.returncode, 0, imported.stderr)

    def write_targets(self, rows):
        with open(self.targets, "w") as f:
            f.write(HEADER + rows)

    def reload_and_wait_for(self, line, timeout=10):
        self.letterd.process.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if line in self.letterd.daemon_log():
                return
            time.sleep(0.05)
        self.fail(f"no log line {line!r}:\n{self.letterd.daemon_log()}")

    def received(self, count):
        return {parse(raw["data"])["To"].addresses[0].addr_spec: parse(raw["data"])
                for raw in self.server.wait_for(count)}

    def test_a_reshuffle_readdresses_the_ministers_waiting_letters(self):
        self.letterd.start()
        self.letterd.cli("hold", "--letter", "justice-secretary", "--reason", "reshuffle expected", check=True)
        self.letterd.drop("a.json", by_postcode("a", "SW1A 1AA", "a@example.org"))
        self.letterd.drop("b.json", by_postcode("b", "BS1 5TR", "b@example.org"))
        self.letterd.wait_for_status("sent", 2)
        self.letterd.wait_for_status("held", 2)
        sent_before = self.letterd.query("SELECT id, recipient, body FROM messages WHERE status = 'sent' ORDER BY id")
        self.assertEqual({r["fields"] for r in self.letterd.query("SELECT fields FROM submissions")}, {"{}"},
                         "the log keeps only the fields a template uses")

        self.write_targets(CITIES + BRISTOL + "justice-secretary,Kim Newcomer MP,new.minister@example.org,,,\n")
        self.reload_and_wait_for("campaign legal-advocacy, target justice-secretary: its row changed: email, name; "
                                 "2 letter(s) rendered again for it as it is now")
        self.assertEqual(self.letterd.query("SELECT id, recipient, body FROM messages WHERE status = 'sent' "
                                            "ORDER BY id"), sent_before, "a sent letter is never touched")
        self.letterd.cli("release", "--hold", "1", check=True)
        self.server.wait_for(4)
        to_minister = [parse(raw["data"]) for raw in self.server.messages
                       if "new.minister@example.org" in raw["rcpt_tos"]]
        self.assertEqual(len(to_minister), 2, [m["rcpt_tos"] for m in self.server.messages])
        for message in to_minister:
            self.assertEqual(message["To"].addresses[0].display_name, "Kim Newcomer MP")
            self.assertTrue(body_of(message).startswith("Dear Kim Newcomer MP,"), body_of(message)[:80])
        self.assertFalse(any("justice.secretary@example.org" in raw["rcpt_tos"] for raw in self.server.messages))

    def test_a_letter_retried_after_the_address_is_corrected_goes_to_the_corrected_row(self):
        self.server.reject_rcpt("justice.secretary@example.org")
        self.letterd.start()
        self.letterd.drop("f.json", by_postcode("f", "SW1A 1AA", "f@example.org"))
        self.letterd.wait_for_status("failed", 1)
        # Nothing waits when the address is corrected: the reload has no letter to readdress.
        self.write_targets(CITIES + BRISTOL + "justice-secretary,Sam Sample MP,minister@example.org,,,\n")
        self.letterd.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "config reloaded" not in self.letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.05)
        self.letterd.cli("retry", "--failed", check=True)
        received = self.received(2)
        self.assertIn("minister@example.org", received, "the retried letter goes to the row as it is now")
        self.assertNotIn("justice.secretary@example.org", [to for m in self.server.messages for to in m["rcpt_tos"]])

    def test_a_vacant_seat_holds_until_a_reload_brings_the_new_member(self):
        self.write_targets(CITIES.replace(",\n", ",vacant\n") + BRISTOL + MINISTER)
        self.letterd.start()
        self.letterd.drop("v.json", by_postcode("v", "SW1A 1AA", "v@example.org"))
        self.server.wait_for(1)
        self.letterd.wait_for_status("held", 1)
        self.assertEqual(self.letterd.query("SELECT hold_reason FROM messages WHERE status = 'held'"),
                         [{"hold_reason": "target mp-cities is vacant"}])

        self.write_targets(CITIES.replace("Alex Example MP,alex.example.mp", "Jo Elected MP,jo.elected.mp")
                           + BRISTOL + MINISTER)
        self.reload_and_wait_for("campaign legal-advocacy, target mp-cities: its seat is filled; "
                                 "1 letter(s) released, to send now")
        mp = self.received(2)["jo.elected.mp@example.org"]
        self.assertEqual(mp["To"].addresses[0].display_name, "Jo Elected MP")
        self.assertTrue(body_of(mp).startswith("Dear Jo Elected MP,"), body_of(mp)[:80])
        self.letterd.wait_for_status("sent", 2)

    def test_a_removed_target_holds_its_letters_from_the_next_start_never_fails_them(self):
        self.assertEqual(self.letterd.run_once().returncode, 0)  # makes the database
        self.letterd.cli("hold", "--letter", "mp", "--reason", "Parliament dissolved", check=True)
        self.letterd.drop("r.json", by_postcode("r", "SW1A 1AA", "r@example.org"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.assertEqual(len(self.server.wait_for(1)), 1, "the minister's letter went")

        # The seat's row leaves the file while letterd is stopped; the organiser's hold ends.
        self.write_targets(BRISTOL + MINISTER)
        self.letterd.cli("release", "--hold", "1", check=True)
        self.letterd.start()
        self.assertIn("campaign legal-advocacy, target mp-cities: it is no longer in the campaign's targets; "
                      "1 letter(s) held (its constituency (E14001172) has no target in campaign legal-advocacy)",
                      self.letterd.daemon_log())
        time.sleep(1.5)
        self.assertEqual(len(self.server.messages), 1, "nothing goes to a target no longer in the file")
        rows = self.letterd.query("SELECT letter, status, hold_reason, recipient FROM messages ORDER BY letter")
        self.assertEqual([(r["letter"], r["status"]) for r in rows], [("justice-secretary", "sent"), ("mp", "held")])
        self.assertEqual(rows[1]["recipient"], "alex.example.mp@example.org", "kept as written until a target takes it")
        held = self.letterd.cli("log", "--status", "held", check=True).stdout
        self.assertIn("its constituency (E14001172) has no target", held)

        # The new member is added under a new id: the letter is theirs.
        self.write_targets(CITIES.replace("mp-cities,Alex Example MP,alex.example.mp",
                                          "mp-cities-2029,Jo Elected MP,jo.elected.mp") + BRISTOL + MINISTER)
        self.reload_and_wait_for("campaign legal-advocacy, target mp-cities: it is no longer in the campaign's "
                                 "targets; 1 letter(s) released to target mp-cities-2029, to send now")
        mp = self.received(2)["jo.elected.mp@example.org"]
        self.assertTrue(body_of(mp).startswith("Dear Jo Elected MP,"), body_of(mp)[:80])


if __name__ == "__main__":
    unittest.main()
