# django_deploy.stack: the two commands of the README are `make demo` and `make test`.
# Every target installs what it needs (virtualenv, Docker engine, host image) and reuses it.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON ?= python3
INVENTORY ?= inventories/local
# The Debian release of the demo and bench hosts (the scenarios set their own): 13 or 12.
DEBIAN ?= 13
export DEBIAN
# Scenarios listed in molecule/QUARANTINE (with the reason) are left out until fixed.
QUARANTINED := $(shell sed -n 's/^\([a-z_]*\):.*/\1/p' molecule/QUARANTINE 2>/dev/null)
ALL_SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# Slowest first (the wall times CI prints), so the parallel slots of run-scenarios.sh stay full;
# a scenario missing from this list runs last.
SLOWEST_FIRST := scale_out cluster celery backup modern cluster_debian12 allinone allinone_debian12 webtier_mod_wsgi common
# Not in `make test`, to keep CI within 60 minutes on two cores: Debian 12, the second platform,
# runs there in cluster_debian12 (every role, over SSH); its all-in-one twin runs on demand
# (`make molecule SCENARIOS=allinone_debian12`).
ON_DEMAND := allinone_debian12
SCENARIOS ?= $(filter-out $(QUARANTINED) $(ON_DEMAND),$(filter $(ALL_SCENARIOS),$(SLOWEST_FIRST)) $(filter-out $(SLOWEST_FIRST),$(ALL_SCENARIOS)))
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export NO_COLOR ?= 1

.PHONY: help venv docker-hosts unit lint molecule test demo demo-down plan build bench

# ansible-test (sanity in `lint`, units in `unit`) runs on a copy of the checkout's files (tracked, and
# untracked unless ignored) at <tmpdir>/ansible_collections/django_deploy/stack: it needs that layout,
# it resolves the collections/ symlink back to the checkout, and a copy inside the checkout would be
# read through the checkout's .gitignore. --local: the controller is this virtualenv (units run in it:
# tests/unit/requirements.txt lists what they need, for a run with --venv or --docker instead); each
# sanity test still runs in a virtualenv of its own, which ansible-test builds once in
# ANSIBLE_TEST_HOME (its HOME) and reuses. It puts pip into those with a get-pip.py downloaded from a
# host this network cannot reach unless one is in its cache: tests/sanity/get_pip.py, put there, does
# the same with ensurepip and PyPI. (--venv gives the same sanity results, a minute slower.)
ANSIBLE_TEST_HOME ?= $(CURDIR)/.cache/ansible-test/home
# The virtualenv's own Python (ansible-test of 2.21 runs its controller on 3.12 and later only).
ANSIBLE_TEST_PYTHON ?= $(shell $(VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ANSIBLE_TEST_ARGS ?= --local --python $(ANSIBLE_TEST_PYTHON) --color no
# $(call ansible_test,COMMAND AND OPTIONS,LABEL): run ansible-test on a fresh copy, print the time
# it took (and for units the number of tests, from its junit files), and remove the copy.
ansible_test = tree=$$(mktemp -d); trap 'rm -rf "$$tree"' EXIT; start=$$SECONDS; \
	dest="$$tree/ansible_collections/django_deploy/stack"; mkdir -p "$$dest"; \
	git ls-files -z --cached --others --exclude-standard \
		| tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C "$$dest"; \
	pip_version=$$(python -c "$$ANSIBLE_TEST_PIP_VERSION"); \
	install -D -m 0644 tests/sanity/get_pip.py "$(ANSIBLE_TEST_HOME)/.ansible/test/cache/get_pip_$${pip_version//./_}.py"; \
	echo "ansible-test $(1) (in $$dest)"; \
	status=0; (cd "$$dest" && HOME="$(ANSIBLE_TEST_HOME)" ansible-test $(1)) || status=$$?; \
	$(if $(filter units,$(2)),(cd "$$dest" && python -c "$$ANSIBLE_TEST_JUNIT_COUNT") || status=1;) \
	echo "ansible-test $(2): $$((SECONDS - start)) s"; exit $$status
# The pip version ansible-test bootstraps its virtualenvs with (the name of the cached get-pip.py).
define ANSIBLE_TEST_PIP_VERSION
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="$(ANSIBLE_TEST_PYTHON)"))["pip"])
endef
# The tests ansible-test units ran, per context (controller, modules, module_utils), from its junit files.
define ANSIBLE_TEST_JUNIT_COUNT
import glob, xml.etree.ElementTree as ET
totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in sorted(glob.glob("tests/output/junit/*-units.xml")):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        counts = {key: int(suite.get(key, 0)) for key in totals}
        print(f"  {path.rsplit('/', 1)[1]}: {counts['tests']} tests")
        totals = {key: totals[key] + counts[key] for key in totals}
