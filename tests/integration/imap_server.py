"""A real IMAP server for the tests: Debian's Dovecot (dovecot-imapd),
started on 127.0.0.1 with a private config under a temporary folder, TLS
with a certificate made for it, one passwd-file user and a Maildir the
tests deliver into. It relies on no system service; stop() ends it."""
import os
import shutil
import subprocess
import tempfile
import time

from harness import free_port, wait_listening

DOVECOT = "/usr/sbin/dovecot"
USER = "bounces@campaign.example.org"
PASSWORD = "imap-secret-for-tests"


class Dovecot:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="letterd-dovecot-")
        # Dovecot serves mail as an unprivileged user: as root, nobody, who
        # must reach the Maildir through this folder.
        os.chmod(self.dir, 0o755)
        self.uid, self.gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
        self.port = free_port()
        self.maildir = os.path.join(self.dir, "mail", "bounces")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                        self.cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.config = os.path.join(self.dir, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{key}
disable_plaintext_auth = yes
{self.own_users()}
auth_mechanisms = plain login
mail_location = maildir:{self.dir}/mail/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.dir}/mail/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""")
        self.url = f"imaps://127.0.0.1:{self.port}/INBOX"

    def own_users(self):
        """Not root: Dovecot's own processes run as this user, who cannot become another."""
        if os.getuid() == 0:
            return ""
        import pwd, grp
        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        return (f"default_internal_user = {user}\ndefault_login_user = {user}\n"
                f"default_internal_group = {group}\n")

    def start(self):
        self.own_mail()
        # Dovecot forks into the background: its output goes to its log, never a pipe the test waits on.
        subprocess.run([DOVECOT, "-c", self.config], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port, "dovecot", self.log)

    def deliver(self, name, text, own=True):
        """Delivers a mail into the user's Maildir, as Dovecot's LDA would;
        many at once with own=False, then own_mail()."""
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        if own:
            self.own_mail()

    def own_mail(self):
        if os.getuid() == 0:
            for root, dirs, files in os.walk(os.path.join(self.dir, "mail")):
                for name in dirs + files + [""]:
                    os.chown(os.path.join(root, name), self.uid, self.gid)

    def log(self):
        path = os.path.join(self.dir, "dovecot.log")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def stop(self):
        subprocess.run([DOVECOT, "-c", self.config, "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        pid_file = os.path.join(self.dir, "run", "master.pid")
        deadline = time.time() + 10
        while os.path.exists(pid_file) and time.time() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
