# meshops.istio_vm — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := tests/lab/lab
APT_PACKAGES := debootstrap systemd-container iproute2 iptables openssl openssh-client curl podman runc locales
OUT := tests/output

.PHONY: help deps venv venv-sanity venv-lint sanity bench bench-onboard bench-traffic collection-link lab-build lab-up lab-down lab-status test test-unit test-integration demo reference ee-tarball ee-context ee ee-lab test-ee clean

help:
	@echo "make demo   - start the lab (kube-apiserver, istiod, 2 VMs) and onboard the VMs"
	@echo "make test   - unit + integration tests against the real lab (what CI runs)"
	@echo "make lab-up / lab-down / lab-status"
	@echo "make reference - regenerate docs/reference.md (role and module options)"
	@echo "make ee     - execution environment image (ee-context: only its build context)"
	@echo "make ee-lab - the same image on a local base image, no registry"
	@echo "make test-ee - only the EE image test of make test: onboard and offboard inside the ee-lab image"

# System packages the lab needs (Debian). apt-get runs only when something is missing.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "apt-get install $$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@command -v go >/dev/null || { echo "Go 1.26+ is required on PATH"; exit 1; }

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.stamp

# ansible-test sanity runs from its own venv (pins of ansible-test's sanity requirements).
.venv-sanity/.stamp: tests/sanity/requirements.txt
	python3 -m venv .venv-sanity
	.venv-sanity/bin/pip install -q --upgrade pip
	.venv-sanity/bin/pip install -q -r tests/sanity/requirements.txt
	touch $@

venv-sanity: .venv-sanity/.stamp

.venv-lint/.stamp: tests/static/requirements-lint.txt
	python3 -m venv .venv-lint
	.venv-lint/bin/pip install -q --upgrade pip
	.venv-lint/bin/pip install -q -r tests/static/requirements-lint.txt
	touch $@

venv-lint: .venv-lint/.stamp

sanity: venv venv-sanity venv-lint
	$(PY) -m pytest tests/static -q

# The lab's binaries and the VMs' root filesystem, built once (cold: about 10 to 15 min on 2 cores).
lab-build: deps venv
	$(LAB) build

lab-up: deps venv
	$(LAB) up

lab-down: venv
	$(LAB) down

lab-status: venv
	$(LAB) status

test-unit: venv lab-build
	@mkdir -p $(OUT)
	$(PY) -m pytest tests/unit -q

# The integration tests start the lab (or reuse a running one) through their fixtures.
test-integration: deps venv
	@mkdir -p $(OUT)
	$(PY) -m pytest tests/integration -q -x

# lab-build first: the unit tests compare vm_bootstrap with istioctl's golden files, which are in
# the pinned istio.io/istio module that the build brings into the Go module cache. On a cold machine
# the two tool venvs (pip, mostly network) are made while the lab builds (mostly CPU).
# tests/static last: its long checks (ansible-test sanity and units, ansible-lint) start in the
# background once the tests are collected (tests/conftest.py) and are done by the time their
# tests read them.
test: deps venv
	@$(MAKE) --no-print-directory -j3 venv-sanity venv-lint lab-build
	@mkdir -p $(OUT)
	@set +e; $(PY) -m pytest tests/unit tests/integration tests/static -q -rs --durations=15 --junitxml=$(OUT)/junit.xml; rc=$$?; \
	echo $$rc > $(OUT)/pytest.rc; $(LAB) down >/dev/null 2>&1; exit $$rc

# The checkout as the installed collection meshops.istio_vm, for ansible-playbook.
COLLECTIONS := tests/output/collections
collection-link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/meshops
	@ln -sfn ../../../../.. $(COLLECTIONS)/ansible_collections/meshops/istio_vm

# docs/reference.md from the roles' meta/argument_specs.yml and the modules' DOCUMENTATION
# (tests/unit/test_reference.py fails while it is out of date).
reference: venv
	$(PY) tools/gen_reference.py

# Execution environment (execution-environment.yml): this checkout as a collection tarball under
# the fixed name the definition installs, then the build context (no container runtime needed)
# or the image.
EE_TARBALL := dist/meshops-istio_vm.tar.gz
EE_CONTEXT := $(OUT)/ee/context
EE_TAG ?= meshops-istio-vm-ee:$(shell sed -n 's/^version: *//p' galaxy.yml)
EE_RUNTIME ?= $(if $(shell command -v podman),podman,docker)

ee-tarball: venv
	@rm -rf $(OUT)/ee/dist && mkdir -p $(OUT)/ee/dist dist
	$(VENV)/bin/ansible-galaxy collection build --output-path $(OUT)/ee/dist .
	mv $(OUT)/ee/dist/meshops-istio_vm-*.tar.gz $(EE_TARBALL)

