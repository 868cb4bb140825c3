"""HTTPS on both load balancers: a certificate from an ACME server (pebble on acme1, validation
on) obtained through HAProxy's HTTP-01 path, the redirect, HSTS and HTTP/2, a forced renewal
under load, and then tls_mode files with a certificate made here. Runs after test_modern.py:
its last test leaves the site on the certificate made here."""
from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import NAMES, PEBBLE_ROOT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from scenario_testing import ROOT, eventually, load_summary, loadgen_fixture, report

SITE = "modern.example.test"
HSTS = "max-age=63072000; includeSubDomains; preload"
HAPROXY_PEM = "/etc/haproxy/certs/site.pem"

# The certificate a client is served: verified against cafile for the name, with ALPN h2.
_TLS_INFO = r"""
import json, socket, ssl, sys
name, cafile = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=cafile)
context.set_alpn_protocols(["h2", "http/1.1"])
with socket.create_connection(("127.0.0.1", 443), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname=name) as tls:
        cert = tls.getpeercert()
        print(json.dumps({"alpn": tls.selected_alpn_protocol(), "version": tls.version(), "serial": cert["serialNumber"],
                          "issuer": dict(item[0] for item in cert["issuer"]),
                          "names": sorted(value for kind, value in cert["subjectAltName"] if kind == "DNS")}))
"""

loadgen = loadgen_fixture(client="acme1", url=f"https://{SITE}/", site=SITE,
                          static=r'href="(/static/modern/site\.[0-9a-f]{12}\.css)"', env={"SSL_CERT_FILE": PEBBLE_ROOT})


def _served(host, name=SITE, cafile=PEBBLE_ROOT):
    return json.loads(host.check_output("python3 -c %s %s %s", _TLS_INFO, name, cafile))


def test_one_certificate_from_the_acme_server_for_both_names_verifies_on_both_load_balancers(hosts, pebble_root):
    served = {lb: {name: _served(hosts[lb], name) for name in NAMES} for lb in ("lb1", "lb2")}
    serials = {info["serial"] for by_name in served.values() for info in by_name.values()}
    assert len(serials) == 1, served
    info = served["lb2"]["www.modern.example.test"]
    assert info["names"] == sorted(NAMES) and "Pebble" in info["issuer"]["commonName"], info
    assert info["alpn"] == "h2" and info["version"] in ("TLSv1.2", "TLSv1.3"), info


def test_each_load_balancer_passed_a_challenge_to_certbot_on_lb1(hosts):
    """Pebble resolves each name to another load balancer: both forwarded a challenge to lb1."""
    for lb in ("lb1", "lb2"):
        log = hosts[lb].check_output("journalctl -q -o cat -u haproxy.service")
        assert re.search(r"acme/certbot .*GET /\.well-known/acme-challenge/", log), f"{lb}: no challenge in its log"


def test_http_redirects_to_https_except_acme_challenges_and_https_sends_hsts(http):
    plain = http(f"http://{SITE}/about/?x=1")
    assert plain["status"] == 301 and plain["headers"]["location"] == f"https://{SITE}/about/?x=1", plain
    challenge = http(f"http://{SITE}/.well-known/acme-challenge/none")
    assert challenge.get("status") != 301, challenge
    page = http(f"https://{SITE}/", client="lb2")
    assert page["status"] == 200 and page["headers"]["strict-transport-security"] == HSTS, page
    assert "secure" in page["headers"].get("set-cookie", "secure").lower()


