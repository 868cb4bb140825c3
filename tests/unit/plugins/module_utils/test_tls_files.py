"""HTTPS with the user's own certificate: the controller's check of the pair
(role_helpers.certificate_problems) and the load balancers' installer
(roles/haproxy/files/haproxy_certificate.py), on certificates made here."""
from __future__ import annotations

import datetime
import importlib.util
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.django_deploy.stack.plugins.module_utils import role_helpers as rh

_PATH = Path(__file__).resolve().parents[4] / "roles" / "haproxy" / "files" / "haproxy_certificate.py"
_SPEC = importlib.util.spec_from_file_location("haproxy_certificate", _PATH)
installer = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(installer)

NOW = datetime.datetime(2026, 12, 4, tzinfo=datetime.timezone.utc)


def _pair(days=90, password=None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode())


def test_a_certificate_and_its_key_can_be_served():
    cert, key = _pair()
    assert not rh.certificate_problems(cert, key, now=NOW)


def test_a_key_of_another_certificate_is_refused_naming_both_variables():
    cert = _pair()[0]
    other = _pair()[1]
    assert rh.certificate_problems(cert, other, now=NOW) == [
        "tls_private_key_file is not the private key of the certificate in tls_certificate_file "
        "(its first certificate must be the site's, then the chain)."]


@pytest.mark.parametrize(("cert", "key", "start"), [
    ("not a certificate", None, "tls_certificate_file holds no PEM certificate"),
    (None, "not a key", "tls_private_key_file holds no PEM private key"),
    (None, "passphrase", "tls_private_key_file is protected by a passphrase"),
])
def test_what_is_not_a_pem_pair_is_refused(cert, key, start):
    good_cert, good_key = _pair()
    if key == "passphrase":
        key = _pair(password=b"secret")[1]
    problems = rh.certificate_problems(cert or good_cert, key or good_key, now=NOW)
    assert len(problems) == 1 and problems[0].startswith(start)


def test_an_expired_certificate_is_refused():
    cert, key = _pair(days=30)
    problems = rh.certificate_problems(cert, key, now=NOW + datetime.timedelta(days=31))
    assert problems == ["the certificate in tls_certificate_file expired on 2027-01-03 00:00 UTC."]


class FakeRuntimeApi:
    """A unix socket answering HAProxy's runtime API as a running HAProxy does."""

    def __init__(self, path, answers):
        self.answers, self.commands = list(answers), []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        for answer in self.answers:
            conn = self.server.accept()[0]
            with conn:
                data = b""
                while not (data.endswith(b"\n\n") or (data.endswith(b"\n") and b"<<" not in data)):
                    data += conn.recv(65536)
                self.commands.append(data.decode())
                conn.sendall(answer.encode())


@pytest.mark.skipif(not shutil.which("openssl"), reason="the installer checks the pair with openssl")
def test_install_writes_the_pem_and_loads_it_through_the_runtime_api(tmp_path, monkeypatch):
    cert, key = _pair()
    (tmp_path / "fullchain.pem").write_text(cert)
    (tmp_path / "privkey.pem").write_text(key)
    pem, sock = tmp_path / "site.pem", tmp_path / "admin.sock"
    api = FakeRuntimeApi(sock, ["Transaction created for certificate!\n", "Committing\nSuccess!\n"])
    reloads = []
    monkeypatch.setattr(installer, "_reload", lambda: reloads.append(1) or 0)
    assert installer.main([str(pem), str(sock), "--install", str(tmp_path / "fullchain.pem"),
                           str(tmp_path / "privkey.pem")]) == 0
    api.thread.join(5)
    assert pem.read_text() == cert + key and (pem.stat().st_mode & 0o777) == 0o600
    assert api.commands[0].startswith(f"set ssl cert {pem} <<\n-----BEGIN CERTIFICATE-----")
    assert api.commands[1] == f"commit ssl cert {pem}\n" and not reloads


@pytest.mark.skipif(not shutil.which("openssl"), reason="the installer checks the pair with openssl")
def test_a_mismatched_pair_is_not_installed(tmp_path, monkeypatch):
    cert = _pair()[0]
    other = _pair()[1]
    (tmp_path / "a.pem").write_text(cert)
    (tmp_path / "b.pem").write_text(other)
    pem = tmp_path / "site.pem"
    pem.write_text("old")
    monkeypatch.setattr(installer, "commit", lambda *a: pytest.fail("nothing to commit"))
    assert installer.main([str(pem), str(tmp_path / "none.sock"), "--install", str(tmp_path / "a.pem"),
                           str(tmp_path / "b.pem")]) == 1
    assert pem.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.pem", "b.pem", "site.pem"]


def test_haproxy_is_reloaded_when_the_runtime_api_cannot_take_the_certificate(tmp_path, monkeypatch):
    pem = tmp_path / "site.pem"
    pem.write_text("pem")
    reloads = []
    monkeypatch.setattr(installer, "_reload", lambda: reloads.append(1) or 0)
    assert installer.main([str(pem), str(tmp_path / "absent.sock"), "--commit"]) == 0
    assert reloads == [1]


def test_push_sends_the_pem_to_every_peer_and_reports_the_ones_it_could_not_reach(tmp_path, monkeypatch, capsys):
    pem = tmp_path / "site.pem"
    pem.write_text("pem")
    (tmp_path / "site.pem_peers.json").write_text(json.dumps({
        "key": "/root/.ssh/k", "known_hosts": "/etc/kh", "user": "django-deploy-cert",
        "peers": [{"host": "lb2", "address": "10.0.0.2", "port": 22}, {"host": "lb3", "address": "10.0.0.3", "port": 2222}]}))
    sent = []

    class Done:
        def __init__(self, code):
            self.returncode, self.stdout, self.stderr = code, b"", b"" if code == 0 else b"Connection refused"

    def fake_run(argv, stdin, **kwargs):
        sent.append((argv, stdin.read()))
        return Done(0 if argv[-1].endswith("10.0.0.2") else 255)

    monkeypatch.setattr(installer.subprocess, "run", fake_run)
    assert installer.main([str(pem), "sock", "--push"]) == 1
    assert [argv[-1] for argv, data in sent] == ["django-deploy-cert@10.0.0.2", "django-deploy-cert@10.0.0.3"]
    assert all(data == b"pem" for argv, data in sent)
    assert sent[1][0][sent[1][0].index("-p") + 1] == "2222" and "StrictHostKeyChecking=yes" in sent[0][0]
    assert "could not push to lb3 (10.0.0.3): Connection refused" in capsys.readouterr().err


def test_push_without_peers_does_nothing(tmp_path):
    pem = tmp_path / "site.pem"
    pem.write_text("pem")
    assert installer.main([str(pem), "sock", "--push"]) == 0
