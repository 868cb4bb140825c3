"""Publish a release's collected static files into the directory nginx serves (role django_app).

Usage, as root: python3 django_deploy_publish_static.py SOURCE TARGET OWNER [--check]
SOURCE is the release's own STATIC_ROOT (collectstatic wrote it), TARGET the shared directory
nginx serves for every release. Each new or changed file is written beside its final name and
renamed over it, so a request never finds it missing or half written (collectstatic itself
deletes and rewrites processed files in place); nothing is ever deleted, so the files of a
release still serving stay. The release's manifest stays in SOURCE, read by its own processes.
Prints one JSON object: published (the files written), unchanged (how many were already there).
With --check (Ansible's check mode) nothing is written: published lists what would be.
"""

import filecmp
import json
import os
import shutil
import sys
import tempfile

# Each release reads its own manifest, in SOURCE; the marker says SOURCE is complete (prepare.yml).
SKIP = ("staticfiles.json", ".django_deploy_collected")


def publish(source, target, owner, check=False):
    published, unchanged = [], 0
    for root, dirs, files in os.walk(source):
        dirs.sort()
        rel = os.path.relpath(root, source)
        directory = target if rel == "." else os.path.join(target, rel)
        if not os.path.isdir(directory) and not check:
            os.makedirs(directory, mode=0o755)
            shutil.chown(directory, owner, owner)
        for name in sorted(files):
            if rel == "." and name in SKIP:
                continue
            src, dst = os.path.join(root, name), os.path.join(directory, name)
            if os.path.isfile(dst) and filecmp.cmp(src, dst, shallow=False):
                unchanged += 1
                continue
            if check:
                published.append(os.path.relpath(dst, target))
                continue
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".publish-")
            try:
                with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out)
                os.chmod(tmp, 0o644)
                shutil.chown(tmp, owner, owner)
                os.replace(tmp, dst)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            published.append(os.path.relpath(dst, target))
    return {"published": published, "unchanged": unchanged}


def main(argv):
    check = argv[4:] == ["--check"]
    if len(argv) != 4 + check or not os.path.isdir(argv[1]) or not (os.path.isdir(argv[2]) or check):
        print("usage: django_deploy_publish_static.py SOURCE_DIR TARGET_DIR OWNER [--check]", file=sys.stderr)
        return 2
    print(json.dumps(publish(argv[1], argv[2], argv[3], check)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
