# hoist's build and test entry points. `make test` is what CI runs (.ci/run).
GO ?= go
BIN ?= bin/hoist

.PHONY: all build test unit check e2e bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hoist

# The whole suite: static checks, unit tests, then the end-to-end tests on the
# real stack (installed and started by scripts/localstack).
test:
	scripts/test

# Static checks: gofmt and go vet.
check:
	scripts/test check

# Unit tests only (no real components needed).
unit:
	scripts/test unit

# End-to-end tests on the real stack (Docker Swarm, machines, Prometheus...).
e2e:
	scripts/test e2e

# Benchmarks of the control plane (figures, not pass/fail).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

clean:
	rm -rf bin
