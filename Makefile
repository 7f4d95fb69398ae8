# OccDepth: `make demo` and `make test` are the two commands a new user runs.
# Both create the virtual environment on first use and reuse it afterwards.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.occdepth-setup
DEMO_DIR ?= work_dirs/demo

.PHONY: setup test test-device lint demo clean-venv

setup: $(STAMP)

$(STAMP): requirements/build.txt requirements/torch-cpu.txt requirements/mminstall.txt requirements/runtime.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -r requirements/torch-cpu.txt
	# after torch: torch pulls the newest setuptools, mmcv's setup.py needs <70
	$(PIP) install -q -r requirements/build.txt
	@echo "Installing mmcv 2.1.0 with its compiled ops (the first build takes ~25 min on 2 cores; pip caches the wheel)."
	MMCV_WITH_OPS=1 MAX_JOBS=$${MAX_JOBS:-2} $(PIP) install --no-build-isolation $$(grep '^mmcv' requirements/mminstall.txt)
	$(PIP) install -r requirements/mminstall.txt -r requirements/runtime.txt -r requirements/tests.txt
	$(PY) -c "import mmcv.ops, mmdet3d, efficientnet_pytorch; print('stack ok: mmcv', mmcv.__version__, 'mmdet3d', mmdet3d.__version__)"
	touch $(STAMP)

test: setup
	$(PY) -m pytest tests

# only the tests marked `device` (models, ops, losses on the CPU and, when
# present, CUDA; fp32 and autocast)
test-device: setup
	$(PY) -m pytest tests -m device

lint: setup
	$(PY) -m flake8 projects tools tests demo
	$(PY) -m isort --check-only --diff projects tools tests demo
	$(PY) -m yapf --diff --recursive projects tools tests demo
	$(VENV)/bin/codespell projects tools tests demo configs README.md

demo: setup
	$(PY) tools/run_demo.py --work-dir $(DEMO_DIR)

clean-venv:
	rm -rf $(VENV)
