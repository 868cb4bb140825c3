"""Ansible's linear strategy run through Mitogen, for playbook runs from a checkout.

ansible.cfg selects this strategy; Mitogen itself comes from PyPI (requirements.txt). Mitogen keeps
one Python interpreter per host alive for the whole run and sends it each module, instead of a
`docker exec` or SSH session plus a fresh interpreter per task (what each step bought: README.md,
"How fast"). The collection does not depend on it: without Mitogen installed this falls back to
Ansible's own linear strategy, with a warning.
"""

import os

import ansible
from ansible.utils.display import Display

try:
    import ansible_mitogen.planner
    from ansible.collections.list import list_collection_dirs
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as error:
    Display().warning(f"Mitogen is not installed ({error}): using Ansible's linear strategy.")
    from ansible.plugins.strategy.linear import StrategyModule
else:
    # Before running a module from a collection, Mitogen lists every installed collection
    # (import and YAML-parse each one's metadata: about 0.3 s of CPU with the `ansible` bundle)
    # and caches the answer per process; but every task runs in a freshly forked worker, so it
    # paid that on every collection module call. List them once here, in the parent the workers
    # are forked from: the list cannot change during a run. Only the collection paths outside the
    # ansible package, each with its ansible_collections/ (list_collection_dirs matches dirs by
    # prefix, and site-packages/ also holds ansible/_internal/ansible_collections/): ansible-core's
    # bundled ansible._protomatter (controller-side plugins only) has no MANIFEST.json, and from
    # 2.21 on listing it warns about that, as ansible-galaxy avoids by leaving it out too.
    _ANSIBLE_DIR = os.path.dirname(ansible.__file__)
    _SEARCH_PATHS = [
        os.path.join(path, "ansible_collections")
        for path in AnsibleCollectionConfig.collection_paths
        if os.path.commonpath([os.path.abspath(path), _ANSIBLE_DIR]) != _ANSIBLE_DIR
    ]
    _COLLECTION_DIRS = [path.decode("utf-8") for path in list_collection_dirs(search_paths=_SEARCH_PATHS)]

    def _load_collections(invocation):
        invocation._extra_sys_paths.update(_COLLECTION_DIRS)

    ansible_mitogen.planner._load_collections = _load_collections

__all__ = ["StrategyModule"]
