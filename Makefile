# minirun: `make demo` runs a real container, `make test` the whole suite.
PYTHON ?= /usr/bin/python3
VENV   := .venv
BIN    := $(VENV)/bin
BUILD  := .build
ROOTFS := $(BUILD)/busybox/rootfs
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
B      ?=

.PHONY: setup host demo test bench clean

host:
	$(SUDO) scripts/setup-host

$(BIN)/.installed: pyproject.toml setup.py native/build.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check setuptools wheel cffi click pytest pexpect \
	  urllib3 zstandard tqdm
	$(BIN)/pip install -q --disable-pip-version-check --no-build-isolation -e . --config-settings editable_mode=compat
	touch $@

$(ROOTFS)/bin/busybox: rootfs-tools/busybox-rootfs
	rootfs-tools/busybox-rootfs $(ROOTFS)

setup: host $(BIN)/.installed $(ROOTFS)/bin/busybox

demo: setup
	rm -rf $(BUILD)/demo
	$(BIN)/python rootfs-tools/make-bundle $(BUILD)/demo --rootfs $(ROOTFS) \
	  $$([ "$$(id -u)" = 0 ] || echo --rootless) -- \
	  sh -c 'echo "Hello from a minirun container: I am pid $$$$ on host $$(hostname), user $$(id -un), kernel $$(uname -r)"'
	cd $(BUILD)/demo && ../../$(BIN)/minirun-oci run demo-$$$$

test: setup
	$(BIN)/python -m pytest -q tests

bench: setup
	$(BIN)/python bench/run.py $(B)

clean:
	rm -rf $(BUILD) $(VENV) build *.egg-info minirun/_native*.so minirun/_native.c
