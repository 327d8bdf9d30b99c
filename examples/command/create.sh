#!/bin/sh
# hoist command provider example: create NAME POOL.
# Makes machine NAME of POOL with the local provider's mechanics (a network
# namespace with its own dockerd that joins the swarm) and prints it as one
# JSON object on stdout, as the contract asks (docs/swarm.md). hoist sets
# HOIST_BIN (its own binary) and HOIST_MACHINE_CPUS (the pool's shape).
# Idempotent: creating a machine that exists prints that machine.
set -eu
exec "${HOIST_BIN:-hoist}" local create "$1" --pool "$2" --cpus "${HOIST_MACHINE_CPUS:-1}" \
    --agent-credential-file "${HOIST_AGENT_CREDENTIAL_FILE:-}"
