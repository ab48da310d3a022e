# minirun: `make demo` runs a real container, `make test` the whole suite.
PYTHON ?= /usr/bin/python3
VENV   := .venv
BIN    := $(VENV)/bin
BUILD  := .build
ROOTFS := $(BUILD)/busybox/rootfs
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
B      ?=

IMAGES := $(BUILD)/images
.PHONY: setup host demo test lint bench clean images image-tools registry check

# As root: installs packages and the test user.  As a plain user: checks
# that they are there and says what to ask an administrator for.
host:
	scripts/setup-host

$(BIN)/.installed: pyproject.toml setup.py native/build.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check setuptools wheel cffi click pytest pexpect \
	  urllib3 zstandard tqdm pyroute2 indexed_gzip pyfuse3 PyYAML ruff pytest-xdist \
	  kubernetes
	$(BIN)/pip install -q --disable-pip-version-check --no-build-isolation -e . --config-settings editable_mode=compat
	touch $@

$(ROOTFS)/bin/busybox: rootfs-tools/busybox-rootfs
	rootfs-tools/busybox-rootfs $(ROOTFS)

setup: host $(BIN)/.installed $(ROOTFS)/bin/busybox
	@# compiled once here: with PYTHONDONTWRITEBYTECODE set (as on these hosts) every
	@# start would otherwise compile minirun and its dependencies from source again
	$(BIN)/python -m compileall -q minirun bench >/dev/null
	$(BIN)/python -m compileall -q $(VENV)/lib >/dev/null 2>&1 || true

# The default image, busybox, built from the host's busybox-static and loaded
# into the store with no registry; then a real container runs in it.
demo: setup
	rm -rf $(BUILD)/demo-image
	$(BIN)/python rootfs-tools/build-image $(BUILD)/demo-image --layer $(ROOTFS) \
	  --tag localhost/busybox:latest >/dev/null
	$(BIN)/minirun load -q -i $(BUILD)/demo-image
	$(BIN)/minirun run --rm busybox \
	  sh -c 'echo "Hello from a minirun container: I am pid $$$$ on host $$(hostname), user $$(id -un), kernel $$(uname -r)"'

# The linter first (its rules: pyproject.toml), then the whole suite, three
# test files at a time (pytest-xdist; a file's tests stay on one worker): the
# tests wait on containers more than they compute, and each looks only at
# what it made, so other files' containers beside it are a test in itself.
lint: $(BIN)/.installed
	$(BIN)/ruff check minirun tests bench course

TEST_WORKERS ?= 3
test: setup lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests course

# The course (course/README.md): one level's checks on your container.py.
# As root the host is set up as for the tests; a plain user needs only the
# virtualenv and the busybox root (the levels that need more say so).
check: $(if $(SUDO),,host) $(BIN)/.installed $(ROOTFS)/bin/busybox
	$(BIN)/python course/check.py $(LEVEL)

# Images built from Debian packages (debootstrap needs root and the Debian
# mirror); the ML image is large (PyTorch) and takes minutes to build.
$(IMAGES)/busybox/index.json: $(ROOTFS)/bin/busybox rootfs-tools/build-image
	$(BIN)/python rootfs-tools/build-image $(IMAGES)/busybox --layer $(ROOTFS) >/dev/null
$(BUILD)/rootfs/debian/etc/os-release: | image-tools
	$(SUDO) rootfs-tools/debian-rootfs $(BUILD)/rootfs/debian
$(BUILD)/rootfs/python/usr/bin/python3: | image-tools
	$(SUDO) rootfs-tools/debian-rootfs $(BUILD)/rootfs/python python3
$(BUILD)/layers/ml/usr/local/lib/python3.11/dist-packages/torch/__init__.py: | image-tools
	rootfs-tools/ml-layer $(BUILD)/layers/ml $(BIN)/pip
$(IMAGES)/debian/index.json: $(BUILD)/rootfs/debian/etc/os-release
	$(BIN)/python rootfs-tools/build-image $(IMAGES)/debian --layer $(BUILD)/rootfs/debian --cmd bash >/dev/null
$(IMAGES)/python/index.json: $(BUILD)/rootfs/python/usr/bin/python3
	$(BIN)/python rootfs-tools/build-image $(IMAGES)/python --layer $(BUILD)/rootfs/python --cmd python3 >/dev/null
$(IMAGES)/ml/index.json: $(BUILD)/rootfs/python/usr/bin/python3 $(BUILD)/layers/ml/usr/local/lib/python3.11/dist-packages/torch/__init__.py
	$(BIN)/python rootfs-tools/build-image $(IMAGES)/ml --layer $(BUILD)/rootfs/python \
	  --layer $(BUILD)/layers/ml --cmd python3 >/dev/null

# debootstrap and the rest of what the images are built with: installed as
# root, named (what to ask an administrator for) as a plain user.
image-tools:
	scripts/setup-host images

images: setup image-tools $(IMAGES)/busybox/index.json $(IMAGES)/debian/index.json $(IMAGES)/python/index.json $(IMAGES)/ml/index.json

registry: images
	rootfs-tools/local-registry start
	for i in busybox debian python ml; do rootfs-tools/local-registry push $(IMAGES)/$$i minirun/$$i:latest; done

bench: setup
	$(BIN)/python bench/run.py $(B)

clean:
	rm -rf $(BUILD) $(VENV) build *.egg-info minirun/_native*.so minirun/_native.c
