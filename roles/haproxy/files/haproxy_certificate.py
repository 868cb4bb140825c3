"""HAProxy's certificate (certificate chain + private key, one PEM file), replaced without a reload.

Usage (as root, with python3):
  haproxy_certificate.py PEM SOCKET --check FILE      exit 0 when FILE holds a certificate and its private key
  haproxy_certificate.py PEM SOCKET --install SRC...  write the SRC files, in order, into PEM (certbot's
                                                      deploy hook: fullchain.pem privkey.pem), then --commit
  haproxy_certificate.py PEM SOCKET --commit          load PEM into the running HAProxy

PEM is the file HAProxy's configuration names (`bind ... ssl crt PEM`); SOCKET its runtime API
socket. --commit uses the runtime API (`set ssl cert` then `commit ssl cert`): the running
process swaps the certificate for new handshakes and no connection is touched. When that fails
(HAProxy not running, or its configuration does not load PEM yet), HAProxy is reloaded instead:
master-worker, so the old workers finish their connections. A file that is not a certificate
and its key is never installed: --install checks it first and leaves PEM as it was.
Every command is bounded in time. Exit code 0 when done, 1 with the reason on stderr.
"""
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
    """One runtime API command; its answer."""
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
    content = b"".join(_read(source) for source in sources)
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
    return commit(pem, sock_path)


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
    print(__doc__, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