ee-context: ee-tarball
	$(VENV)/bin/ansible-builder create -f execution-environment.yml --context $(EE_CONTEXT) --output-filename Containerfile

ee: ee-tarball
	$(VENV)/bin/ansible-builder build -f execution-environment.yml --context $(EE_CONTEXT) --output-filename Containerfile \
		--container-runtime $(EE_RUNTIME) --tag $(EE_TAG)

# The image where no registry is reachable (this lab): a local Debian 12 base image
# (tools/ee_base_image.sh, debootstrap + podman import, once), execution-environment.yml pointed
# at it (tools/ee_lab_definition.py), podman with tools/ee-containers.conf (runc, ulimits the
# host allows), host network for pip. About 2 min cold, 1 min with the base image.
EE_LAB_BASE ?= localhost/meshops-ee-base:bookworm
EE_LAB_TAG ?= localhost/meshops-istio-vm-ee:lab
EE_LAB := $(OUT)/ee/lab

ee-lab: deps ee-tarball
	tools/ee_base_image.sh $(EE_LAB_BASE)
	$(PY) tools/ee_lab_definition.py $(EE_LAB)/execution-environment.yml --base-image $(EE_LAB_BASE)
	CONTAINERS_CONF=$(CURDIR)/tools/ee-containers.conf $(VENV)/bin/ansible-builder build \
		-f $(EE_LAB)/execution-environment.yml --context $(EE_LAB)/context --output-filename Containerfile \
		--container-runtime podman --tag $(EE_LAB_TAG) --extra-build-cli-args "--network host"

# Onboard and offboard inside that image against lab VMs 9 and 10 as the image's user (uid 1000),
# streamed the way AWX runs a job in a container group (ansible-runner transmit | worker in
# podman | process), then the same onboard directly with ansible-playbook: both end states must
# be equal object by object (tests/integration/test_ee_image.py). `make test` runs it too; this
# target runs it alone: about 3 min with the base image built once before.
test-ee: deps venv
	@mkdir -p $(OUT)
	$(PY) -m pytest tests/integration/test_ee_image.py -q -s

# Onboard the lab VMs, then a short summary: each VM with its WorkloadEntry and health, from the
# report of the verify play that ends onboard.yml (tools/demo_summary.py), and one request across
# the mesh with the caller identity the callee saw.
DEMO_REPORT := $(OUT)/demo/verify.json
demo: lab-up collection-link
	@mkdir -p $(dir $(DEMO_REPORT)) && rm -f $(DEMO_REPORT)
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(VENV)/bin/ansible-playbook -i inventories/lab playbooks/onboard.yml \
		-e verify_report_path=$(CURDIR)/$(DEMO_REPORT)
	@echo; echo "=== Summary: the lab VMs in the mesh (lab-vms/lab-app) ==="
	@$(PY) tools/demo_summary.py $(DEMO_REPORT)
	@echo; echo "One request across the mesh (VM -> sidecar -> mTLS -> sidecar -> app):"
	@$(LAB) call 1 http://lab-app.lab-vms.svc.cluster.local:8080/
	@echo; echo "Look around: eval \"\$$($(LAB) env)\"; $(LAB) status"

.venv-bench/.stamp: bench/requirements.txt
	python3 -m venv .venv-bench
	.venv-bench/bin/pip install -q --upgrade pip
	.venv-bench/bin/pip install -q -r bench/requirements.txt
	touch $@

# Speed and memory of the modules against the lab (numbers are reported, not asserted).
bench: deps venv .venv-bench/.stamp
	$(LAB) up --until istiod
	.venv-bench/bin/python bench/bench_workload_entries.py -n $${BENCH_N:-200}

# Onboard wall time and controller peak RSS for 1, 2, 4 and 8 fresh lab VMs (numbers 11..), then
# unchanged; BENCH_EXISTING=2000 also measures 1 VM with that many WorkloadEntries in the cluster;
# BENCH_FORKS=1,2,4 also onboards the largest count with each of those forks; BENCH_REPEAT=3 onboards
# each count 3 times (rounds of all counts) and prints the medians;
# BENCH_BY_PROCESS=1 also the CPU time of each fresh run by kind of process (process accounting, /proc).
bench-onboard: deps venv collection-link
	$(LAB) up
	$(PY) bench/bench_onboard.py --counts $${BENCH_COUNTS:-1,2,4,8} --existing $${BENCH_EXISTING:-0} \
	  --forks "$${BENCH_FORKS:-}" --repeat $${BENCH_REPEAT:-1} $${BENCH_BY_PROCESS:+--by-process}

# Latency of one request between two lab VMs through the mesh vs without sidecars (median of N).
bench-traffic: deps venv collection-link
	$(LAB) up
	$(PY) bench/bench_traffic.py -n $${BENCH_N:-50}

clean: lab-down
	rm -rf $(OUT) .pytest_cache
