"""`letterd report --html FILE` opened in a real browser (Debian's
chromium, headless): the page loads with no console error, and its DOM
holds the counts the delivery log holds. A screenshot is kept beside the
letterd binary, as report-screenshot.png, for a person to look at."""
import os
import re
import subprocess
import tempfile
import unittest

from harness import LETTERD, RelayTestCase, submission

CHROMIUM = "/usr/bin/chromium"


def chromium(*args, timeout=120):
    # As root (CI) Chromium's sandbox cannot start; the page is our own file.
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=timeout)


def console_messages(stderr):
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class HtmlReport(RelayTestCase):
    def test_the_page_loads_cleanly_and_holds_the_logs_counts(self):
        self.server.reject_rcpt("justice.secretary@example.org")
        for n in range(3):
            sub = submission(id=f"h{n}")
            sub["supporter"] = dict(sub["supporter"], email=f"h{n}@example.org")
            if n == 2:
                sub["constituency"] = "Bristol Central"
            self.letterd.drop(f"h{n}.json", sub)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.letterd.wait_for_status("failed", 3)
        page = os.path.join(self.letterd.dir, "report.html")
        written = self.letterd.cli("report", "--html", page, check=True)
        self.assertIn("wrote " + page, written.stdout)

        opened = chromium("--dump-dom", "file://" + page)
        self.assertEqual(opened.returncode, 0, opened.stderr[-2000:])
        self.assertEqual(console_messages(opened.stderr), [], "the page logs no console error")
        dom = opened.stdout

        def cells(target):
            row = re.search(r'<tr data-target="%s"[^>]*>(.*?)</tr>' % re.escape(target), dom, re.S)
            self.assertIsNotNone(row, target)
            return dict(re.findall(r'<td class="(\w+)">(?:<strong>)?(\d+)(?:</strong>)?</td>', row.group(1)))

        self.assertEqual(cells("justice-secretary")["failed"], "3")
        self.assertEqual(cells("justice-secretary")["sent"], "0")
        self.assertEqual(cells("mp-cities-of-london-and-westminster")["sent"], "2")
        self.assertEqual(cells("mp-bristol-central")["sent"], "1")
        self.assertEqual(cells("mp-cardiff-east")["sent"], "0", "every target shows, even one with no letter")
        first = re.search(r'<tr data-target="([^"]+)"', dom).group(1)
        self.assertEqual(first, "justice-secretary", "the target whose letters failed comes first")
        days = re.findall(r'data-sent="(\d+)"', dom)
        self.assertEqual(sum(int(d) for d in days), 3, "the chart counts every letter sent")

        shot = os.path.join(os.path.dirname(os.path.abspath(LETTERD)), "report-screenshot.png")
        taken = chromium("--screenshot=" + shot, "--window-size=1200,900", "file://" + page)
        self.assertEqual(taken.returncode, 0, taken.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_a_console_error_would_be_seen(self):
        # The check above can fail: a page with a script error is caught by it.
        with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as f:
            f.write("<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>")
        try:
            opened = chromium("--dump-dom", "file://" + f.name)
            self.assertNotEqual(console_messages(opened.stderr), [])
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
