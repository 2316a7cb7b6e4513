# The README's two commands are `make demo` and `make test`; both set up first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# mmengine imports pkg_resources, which warns on every import.
export PYTHONWARNINGS := ignore:pkg_resources is deprecated

.PHONY: setup setup-reference demo test test-quick clean

setup:
	VENV=$(VENV) bash tools/setup_env.sh main

# paddlepaddle + paddleclas (--no-deps) for the parity tests.
setup-reference: setup
	VENV=$(VENV) bash tools/setup_env.sh reference

demo: setup
	$(PY) tools/demo.py

# The full suite, parity tests against the PaddleClas reference included.
# MMLCNETV2_REQUIRE_REFERENCE makes a missing reference an error, not a skip.
test: setup setup-reference
	MMLCNETV2_REQUIRE_REFERENCE=1 $(PY) -m pytest tests $(PYTEST_ARGS)

# A quicker subset for iterating: everything not marked slow.
test-quick: setup
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf work_dirs build *.egg-info mmlcnetv2/.mim
