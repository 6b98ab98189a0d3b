# The two commands of the README: `make demo` and `make test`.
.PHONY: demo test lint setup setup-test
setup:
	scripts/setup.sh
setup-test:
	scripts/setup.sh test
demo: setup
	.venv/bin/lradvisor suggest --task finetune
	.venv/bin/lradvisor search --spec studies/digits-cnn.toml --trials 12
test: setup-test
	scripts/services.sh
	scripts/test-deps.sh
	.venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist worksteal
lint:
	scripts/setup.sh lint
	.venv/bin/ruff check lradvisor benchmarks tests
	.venv/bin/mypy lradvisor
