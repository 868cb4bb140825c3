"""HAProxy's certificate (certificate chain + private key, one PEM file), replaced without a reload.

Usage (as root, with python3):
  haproxy_certificate.py PEM SOCKET --check FILE      exit 0 when FILE holds a certificate and its private key
  haproxy_certificate.py PEM SOCKET --install SRC...  write the SRC files, in order, into PEM (certbot's
                                                      deploy hook: fullchain.pem privkey.pem; - for standard
                                                      input), then --commit, then push PEM to the peers
  haproxy_certificate.py PEM SOCKET --commit          load PEM into the running HAProxy
  haproxy_certificate.py PEM SOCKET --push            send PEM to the peers (the other load balancers)

PEM is the file HAProxy's configuration names (`bind ... ssl crt PEM`); SOCKET its runtime API
socket. --commit uses the runtime API (`set ssl cert` then `commit ssl cert`): the running
process swaps the certificate for new handshakes and no connection is touched. When that fails
(HAProxy not running, or its configuration does not load PEM yet), HAProxy is reloaded instead:
master-worker, so the old workers finish their connections. A file that is not a certificate
and its key is never installed: --install checks it first and leaves PEM as it was.

Peers: with several load balancers, the ACME host's PEM_peers.json (beside PEM) lists the others
({"key": ..., "known_hosts": ..., "user": ..., "peers": [{"host", "address", "port"}]}); --push sends
PEM over SSH to each, whose authorized key for that user runs --install - there and nothing
else (a forced command, through sudo). A peer that cannot be reached gets it on the next run of
site.yml; the others are not held back by it.
Every command is bounded in time. Exit code 0 when done, 1 with the reason on stderr.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile

TIMEOUT = 30


def _run(argv, data=None):
    return subprocess.run(argv, input=data, capture_output=True, timeout=TIMEOUT, check=False)


def check(path):
    """Why PATH is not a certificate with its private key, or None when it is."""
    cert = _run(["openssl", "x509", "-noout", "-pubkey", "-in", path])
    if cert.returncode != 0:
        return "no certificate in it"
    key = _run(["openssl", "pkey", "-pubout", "-in", path])
    if key.returncode != 0:
        return "no private key in it"
    if cert.stdout.strip() != key.stdout.strip():
        return "its private key is not the certificate's"
    return None


def _api(sock_path, command):
    """One runtime API command; its answer. (The module haproxy_server has the same client, but
    this file runs alone on the host, from certbot's deploy hook and the push: no Ansible there.)"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(sock_path)
        sock.sendall(command.encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def commit(pem, sock_path):
    """Load PEM into the running HAProxy; reload it when the runtime API cannot."""
    try:
        with open(pem, encoding="ascii") as handle:
            payload = handle.read().strip()
        answer = _api(sock_path, f"set ssl cert {pem} <<\n{payload}\n\n")
        if "Transaction created" not in answer and "Transaction updated" not in answer:
            raise RuntimeError(answer.strip())
        answer = _api(sock_path, f"commit ssl cert {pem}\n")
        if "Success" not in answer:
            raise RuntimeError(answer.strip())
        print(f"loaded {pem} through the runtime API")
        return 0
    except (OSError, RuntimeError) as exc:
        print(f"the runtime API did not take {pem} ({exc}); reloading HAProxy", file=sys.stderr)
    return _reload()


def _reload():
    reload = _run(["systemctl", "reload-or-restart", "haproxy"])
    if reload.returncode != 0:
        print(f"systemctl reload-or-restart haproxy failed: {reload.stderr.decode().strip()}", file=sys.stderr)
        return 1
    print("reloaded HAProxy")
    return 0


def install(pem, sock_path, sources):
    content = sys.stdin.buffer.read() if sources == ["-"] else b"".join(_read(source) for source in sources)
    directory = os.path.dirname(pem)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".new-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        problem = check(tmp)
        if problem:
            print(f"{' + '.join(sources)}: {problem}; {pem} is unchanged", file=sys.stderr)
            return 1
        os.chmod(tmp, 0o600)
        os.replace(tmp, pem)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    loaded = commit(pem, sock_path)
    return push(pem) or loaded


def push(pem):
    """Send PEM to every peer of PEM_peers.json; 0 when all took it (or there are none)."""
    try:
        with open(pem + "_peers.json", encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        return 0
    failed = 0
    for peer in config["peers"]:
        argv = ["ssh", "-i", config["key"], "-p", str(peer["port"]), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={config['known_hosts']}",
                "-o", f"ConnectTimeout={TIMEOUT // 3}", f"{config['user']}@{peer['address']}"]
        try:
            with open(pem, "rb") as handle:
                sent = subprocess.run(argv, stdin=handle, capture_output=True, timeout=TIMEOUT * 3, check=False)
            ok, detail = sent.returncode == 0, (sent.stderr or sent.stdout).decode("utf-8", "replace").strip()
        except subprocess.TimeoutExpired:
            ok, detail = False, f"no answer within {TIMEOUT * 3} s"
        if ok:
            print(f"pushed to {peer['host']}")
        else:
            failed = 1
            print(f"could not push to {peer['host']} ({peer['address']}): {detail}", file=sys.stderr)
    return failed


def _read(path):
    with open(path, "rb") as handle:
        data = handle.read()
    return data if data.endswith(b"\n") else data + b"\n"


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 1
    pem, sock_path, action, rest = argv[0], argv[1], argv[2], argv[3:]
    if action == "--check" and len(rest) == 1:
        problem = check(rest[0])
        if problem:
            print(f"{rest[0]}: {problem}", file=sys.stderr)
            return 1
        return 0
    if action == "--install" and rest:
        return install(pem, sock_path, rest)
    if action == "--commit" and not rest:
        return commit(pem, sock_path)
    if action == "--push" and not rest:
        return push(pem)
    print(__doc__, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
