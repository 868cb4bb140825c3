"""Ansible's linear strategy run through Mitogen, for playbook runs from a checkout.

ansible.cfg selects this strategy; Mitogen itself comes from PyPI (requirements.txt). Mitogen keeps
one Python interpreter per host alive for the whole run and sends it each module, instead of a
`docker exec` or SSH session plus a fresh interpreter per task: warm site.yml runs of the demo
topology take a third of the time (numbers in bench/README.md). The collection does not depend
on it: without Mitogen installed this falls back to Ansible's own linear strategy, with a warning.
"""

from ansible.utils.display import Display

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as error:
    Display().warning(f"Mitogen is not installed ({error}): using Ansible's linear strategy.")
    from ansible.plugins.strategy.linear import StrategyModule

__all__ = ["StrategyModule"]
