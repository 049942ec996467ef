#!/usr/bin/python3
"""The script an organiser would write instead of letterd: Python's smtplib,
one connection reused for every letter.

Usage: smtplib_loop.py QUEUE_DIR TEMPLATE PORT

For each submission file (JSON) in QUEUE_DIR, in name order: read it,
render the template's subject and body ({{name}} values and {{#name}}
sections), build the message with the standard library (quoted-printable
UTF-8, as EmailMessage chooses for such text) and send it. Nothing is
logged and nothing is retried: that would only slow it further.
"""
import json
import os
import re
import smtplib
import sys
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

SECTION = re.compile(r"\{\{#([\w.]+)\}\}\n?(.*?)\{\{/\1\}\}\n?", re.S)
VALUE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def render(text, values):
    text = SECTION.sub(lambda m: m.group(2) if values.get(m.group(1)) else "", text)
    return VALUE.sub(lambda m: values.get(m.group(1), ""), text)


def main():
    queue, template_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(template_path, encoding="utf-8") as f:
        _, front, body = f.read().split("---\n", 2)
    subject = re.search(r"^subject:\s*(.*)$", front, re.M).group(1).strip().strip('"')
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for name in sorted(os.listdir(queue)):
            with open(os.path.join(queue, name), encoding="utf-8") as f:
                sub = json.load(f)
            supporter = sub["supporter"]
            values = {"supporter.name": supporter["name"], "supporter.address": supporter.get("address", ""),
                      "supporter.postcode": supporter.get("postcode", ""),
                      "personal_note": sub.get("personal_note", ""), "target.name": "Justice Secretary"}
            msg = EmailMessage()
            msg["From"] = formataddr((supporter["name"] + " via Example Campaign", "letters@example.org"))
            msg["To"] = formataddr(("Justice Secretary", "justice.secretary@example.org"))
            msg["Subject"] = render(subject, values)
            msg["Date"] = formatdate()
            msg["Message-ID"] = make_msgid(domain="example.org")
            msg.set_content(render(body, values))
            smtp.send_message(msg)


if __name__ == "__main__":
    main()