def test_a_forced_renewal_replaces_the_certificate_on_both_load_balancers_without_a_failed_request(
        hosts, pebble_root, loadgen):
    lb1, lb2 = hosts["lb1"], hosts["lb2"]
    before = _served(lb1)["serial"]
    since = lb1.check_output("date +%s")
    with loadgen("renewal", min_requests=300, rate=20, threads=4) as result:
        renew = lb1.run("REQUESTS_CA_BUNDLE=/etc/django-deploy/acme-ca.pem timeout 300 "
                        "certbot renew --force-renewal --cert-name django-deploy --no-random-sleep-on-renew")
        assert renew.rc == 0, renew.stdout + renew.stderr
    after = _served(lb1)["serial"]
    assert after != before, "the renewed certificate is not the one served"
    # The deploy hook pushed it to lb2 (over SSH, as the account that may only install it).
    assert eventually(lambda: _served(lb2)["serial"] == after, timeout=60), "lb2 still serves the old certificate"
    assert result["failed"] == 0, load_summary("renewal", result)
    # Loaded through the runtime API on both: no reload of HAProxy.
    for host in (lb1, lb2):
        log = host.check_output(f"journalctl -q -o cat -u haproxy.service --since @{since}")
        assert "Reexecuting Master" not in log and "Reloading HAProxy" not in log, log[-2000:]
    report(f"renewal under load: serial {before[:8]}.. -> {after[:8]}.., {result['total']} requests, 0 failed")


def _certificate(tmp_path):
    """A CA and a certificate for the site's names, signed by it: PEM files on the controller."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "molecule files CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]), critical=False)
            # Python 3.13's strict verification (VERIFY_X509_STRICT) wants the issuer's key named.
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "other_key")}
    paths["ca"].write_bytes(ca.public_bytes(pem))
    paths["cert"].write_bytes(cert.public_bytes(pem))
    for name, private in (("key", key), ("other_key", ec.generate_private_key(ec.SECP256R1()))):
        paths[name].write_bytes(private.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths, cert.serial_number


def test_a_key_that_is_not_the_certificates_is_refused_before_any_host_changes(playbook, tmp_path):
    paths = _certificate(tmp_path)[0]
    given = {"tls_mode": "files", "tls_certificate_file": str(paths["cert"]), "tls_private_key_file": str(paths["other_key"])}
    run = playbook(ROOT / "site.yml", "-e", json.dumps(given), timeout=600)
    assert run.returncode != 0
    assert "tls_private_key_file is not the private key of the certificate in tls_certificate_file" in run.stdout
    assert "changed=" not in run.stdout or not re.search(r"changed=[1-9]", run.stdout), run.stdout[-3000:]


def test_tls_mode_files_serves_the_certificate_given_on_every_load_balancer(playbook, hosts, tmp_path):
    paths, serial = _certificate(tmp_path)
    # The key as a real inventory keeps it: encrypted with ansible-vault.
    password = tmp_path / "vault-password"
    password.write_text("molecule-vault-password\n")
    subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt", "--vault-password-file", str(password),
                    str(paths["key"])], check=True, capture_output=True, timeout=60)
    assert paths["key"].read_text().startswith("$ANSIBLE_VAULT")
    run = playbook(ROOT / "site.yml", "--vault-password-file", str(password),
                   "-e", json.dumps({"tls_mode": "files", "tls_certificate_file": str(paths["cert"]),
                                     "tls_private_key_file": str(paths["key"])}), timeout=1500)
    assert run.returncode == 0, run.stdout[-5000:]
    ca = "/usr/local/share/molecule-files-ca.pem"
    for lb in ("lb1", "lb2"):
        hosts[lb].check_output(f"cat > {ca} <<'EOF'\n{paths['ca'].read_text()}\nEOF")
        info = _served(hosts[lb], "www.modern.example.test", cafile=ca)
        # ssl prints the serial in hex, padded to whole bytes.
        assert int(info["serial"], 16) == serial and info["alpn"] == "h2", info
        assert hosts[lb].file(HAPROXY_PEM).mode == 0o600
    # Nothing renews or pushes the ACME certificate any more (it would replace this one).
    assert not hosts["lb1"].file("/etc/letsencrypt/renewal/django-deploy.conf").exists
    assert not hosts["lb1"].file(HAPROXY_PEM + "_peers.json").exists
