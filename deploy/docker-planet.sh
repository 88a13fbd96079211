#!/usr/bin/env bash
# docker-planet.sh: the docker tier's planet test, on docker-compose.yml's planet.
# Builds the image (unless NO_BUILD=1: make test-docker has just built it), brings up
# the planet's 9 members (us-east-1, eu-west-1, ap-southeast-2, 3 members each, one
# container per member) under a project name of its own with free host ports, and
# checks through the members' own status (pangea ctl --admin against a member's S3
# port, signed with the cluster secret):
#   1. every member turns healthy (ready: its region has a leader, it is caught up);
#   2. every member's gossip pool sees all 9 members alive, and a leader in each region;
#   3. gossip between us-east-1 and eu-west-1 containers pays the topology's 70 ms
#      round trip (within 10%), as measured by members at both ends (over their RTT
#      to the members of their own location);
#   4. once the ap-southeast-2 containers are killed, the members of the other regions
#      report its 3 members dead (the region DOWN) within the deadline, and their own
#      regions keep their leaders.
# The planet is torn down with its volumes (down -v) however the script ends.
#
#   deploy/docker-planet.sh                 # builds bin/pangea-linux and $IMAGE first
#   NO_BUILD=1 IMAGE=pangea:dev deploy/docker-planet.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${IMAGE:-pangea:dev}
P=pangea-planet-$$
SECRET=planet-secret-$$
WAIT=${WAIT:-120} # seconds allowed for each wait
LINK_RTT_MS=70    # us-east-1 <-> eu-west-1 in the built-in topology
REGIONS=(us-east-1 eu-west-1 ap-southeast-2)
MEMBERS=()
for r in "${REGIONS[@]}"; do MEMBERS+=("$r-n1" "$r-n2" "$r-n3"); done
STARTED=$SECONDS

log() { echo "docker-planet: [$((SECONDS - STARTED))s] $*"; }

compose=()
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
else
	echo "docker-planet: skipped (neither docker compose nor docker-compose is installed)"
	exit 0
fi
# compose ARGS...: docker-compose.yml under this run's project name, with every host
# port (PANGEA_PORT_*) empty, so Docker picks free ones, and this run's secret.
COMPOSE_YML=$ROOT/docker-compose.yml
mapfile -t FREE_PORTS < <(grep -o 'PANGEA_PORT_[A-Z0-9_]*' "$COMPOSE_YML" | sort -u | sed 's/$/=/')
compose() {
	env "${FREE_PORTS[@]}" PANGEA_IMAGE="$IMAGE" PANGEA_CLUSTER_SECRET="$SECRET" \
		"${compose[@]}" -f "$COMPOSE_YML" -p "$P" "$@"
}

LAST_STATUS=$(mktemp) # the last status read, shown on failure
cleanup() {
	set +e
	log "tearing down (down -v)"
	compose down -v --remove-orphans >/dev/null 2>&1
	rm -f "$LAST_STATUS"
}
trap cleanup EXIT

fail() {
	echo "docker-planet: FAIL: $*" >&2
	if [ -s "$LAST_STATUS" ]; then
		echo "docker-planet: last status read:" >&2
		sed 's/^/  /' "$LAST_STATUS" >&2
	fi
	for svc in "${MEMBERS[@]}"; do
		compose logs --no-color --tail 8 "$svc" 2>&1 | tail -8 | sed "s/^/  /" >&2 || true
	done
	exit 1
}

# status MEMBER: the planet as MEMBER's gossip pool sees it (pangea ctl's tables),
# read from a throwaway container on the planet's network.
status() {
	docker run --rm --network "${P}_default" -e PANGEA_CLUSTER_SECRET="$SECRET" "$IMAGE" \
		ctl --admin "http://$1:9000/_pangea/admin" status >"$LAST_STATUS" 2>&1
	local rc=$?
	cat "$LAST_STATUS"
	return $rc
}

# members < STATUS: one line "REGION MEMBER RAFT HEALTH" per member listed (REGION
# without its "(DOWN)" or "(no leader)" mark). tabwriter separates cells by 2+ spaces.
members() {
	awk -F '  +' '/^REGION / { on = 1; next } on && NF == 0 { exit } on {
		region = $1; sub(/ \(.*\)$/, "", region); print region, $3, $4, $5 }'
}

# rtt_ms A B < STATUS: the RTT gossip measured between locations A and B (the same
# location: between members there), in milliseconds, or nothing if there is no sample yet.
rtt_ms() {
	awk -F '  +' -v a="$1" -v b="$2" '
		/^RTT measured/ { on = 1; next }
		on && hdr == 0 { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1; next }
		on && $1 == a && (b in col) { v = $col[b]; sub(/ .*/, "", v)
			if (v ~ /µs$/) { sub(/µs$/, "", v); printf "%.1f\n", v / 1000 }
			else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.1f\n", v }
			else if (v ~ /[0-9]s$/) { sub(/s$/, "", v); printf "%.1f\n", v * 1000 }
			exit }'
}

# wait_for WHAT CHECK ARGS...: runs CHECK ARGS until it succeeds, within WAIT seconds;
# CHECK says why it is not yet true on stdout.
wait_for() {
	local what=$1 start=$SECONDS why
	shift
	until why=$("$@"); do
		((SECONDS - start < WAIT)) || fail "$what: not after ${WAIT}s: $why"
		sleep 1 # polling interval
	done
	log "ok: $what (${why:+$why, }after $((SECONDS - start))s)"
}