failed = totals["failures"] + totals["errors"]
print(f"ansible-test-units: {totals['tests'] - failed - totals['skipped']} passed, {failed} failed, {totals['skipped']} skipped")
raise SystemExit(0 if totals["tests"] else "ansible-test units ran no test")
endef
export ANSIBLE_TEST_PIP_VERSION ANSIBLE_TEST_JUNIT_COUNT
.PHONY: sanity units

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed  ## Create the controller virtualenv once (pinned requirements.txt)

docker-hosts:  ## Docker engine and the Debian 12 and 13 systemd host images, installed/built once
	@tools/ensure-docker.sh
	@DEBIAN=12 tools/build-image.sh
	@DEBIAN=13 tools/build-image.sh

unit: venv  ## Unit tests (pytest + hypothesis) under ansible-test units (`pytest -n auto` runs the same tests, faster, while developing)
	@$(MAKE) --no-print-directory units

units: venv  ## ansible-test units: the unit tests on a copy of the collection (part of make unit)
	@$(call ansible_test,units $(ANSIBLE_TEST_ARGS),units)

lint: venv  ## yamllint, ansible-lint (production profile), filter docs, changelog, ansible-test sanity, collection build
	yamllint --strict .
	ansible-lint
	tools/check-docs.sh
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	@mkdir -p .cache && antsibull-changelog generate --output .cache/CHANGELOG.md && cmp -s .cache/CHANGELOG.md CHANGELOG.md \
		|| { echo "CHANGELOG.md is not what changelogs/changelog.yaml renders: run antsibull-changelog generate" >&2; exit 1; }
	@$(MAKE) --no-print-directory sanity
	ansible-galaxy collection build --force --output-path .cache/build >/dev/null
	@echo "lint: collection builds: $$(ls .cache/build/*.tar.gz)"

sanity: venv  ## ansible-test sanity on a copy of the collection (part of make lint)
	@# Its shellcheck test needs Debian's shellcheck; installed once where we may (root), else skipped by ansible-test with a warning.
	@command -v shellcheck >/dev/null || [ "$$(id -u)" != 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
	@$(call ansible_test,sanity $(ANSIBLE_TEST_ARGS),sanity)

molecule: venv docker-hosts  ## Every molecule scenario (create, converge, idempotence, verify, destroy)
	@grep -v '^#' molecule/QUARANTINE 2>/dev/null | sed 's/^/quarantined (not run): /' || true
	tools/run-scenarios.sh $(SCENARIOS)

test: venv docker-hosts  ## Everything CI runs: unit and lint beside every molecule scenario
	@grep -v '^#' molecule/QUARANTINE 2>/dev/null | sed 's/^/quarantined (not run): /' || true
	tools/test-all.sh $(SCENARIOS)

demo: venv docker-hosts  ## The reference topology as local Docker hosts, deployed with site.yml
	tools/demo.sh up $(INVENTORY)

demo-down: venv  ## Remove the demo hosts
	tools/demo.sh down $(INVENTORY)

bench: venv docker-hosts  ## Deploy speed (demo topology) and tuned-vs-stock throughput, written to bench/results/
	tools/bench.sh $(INVENTORY)
	tools/bench-throughput.sh

plan: venv  ## Print what site.yml would put on each host of INVENTORY (changes nothing)
	ansible-playbook -i $(INVENTORY) plan.yml

build: venv  ## Build the collection tarball into .cache/build
	ansible-galaxy collection build --force --output-path .cache/build
