#!/bin/sh
# Template (not run by hoist's tests, which have no cloud): create NAME POOL
# with docker-machine, as Elascale did, then join the swarm hoist manages.
# hoist sets HOIST_SWARM_MANAGER (host:port) and HOIST_SWARM_TOKEN (worker).
# Set DRIVER and the driver's flags for your cloud. Logs go to stderr; stdout
# carries only the JSON answer.
set -eu
name=$1 pool=$2
if ! docker-machine status "$name" >/dev/null 2>&1; then
	docker-machine create --driver "${DRIVER:?set DRIVER}" \
		--engine-label "hoist.machine=$name" --engine-label "hoist.pool=$pool" "$name" >&2
fi
eval "$(docker-machine env "$name")"
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" != active ]; then
	docker swarm join --token "$HOIST_SWARM_TOKEN" "$HOIST_SWARM_MANAGER" >&2
fi
# hoist's agent beside the machine's dockerd (metrics for the collector), with
# the agents' credential (it answers only the collector).
docker-machine scp "${HOIST_AGENT_CREDENTIAL_FILE:?}" "$name:/tmp/hoist-agent-credential" >&2
docker-machine ssh "$name" 'install -m 600 /tmp/hoist-agent-credential /etc/hoist-agent-credential && rm -f /tmp/hoist-agent-credential' >&2
docker-machine ssh "$name" 'pgrep -f "hoist agent" >/dev/null || (nohup hoist agent --listen :9101 --credential-file /etc/hoist-agent-credential >/var/log/hoist-agent.log 2>&1 &)' >&2 || true
printf '{"name":"%s","status":"running","addr":"%s","node_id":"%s"}\n' \
	"$name" "$(docker-machine ip "$name")" "$(docker info --format '{{.Swarm.NodeID}}')"
