"""A throw-away OpenLDAP server for tests: Debian's slapd with its own
slapd.conf, an mdb database and a few users, all in a temporary directory,
listening on a free port of 127.0.0.1 (with ``make_tls_files``, StartTLS
there and ldaps:// on a second port). Loaded offline with slapadd, run in the foreground (``-d 0``)
as a child process, stopped with SIGTERM.

    directory = Slapd(tmp_path, [LdapUser("alice", "pw", "alice@example.com", "Alice")])
    directory.start()      # returns once it accepts connections
    ... directory.url ...  # ldap://127.0.0.1:<port>
    directory.stop()

``skip_unless_slapd()`` marks tests that need it (scripts/setup installs
slapd and ldap-utils).
"""
from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SUFFIX = "dc=example,dc=com"
PEOPLE = "ou=people," + SUFFIX
READER_DN = "cn=helpdesk-reader," + SUFFIX
READER_PASSWORD = "reader-secret"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")


def _tool(name: str) -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def skip_unless_slapd():
    missing = [tool for tool in ("slapd", "slapadd") if _tool(tool) is None]
    return pytest.mark.skipif(bool(missing), reason="OpenLDAP's %s not installed (scripts/setup installs the "
                                                    "Debian packages slapd and ldap-utils)" % " and ".join(missing))


def ssha(password: str) -> str:
    """An OpenLDAP {SSHA} userPassword: SHA-1 over password + salt, then the salt."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


@dataclass
class LdapUser:
    uid: str
    password: str
    mail: str
    display_name: str | None  # None: the entry has only cn
    cn: str = ""

    @property
    def dn(self) -> str:
        return "uid=%s,%s" % (self.uid, PEOPLE)


def _ldif_value(name: str, value: str) -> str:
    # Non-ASCII values are base64 in LDIF ("name:: ...").
    if value.isascii():
        return "%s: %s" % (name, value)
    return "%s:: %s" % (name, base64.b64encode(value.encode("utf-8")).decode("ascii"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class TlsFiles:
    ca: Path
    certificate: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate it signed, for 127.0.0.1 and localhost
    (PEM files in ``directory``), made with cryptography (in stws's venv)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, key, issuer, issuer_key, extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stws test CA")])
    ca = certificate(ca_name, ca_key, ca_name, ca_key, [(x509.BasicConstraints(ca=True, path_length=None), True)])
    server = certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), server_key, ca_name, ca_key,
        [(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
          False), (x509.BasicConstraints(ca=False, path_length=None), True)])
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    return files


class Slapd:
    def __init__(self, directory: Path, users: list[LdapUser], tls: TlsFiles | None = None):
        self.directory = directory
        self.users = users
        self.tls = tls
        self.process: subprocess.Popen | None = None
        self.port = self.tls_port = 0
        self.log = directory / "slapd.log"
        self.config = directory / "slapd.conf"
        self._write_config()
        self._load()

    @property
    def url(self) -> str:
        return "ldap://127.0.0.1:%d" % self.port

    @property
    def ldaps_url(self) -> str:
        return "ldaps://127.0.0.1:%d" % self.tls_port

    def _write_config(self) -> None:
        (self.directory / "db").mkdir()
        tls = "" if self.tls is None else textwrap.dedent("""\
            TLSCACertificateFile %s
            TLSCertificateFile %s
            TLSCertificateKeyFile %s
            """) % (self.tls.ca, self.tls.certificate, self.tls.key)
        # The service account reads entries; users read their own; nobody
        # reads a userPassword, anonymous may only bind with one.
        self.config.write_text(textwrap.dedent("""\
            include {schema}/core.schema
            include {schema}/cosine.schema
            include {schema}/inetorgperson.schema
            modulepath {modules}
            moduleload back_mdb
            pidfile {dir}/slapd.pid
            # As many directories do: a bind with a DN and an empty password
            # succeeds, as anonymous (RFC 4513 5.1.2). Clients must not take
            # it for a sign-in.
            allow bind_anon_dn
            {tls}
            database mdb
            maxsize 16777216
            suffix "{suffix}"
            directory {dir}/db
            access to attrs=userPassword
                by anonymous auth
                by * none
            access to *
                by dn.exact="{reader}" read
                by self read
                by * none
            """).format(schema=SCHEMA_DIR, modules=MODULE_DIR, dir=self.directory, tls=tls, suffix=SUFFIX,
                        reader=READER_DN), encoding="utf-8")

    def _load(self) -> None:
        entries = [
            "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example" % SUFFIX,
            "dn: %s\nobjectClass: organizationalUnit\nou: people" % PEOPLE,
            "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: helpdesk-reader\n"
            "userPassword: %s" % (READER_DN, ssha(READER_PASSWORD)),
        ]
        for user in self.users:
            lines = ["dn: " + user.dn, "objectClass: inetOrgPerson", "uid: " + user.uid,
                     _ldif_value("cn", user.cn or user.display_name or user.uid), "sn: " + user.uid,
                     "mail: " + user.mail, "userPassword: " + ssha(user.password)]
            if user.display_name:
                lines.append(_ldif_value("displayName", user.display_name))
            entries.append("\n".join(lines))
        ldif = self.directory / "data.ldif"
        ldif.write_text("\n\n".join(entries) + "\n", encoding="utf-8")
        subprocess.run([_tool("slapadd"), "-q", "-f", str(self.config), "-l", str(ldif)],
                       check=True, capture_output=True, timeout=60)

    def start(self, timeout: float = 30, same_port: bool = False) -> None:
        """Start on free ports (``same_port``: on the ldap:// port of the
        previous start); returns once slapd accepts connections."""
        for _attempt in range(1 if same_port else 5):
            # Another process may take a port between probing and slapd's
            # bind: slapd then exits, and we try other ports.
            self.port = self.port if same_port else _free_port()
            listen = [self.url + "/"]
            if self.tls is not None:
                self.tls_port = _free_port()
                listen.append(self.ldaps_url + "/")
            with open(self.log, "a") as log:
                self.process = subprocess.Popen(
                    [_tool("slapd"), "-d", "0", "-f", str(self.config), "-h", " ".join(listen)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if self._wait_until_listening(timeout):
                return
        raise AssertionError("slapd did not start:\n" + self.log.read_text())

    def _wait_until_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        ports = [port for port in (self.port, self.tls_port) if port]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if all(_accepts(port) for port in ports):
                return True
            time.sleep(0.05)
        self.stop()
        raise AssertionError("slapd did not listen within %ss:\n%s" % (timeout, self.log.read_text()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
