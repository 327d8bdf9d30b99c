#!/bin/sh
# hoist command provider example: destroy NAME POOL.
# Leaves the swarm, removes the node, stops the machine's dockerd and deletes
# its namespace, veth and data. A machine that does not exist is not an error.
set -eu
exec "${HOIST_BIN:-hoist}" local destroy "$1" --pool "$2"
