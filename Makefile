# django_deploy.stack: the two commands of the README are `make demo` and `make test`.
# Every target installs what it needs (virtualenv, Docker engine, host image) and reuses it.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON ?= python3
INVENTORY ?= inventories/local
# Scenarios listed in molecule/QUARANTINE (with the reason) are left out until fixed.
QUARANTINED := $(shell sed -n 's/^\([a-z_]*\):.*/\1/p' molecule/QUARANTINE 2>/dev/null)
ALL_SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# Slowest first (the wall times CI prints), so the parallel slots of run-scenarios.sh stay full;
# a scenario missing from this list runs last.
SLOWEST_FIRST := cluster scale_out celery replication cache_queue webtier webtier_mod_wsgi allinone common
SCENARIOS ?= $(filter-out $(QUARANTINED),$(filter $(ALL_SCENARIOS),$(SLOWEST_FIRST)) $(filter-out $(SLOWEST_FIRST),$(ALL_SCENARIOS)))
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export NO_COLOR ?= 1

.PHONY: help venv docker-hosts unit lint molecule test demo demo-down plan build bench

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed  ## Create the controller virtualenv once (pinned requirements.txt)

docker-hosts:  ## Docker engine and the Debian 12 systemd host image, installed/built once
	@tools/ensure-docker.sh
	@tools/build-image.sh

unit: venv  ## Unit tests of the plugins (pytest + hypothesis)
	pytest

lint: venv  ## yamllint, ansible-lint (production profile), filter docs, collection build
	yamllint --strict .
	ansible-lint
	tools/check-docs.sh
	ansible-galaxy collection build --force --output-path .cache/build >/dev/null
	@echo "lint: collection builds: $$(ls .cache/build/*.tar.gz)"

molecule: venv docker-hosts  ## Every molecule scenario (create, converge, idempotence, verify, destroy)
	@grep -v '^#' molecule/QUARANTINE 2>/dev/null | sed 's/^/quarantined (not run): /' || true
	tools/run-scenarios.sh $(SCENARIOS)

test: unit lint molecule  ## Everything CI runs

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
