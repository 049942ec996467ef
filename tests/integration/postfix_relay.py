"""A real relay that writes real bounces: Debian's Postfix, unpacked by
scripts/deps with dpkg -x (never installed, so no system service), started
on 127.0.0.1 with a private main.cf and master.cf under a temporary folder.

It takes mail from 127.0.0.1 without AUTH, as a campaign's smarthost would.
Its domain `mp.example.org` is local and has no users: a letter to any of
its addresses is accepted, then found undeliverable, and Postfix itself
writes the delivery-status report (5.1.1, "unknown user") to the letter's
envelope sender. The addresses in `mailboxes` are delivered by virtual(8)
into Maildirs under `mail_base`, which is where Dovecot serves them from.

Postfix's master runs as root and its daemons as the system's `mail` user;
not root, the tests that need it are skipped with that reason."""
import os
import shutil
import subprocess
import tempfile
import time

from harness import SOURCE, free_port, wait_listening

UNPACKED = os.environ.get("LETTERD_POSTFIX_ROOT", os.path.join(SOURCE, "build", "peers", "postfix"))
UNKNOWN_USERS_DOMAIN = "mp.example.org"


def why_not_runnable():
    """None when a private Postfix can run here, else why not."""
    if os.getuid() != 0:
        return "a private Postfix needs root: its master starts as root and its daemons become the `mail` user"
    if not os.path.exists(os.path.join(UNPACKED, "usr", "sbin", "postfix")):
        return f"Postfix is not unpacked in {UNPACKED}: run scripts/deps"
    return None


class Postfix:
    def __init__(self, mail_base, mailboxes, uid, gid):
        """`mailboxes` maps each address Postfix delivers to a Maildir under
        `mail_base` ("jane/"); the files are written as uid:gid."""
        self.dir = tempfile.mkdtemp(prefix="letterd-postfix-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.config_dir = os.path.join(self.dir, "etc")
        self.log_path = os.path.join(self.dir, "postfix.log")
        self.mail_base = mail_base
        self.mailboxes = dict(mailboxes)
        for folder in set(self.mailboxes.values()):
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(mail_base, folder, sub), exist_ok=True)
        for root, dirs, files in os.walk(mail_base):
            for name in dirs + files + [""]:
                os.chown(os.path.join(root, name), uid, gid)
        os.makedirs(self.config_dir)
        os.makedirs(os.path.join(self.dir, "queue"))
        os.makedirs(os.path.join(self.dir, "data"))
        shutil.chown(os.path.join(self.dir, "data"), user="mail")
        # post-install reads the list of Postfix's own files from the meta directory.
        shutil.copy(os.path.join(UNPACKED, "etc", "postfix", "postfix-files"), self.config_dir)
        libs = os.path.join(UNPACKED, "usr", "lib", "postfix")
        self.env = dict(os.environ, LD_LIBRARY_PATH=libs)
        delivered = ", ".join(f"{address}={folder}" for address, folder in self.mailboxes.items())
        domains = " ".join(sorted({address.split("@")[1] for address in self.mailboxes}))
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {self.dir}/data
command_directory = {UNPACKED}/usr/sbin
daemon_directory = {libs}/sbin
shlib_directory = {libs}
meta_directory = {self.config_dir}
mail_owner = mail
setgid_group = daemon
default_privs = nobody
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH={libs}
maillog_file = {self.log_path}
maillog_file_prefixes = {self.dir}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.example.net
mydomain = example.net
myorigin = example.net
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
mydestination = {UNKNOWN_USERS_DOMAIN}
local_recipient_maps =
alias_maps =
alias_database =
recipient_delimiter = +
virtual_mailbox_domains = {domains}
virtual_mailbox_base = {mail_base}
virtual_mailbox_maps = inline:{{ {delivered} }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
default_transport = error:5.4.4 this test relay delivers nowhere else
smtputf8_enable = no
biff = no
""")
        services = ["pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
                    "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
                    "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
                    "proxymap unix - - n - - proxymap", "error unix - - n - - error",
                    "retry unix - - n - - error", "discard unix - - n - - discard",
                    "local unix - n n - - local", "virtual unix - n n - - virtual",
                    "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
                    "postlog unix-dgram n - n - 1 postlogd", "showq unix n - n - - showq"]
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(f"127.0.0.1:{self.port} inet n - n - - smtpd\n" + "\n".join(services) + "\n")

    def postfix(self, *args):
        return subprocess.run([os.path.join(UNPACKED, "usr", "sbin", "postfix"), "-c", self.config_dir, *args],
                              env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def start(self):
        started = self.postfix("start")
        if started.returncode != 0:
            raise AssertionError(f"postfix did not start:\n{started.stdout}{started.stderr}{self.log()}")
        wait_listening(self.port, "postfix", self.log)

    def delivered(self, folder, count, timeout=20):
        """Waits until the Maildir `folder` holds `count` mails, read or not; returns their bytes, oldest first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            paths = [os.path.join(self.mail_base, folder, sub, name)
                     for sub in ("new", "cur") for name in os.listdir(os.path.join(self.mail_base, folder, sub))]
            if len(paths) >= count:
                try:
                    mails = []
                    for path in sorted(paths, key=lambda p: os.stat(p).st_mtime_ns):
                        with open(path, "rb") as f:
                            mails.append(f.read())
                    return mails
                except FileNotFoundError:
                    pass  # Dovecot moved a mail from new/ to cur/ meanwhile: look again
            time.sleep(0.05)
        raise AssertionError(f"{folder}: fewer than {count} mails delivered:\n{self.log()}")

    def log(self):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        pid_file = os.path.join(self.dir, "queue", "pid", "master.pid")
        master = None
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                master = int(f.read().split()[0])
        self.postfix("stop")
        deadline = time.time() + 10
        while master and time.time() < deadline:
            try:
                os.kill(master, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