# healthy: every member container's health check passes.
healthy() {
	local svc id state
	for svc in "${MEMBERS[@]}"; do
		id=$(compose ps -q "$svc")
		state=$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || echo gone)
		[ "$state" = healthy ] || { echo "$svc is $state"; return 1; }
	done
}

# planet_seen VIEWER: VIEWER's pool sees all 9 members alive and a leader per region.
planet_seen() {
	local st rows r
	st=$(status "$1") || { echo "status of $1: $st"; return 1; }
	rows=$(members <<<"$st")
	[ "$(awk '$4 == "alive"' <<<"$rows" | wc -l)" -eq 9 ] ||
		{ echo "$1 sees $(awk '$4 == "alive"' <<<"$rows" | wc -l) of 9 members alive"; return 1; }
	for r in "${REGIONS[@]}"; do
		awk -v r="$r" '$1 == r && $3 == "LEADER"' <<<"$rows" | grep -q . || { echo "$1 sees no leader in $r"; return 1; }
	done
}

# all_seen: every member's view is planet_seen's.
all_seen() {
	local m
	for m in "${MEMBERS[@]}"; do planet_seen "$m" || return 1; done
	echo "all 9 views agree"
}

# rtt_near VIEWER HERE THERE: VIEWER, a member at location HERE, measures the link to
# location THERE within 10% of LINK_RTT_MS: its RTT to THERE's members less its RTT to
# the other members at HERE (the containers' own network and scheduling, which the
# topology does not emulate: about 1-5 ms on a loaded 2-CPU machine).
rtt_near() {
	local st far near
	st=$(status "$1") || { echo "status of $1: $st"; return 1; }
	far=$(rtt_ms "$2" "$3" <<<"$st")
	near=$(rtt_ms "$2" "$2" <<<"$st")
	[ -n "$far" ] && [ -n "$near" ] || { echo "$1 has no $2<->$3 or $2<->$2 sample yet"; return 1; }
	awk -v v="$1" -v a="$2" -v b="$3" -v far="$far" -v near="$near" -v want="$LINK_RTT_MS" 'BEGIN {
		link = far - near
		printf "%s measures %s<->%s %.1fms, %.1fms inside %s: the link adds %.1fms, topology %dms\n", v, a, b, far, near, a, link, want
		exit !(link >= want * 0.9 && link <= want * 1.1) }'
}

# region_dead VIEWER R: VIEWER reports every member of R dead, R DOWN, and a leader
# in each other region.
region_dead() {
	local st rows r
	st=$(status "$1") || { echo "status of $1: $st"; return 1; }
	rows=$(members <<<"$st")
	[ "$(awk -v r="$2" '$1 == r && $4 == "dead"' <<<"$rows" | wc -l)" -eq 3 ] ||
		{ echo "$1 sees $2's members $(awk -v r="$2" '$1 == r { printf "%s=%s ", $2, $4 }' <<<"$rows")"; return 1; }
	grep -q "^$2 (DOWN)" <<<"$st" || { echo "$1 does not mark $2 DOWN"; return 1; }
	for r in "${REGIONS[@]}"; do
		[ "$r" = "$2" ] && continue
		awk -v r="$r" '$1 == r && $3 == "LEADER"' <<<"$rows" | grep -q . || { echo "$1 sees no leader in $r"; return 1; }
	done
	echo "$1 sees $2's 3 members dead"
}

if [ "${NO_BUILD:-}" != 1 ]; then
	log "building bin/pangea-linux and $IMAGE"
	(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux go build -trimpath -o bin/pangea-linux ./cmd/pangea) || fail "go build"
	# The legacy builder's deprecation notice is noise; its errors are shown.
	docker build -q -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" >/dev/null 2>"$LAST_STATUS" ||
		fail "docker build: $(cat "$LAST_STATUS")"
	: >"$LAST_STATUS"
fi
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "docker-planet: no image $IMAGE" >&2; exit 1; }

log "bringing up the planet's 9 members as project $P (${compose[*]})"
compose up -d --no-build "${MEMBERS[@]}" >/dev/null 2>&1 || fail "compose up: $(compose up -d --no-build "${MEMBERS[@]}" 2>&1 | tail -5)"
for svc in "${MEMBERS[@]}"; do
	log "  $svc S3 on http://$(compose port "$svc" 9000)"
done

wait_for "all 9 members healthy" healthy
wait_for "every member's gossip sees 9 members alive and a leader in each region" all_seen
wait_for "gossip RTT us-east-1 <-> eu-west-1 seen from us-east-1" rtt_near us-east-1-n1 us-east-1 eu-west-1
wait_for "gossip RTT us-east-1 <-> eu-west-1 seen from eu-west-1" rtt_near eu-west-1-n2 eu-west-1 us-east-1
# TODO(edge): a cross-region read through an edge pays the link: PUT an object into a
# bucket of eu-west-1 through edge-us-east-1, time GETs of it through edge-us-east-1
# against GETs through edge-eu-west-1, and check the difference is ~70 ms (+-10%).

log "killing the ap-southeast-2 containers"
compose kill ap-southeast-2-n1 ap-southeast-2-n2 ap-southeast-2-n3 >/dev/null 2>&1 || fail "compose kill ap-southeast-2"
wait_for "us-east-1 reports ap-southeast-2 dead" region_dead us-east-1-n3 ap-southeast-2
wait_for "eu-west-1 reports ap-southeast-2 dead" region_dead eu-west-1-n1 ap-southeast-2
# TODO(catalog): the global catalog (pangea ctl status through an edge) reports
# region ap-southeast-2 down, and requests for its buckets fail fast with 503.

log "ok: planet checked in $((SECONDS - STARTED))s"
