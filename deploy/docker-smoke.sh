#!/usr/bin/env bash
# docker-smoke.sh: the docker test tier.
# Runs the image as a standalone node and as a 3-member region (one container per
# member, on a private Docker network: nothing is published), checks each with
# `pangea health` and a short `pangea bench` from another container, then kills the
# region's leader container and checks that the other two become ready again and take
# writes, and that the killed member rejoins once restarted. Last, where docker compose
# (v2) or docker-compose (v1) is installed, it brings up one region of
# docker-compose.yml's planet, us-east-1 (host ports picked free), and checks that its
# members turn healthy and serve (deploy/docker-planet.sh checks the whole planet).
#
#   deploy/docker-smoke.sh        # image $IMAGE (default pangea:dev) must exist: make test-docker
set -euo pipefail

IMAGE=${IMAGE:-pangea:dev}
P=pangea-smoke-$$
NET=$P-net
SECRET=smoke-secret-$$
WAIT=${WAIT:-90} # seconds allowed for each wait

compose=()
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
fi
# compose ARGS...: the repository's docker-compose.yml under this run's project name,
# with every host port (PANGEA_PORT_*) empty: Docker picks free ones.
COMPOSE_YML=$(dirname "$0")/../docker-compose.yml
mapfile -t FREE_PORTS < <(grep -o 'PANGEA_PORT_[A-Z0-9_]*' "$COMPOSE_YML" | sort -u | sed 's/$/=/')
compose() {
	env "${FREE_PORTS[@]}" PANGEA_IMAGE="$IMAGE" "${compose[@]}" -f "$COMPOSE_YML" -p "$P" "$@"
}
# The region of docker-compose.yml's planet this test brings up.
REGION_SVCS=(us-east-1-n1 us-east-1-n2 us-east-1-n3)

cleanup() {
	set +e
	# -v: the image declares VOLUME /data, so each member has an anonymous volume.
	docker rm -f -v "$P-s" "$P-n1" "$P-n2" "$P-n3" >/dev/null 2>&1
	docker network rm "$NET" >/dev/null 2>&1
	[ ${#compose[@]} -eq 0 ] || compose down -v >/dev/null 2>&1
}
trap cleanup EXIT

fail() {
	echo "docker-smoke: FAIL: $*" >&2
	for c in "$P-s" "$P-n1" "$P-n2" "$P-n3"; do
		docker logs --tail 20 "$c" 2>&1 | sed "s/^/  $c: /" >&2 || true
	done
	exit 1
}

# client ARGS...: runs the image's binary in a throwaway container on the network.
client() { docker run --rm --network "$NET" -e PANGEA_CLUSTER_SECRET="$SECRET" "$IMAGE" "$@"; }

# wait_ready NAME...: polls each member's readiness endpoint until it answers 200.
wait_ready() {
	local name start=$SECONDS
	for name in "$@"; do
		until client health --endpoint "http://$name:9000" >/dev/null 2>&1; do
			((SECONDS - start < WAIT)) || fail "$name not ready after ${WAIT}s: $(client health --endpoint "http://$name:9000" 2>&1)"
			sleep 0.5 # polling interval
		done
	done
	echo "docker-smoke: ready after $((SECONDS - start))s: $*"
}

# bench ENDPOINTS BUCKET: short PUT/GET load; any failed request fails the bench.
bench() {
	client bench --endpoint "$1" --bucket "$2" --size 4KiB,1MiB --op put,get --concurrency 6 --duration 2s |
		grep -E '^ +(put|get) ' || fail "bench against $1"
}

docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "docker-smoke: no image $IMAGE; build it with: make test-docker" >&2; exit 1; }
docker network create "$NET" >/dev/null

echo "== standalone node"
docker run -d --name "$P-s" --network "$NET" "$IMAGE" >/dev/null
wait_ready "$P-s"
bench "http://$P-s:9000" smoke

echo "== 3-member region"
peers=n1=$P-n1:7000,n2=$P-n2:7000,n3=$P-n3:7000
member() {
	docker run -d --name "$P-$1" --hostname "$P-$1" --network "$NET" -e PANGEA_CLUSTER_SECRET="$SECRET" "$IMAGE" node \
		--id "$1" --cluster-addr "$P-$1:7000" --peers "$peers" --data /data --addr 0.0.0.0:9000 >/dev/null
}
for id in n1 n2 n3; do member "$id"; done
wait_ready "$P-n1" "$P-n2" "$P-n3"
bench "http://$P-n1:9000,http://$P-n2:9000,http://$P-n3:9000" region

leader=$(client ctl --cluster-addr "$P-n1:7000" status | awk '$1 == "leader" { print $2 }')
[ -n "$leader" ] || fail "no leader in ctl status"
others=()
for id in n1 n2 n3; do [ "$id" = "$leader" ] || others+=("$id"); done
echo "== docker kill the leader ($leader)"
docker kill "$P-$leader" >/dev/null
wait_ready "$P-${others[0]}" "$P-${others[1]}"
bench "http://$P-${others[0]}:9000,http://$P-${others[1]}:9000" after-kill

echo "== restart $leader: it rejoins and catches up"
docker start "$P-$leader" >/dev/null
wait_ready "$P-$leader"
client bench --endpoint "http://$P-$leader:9000" --bucket after-kill --size 4KiB --op put,get --concurrency 2 --duration 1s |
	grep -E '^ +(put|get) ' || fail "bench against the restarted member"

if [ ${#compose[@]} -eq 0 ]; then
	echo "== docker-compose.yml: skipped (neither docker compose nor docker-compose is installed)"
	echo "docker-smoke: ok"
	exit 0
fi
echo "== docker-compose.yml: region us-east-1 of the planet (${compose[*]})"
compose up -d --no-build "${REGION_SVCS[@]}" >/dev/null 2>&1 || fail "compose up: $(compose up -d --no-build "${REGION_SVCS[@]}" 2>&1 | tail -5)"
start=$SECONDS
for svc in "${REGION_SVCS[@]}"; do
	id=$(compose ps -q "$svc")
	until [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]; do
		((SECONDS - start < WAIT)) || fail "compose service $svc not healthy after ${WAIT}s: $(docker inspect -f '{{json .State.Health}}' "$id")"
		sleep 0.5 # polling interval
	done
done
echo "docker-smoke: compose members healthy after $((SECONDS - start))s"
docker run --rm --network "${P}_default" "$IMAGE" bench --endpoint http://us-east-1-n1:9000,http://us-east-1-n2:9000,http://us-east-1-n3:9000 \
	--bucket compose --size 4KiB --op put,get --concurrency 6 --duration 2s |
	grep -E '^ +(put|get) ' || fail "bench against the compose region"
echo "docker-smoke: ok"
