"""Make the checkout importable as ansible_collections.django_deploy.stack for pytest.

collections/ansible_collections/django_deploy/stack is a symlink to the repository root, the same
path ansible.cfg gives Ansible, so tests import plugins exactly as Ansible does.
"""
import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parent.parent / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

# Keep hypothesis' example database out of the source tree (and out of the collection build).
from hypothesis import settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

settings.register_profile(
    "django_deploy",
    database=DirectoryBasedExampleDatabase(str(COLLECTIONS.parent / ".cache" / "hypothesis")),
)
settings.load_profile("django_deploy")
