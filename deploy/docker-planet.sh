#!/usr/bin/env bash
# docker-planet.sh: the docker tier's planet test, on docker-compose.yml's planet.
# Builds the image (unless NO_BUILD=1: make test-docker has just built it), brings up
# the whole planet (us-east-1, eu-west-1, ap-southeast-2: 3 members each, one
# container per member, and an edge at each location: 12 containers) under a project
# name of its own with free host ports, and checks through the members' own status
# (pangea ctl --admin against a member's S3 port, signed with the cluster secret) and
# through the edges' S3 endpoints (curl --aws-sigv4, signed for the bucket's region):
#   1. every member and edge turns healthy (a member is ready: its region has a
#      leader, it is caught up; an edge is ready once it serves);
#   2. every member's gossip pool sees all 9 members and the 3 edges alive, and a
#      leader in each region;
#   3. gossip between us-east-1 and eu-west-1 containers pays the topology's 70 ms
#      round trip (within 10%), as measured by members at both ends (over their RTT
#      to the members of their own location);
#   4. a bucket created in eu-west-1 through the us-east-1 edge (LocationConstraint)
#      takes an object PUT through the eu-west-1 edge; GETs of it through the
#      us-east-1 edge pay the link (best of several >= 90% of 70 ms) while GETs
#      through the eu-west-1 edge do not (best < half of it); a bucket is created in
#      ap-southeast-2 as well;
#   5. the ap-southeast-2 containers (its members and its edge) are frozen (docker
#      pause: their packets go unanswered, as across a cut link), then killed: a GET of
#      its bucket through the us-east-1 edge answers a clean 503 ServiceUnavailable
#      within 15 s while frozen (not a hang), right after the kill and once the region
#      is seen down; the members of the other regions report its 3 members dead (the
#      region DOWN) within the deadline, their own regions keep their leaders, and the
#      catalog (held by the control region, us-east-1) still answers with both
#      buckets, not stale; the eu-west-1 bucket is still read through the us-east-1
#      and eu-west-1 edges.
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
EDGES=()
for r in "${REGIONS[@]}"; do MEMBERS+=("$r-n1" "$r-n2" "$r-n3"); EDGES+=("edge-$r"); done
SERVICES=("${MEMBERS[@]}" "${EDGES[@]}")
# The S3 credentials of this run (every member and edge), and its buckets.
ACCESS_KEY=planet-$$
SECRET_KEY=planet-s3-secret-$$
EU_BUCKET=planet-eu-$$
AP_BUCKET=planet-ap-$$
GETS=5               # GETs per edge; the best one counts
FAIL_FAST_S=${FAIL_FAST_S:-15} # seconds: a request for a dead region's bucket answers within this
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
		PANGEA_ACCESS_KEY="$ACCESS_KEY" PANGEA_SECRET_KEY="$SECRET_KEY" \
		"${compose[@]}" -f "$COMPOSE_YML" -p "$P" "$@"
}

LAST_STATUS=$(mktemp) # the last status read, shown on failure
WORK=$(mktemp -d)     # objects PUT and read back, curl's answers
cleanup() {
	set +e
	log "tearing down (down -v)"
	compose unpause >/dev/null 2>&1 # a failure may leave ap-southeast-2 frozen
	compose down -v --remove-orphans >/dev/null 2>&1
	rm -rf "$LAST_STATUS" "$WORK"
}
trap cleanup EXIT

fail() {
	echo "docker-planet: FAIL: $*" >&2
	if [ -s "$LAST_STATUS" ]; then
		echo "docker-planet: last status read:" >&2
		sed 's/^/  /' "$LAST_STATUS" >&2
	fi
	for svc in "${SERVICES[@]}"; do
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
	awk -F '  +' '/^REGION / { on = 1; next } on && NF == 0 { exit } on && $1 != "(edge)" {
		region = $1; sub(/ \(.*\)$/, "", region); print region, $3, $4, $5 }'
}

# edges < STATUS: one line "EDGE HEALTH" per edge listed (the "(edge)" rows).
edges() {
	awk -F '  +' '/^REGION / { on = 1; next } on && NF == 0 { exit } on && $1 == "(edge)" { print $3, $5 }'
}

# catalog < STATUS: "BUCKETS VERSION fresh|stale", from the status's first line
# ("...; catalog: N buckets, version V", with "(stale: ...)" when the control region
# does not answer).
catalog() {
	awk 'NR == 1 { if (!match($0, /catalog: [0-9]+ buckets, version [0-9]+/)) exit 1
		split(substr($0, RSTART, RLENGTH), f, /[ ,]+/)
		print f[2], f[5], (index($0, "stale") ? "stale" : "fresh"); exit }'
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

# healthy: every member and edge container's health check passes.
healthy() {
	local svc id state
	for svc in "${SERVICES[@]}"; do
		id=$(compose ps -q "$svc")
		state=$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || echo gone)
		[ "$state" = healthy ] || { echo "$svc is $state"; return 1; }
	done
}

# planet_seen VIEWER: VIEWER's pool sees all 9 members and 3 edges alive and a leader
# per region.
planet_seen() {
	local st rows r
	st=$(status "$1") || { echo "status of $1: $st"; return 1; }
	rows=$(members <<<"$st")
	[ "$(awk '$4 == "alive"' <<<"$rows" | wc -l)" -eq 9 ] ||
		{ echo "$1 sees $(awk '$4 == "alive"' <<<"$rows" | wc -l) of 9 members alive"; return 1; }
	[ "$(edges <<<"$st" | awk '$2 == "alive"' | wc -l)" -eq 3 ] ||
		{ echo "$1 sees edges $(edges <<<"$st" | tr '\n' ' ')"; return 1; }
	for r in "${REGIONS[@]}"; do
		awk -v r="$r" '$1 == r && $3 == "LEADER"' <<<"$rows" | grep -q . || { echo "$1 sees no leader in $r"; return 1; }
	done
}

# all_seen: every member's view is planet_seen's.
all_seen() {
	local m
	for m in "${MEMBERS[@]}"; do planet_seen "$m" || return 1; done
	echo "all 9 views agree, 3 edges alive"
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

# region_dead VIEWER R: VIEWER reports every member of R dead, R DOWN, R's edge not
# alive (dead, or gone from the pool), and a leader in each other region.
region_dead() {
	local st rows r edge
	st=$(status "$1") || { echo "status of $1: $st"; return 1; }
	edge=$(edges <<<"$st" | awk -v e="edge-$2" '$1 == e { print $2 }')
	[ "$edge" != alive ] || { echo "$1 sees edge-$2 alive"; return 1; }
	rows=$(members <<<"$st")
	[ "$(awk -v r="$2" '$1 == r && $4 == "dead"' <<<"$rows" | wc -l)" -eq 3 ] ||
		{ echo "$1 sees $2's members $(awk -v r="$2" '$1 == r { printf "%s=%s ", $2, $4 }' <<<"$rows")"; return 1; }
	grep -q "^$2 (DOWN)" <<<"$st" || { echo "$1 does not mark $2 DOWN"; return 1; }
	for r in "${REGIONS[@]}"; do
		[ "$r" = "$2" ] && continue
		awk -v r="$r" '$1 == r && $3 == "LEADER"' <<<"$rows" | grep -q . || { echo "$1 sees no leader in $r"; return 1; }
	done
	echo "$1 sees $2's 3 members dead, edge-$2 ${edge:-gone}"
}

# s3 REGION OUT METHOD URL [CURL ARGS...]: one S3 request signed (SigV4) for REGION,
# the bucket's (S3 wants it); the body answered goes to OUT. Prints "HTTP_CODE
# SECONDS" (000 when curl got no answer).
declare -A URL # service -> its S3 endpoint on the host
s3() {
	local region=$1 out=$2 method=$3 url=$4
	shift 4
	rm -f "$out"
	curl -sS -o "$out" -w '%{http_code} %{time_total}' -m 30 -X "$method" \
		--aws-sigv4 "aws:amz:$region:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$url" 2>>"$WORK/curl.err"
}

# ms SECONDS: curl's seconds in milliseconds.
ms() { awk -v t="$1" 'BEGIN { printf "%.1f\n", t * 1000 }'; }

# s3_code FILE: the S3 error code of an answer body, if it is one.
s3_code() { sed -n 's/.*<Code>\([^<]*\)<\/Code>.*/\1/p' "$1" 2>/dev/null | head -1; }

# create_in EDGE REGION BUCKET: CreateBucket of BUCKET in REGION (LocationConstraint)
# through EDGE; an earlier attempt's success (BucketAlreadyOwnedByYou) counts.
create_in() {
	local r
	r=$(s3 "$2" "$WORK/create" PUT "${URL[$1]}/$3" --data-binary \
		"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>$2</LocationConstraint></CreateBucketConfiguration>") || true
	if [ "${r% *}" = 200 ] || [ "$(s3_code "$WORK/create")" = BucketAlreadyOwnedByYou ]; then
		echo "$3 in $2 through $1, $(ms "${r#* }")ms"
		return 0
	fi
	echo "CreateBucket $3 through $1: HTTP ${r% *} $(s3_code "$WORK/create")"
	return 1
}

# put_obj EDGE REGION BUCKET: PUT $WORK/obj as BUCKET/obj through EDGE.
put_obj() {
	local r
	r=$(s3 "$2" "$WORK/put" PUT "${URL[$1]}/$3/obj" -T "$WORK/obj") || true
	[ "${r% *}" = 200 ] || { echo "PUT $3/obj through $1: HTTP ${r% *} $(s3_code "$WORK/put")"; return 1; }
	echo "$3/obj through $1, $(ms "${r#* }")ms"
}

# get_ms EDGE REGION BUCKET: GETs BUCKET/obj through EDGE, checks it is the body PUT,
# and prints the time it took in ms.
get_ms() {
	local r
	r=$(s3 "$2" "$WORK/got" GET "${URL[$1]}/$3/obj") || true
	[ "${r% *}" = 200 ] || fail "GET $3/obj through $1: HTTP ${r% *} $(s3_code "$WORK/got")"
	cmp -s "$WORK/got" "$WORK/obj" || fail "GET $3/obj through $1: not the body PUT"
	ms "${r#* }"
}

# best_ms EDGE REGION BUCKET: the best of GETS get_ms.
best_ms() {
	local i t best=
	for ((i = 0; i < GETS; i++)); do
		t=$(get_ms "$@") || exit 1
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
	done
	echo "$best"
}

# fails_fast EDGE REGION BUCKET: a GET of BUCKET/obj through EDGE (REGION's containers
# being dead) answers 503 ServiceUnavailable within FAIL_FAST_S seconds.
fails_fast() {
	local r code
	r=$(s3 "$2" "$WORK/dead" GET "${URL[$1]}/$3/obj") || true
	code=$(s3_code "$WORK/dead")
	awk -v c="${r% *}" -v t="${r#* }" -v max="$FAIL_FAST_S" 'BEGIN { exit !(c == 503 && t < max) }' &&
		[ "$code" = ServiceUnavailable ] ||
		fail "GET of $3/obj (in $2) through $1: HTTP ${r% *} ${code:-without an S3 error} after ${r#* }s; want 503 ServiceUnavailable within ${FAIL_FAST_S}s"
	log "ok: GET of $3/obj (in $2) through $1 answered 503 ServiceUnavailable in $(ms "${r#* }")ms"
}

# catalog_fresh VIEWER MIN: VIEWER's copy of the catalog lists at least MIN buckets and
# is not stale (the control region answers it).
catalog_fresh() {
	local st n v fresh
	st=$(status "$1") || { echo "status of $1: $st"; return 1; }
	read -r n v fresh < <(catalog <<<"$st") || { echo "$1's status has no catalog"; return 1; }
	[ "$n" -ge "$2" ] && [ "$fresh" = fresh ] || { echo "$1's catalog: $n buckets, version $v, $fresh"; return 1; }
	echo "$1's catalog: $n buckets, version $v, not stale"
}

curl --help all 2>/dev/null | grep -q -- --aws-sigv4 ||
	{ echo "docker-planet: curl $(curl --version | awk 'NR == 1 { print $2 }') lacks --aws-sigv4 (curl 7.75 or later)" >&2; exit 1; }

if [ "${NO_BUILD:-}" != 1 ]; then
	log "building bin/pangea-linux and $IMAGE"
	(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux go build -trimpath -o bin/pangea-linux ./cmd/pangea) || fail "go build"
	# The legacy builder's deprecation notice is noise; its errors are shown.
	docker build -q -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" >/dev/null 2>"$LAST_STATUS" ||
		fail "docker build: $(cat "$LAST_STATUS")"
	: >"$LAST_STATUS"
fi
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "docker-planet: no image $IMAGE" >&2; exit 1; }

log "bringing up the planet's 9 members and 3 edges as project $P (${compose[*]})"
compose up -d --no-build "${SERVICES[@]}" >/dev/null 2>&1 || fail "compose up: $(compose up -d --no-build "${SERVICES[@]}" 2>&1 | tail -5)"
for svc in "${SERVICES[@]}"; do
	URL[$svc]=http://$(compose port "$svc" 9000)
	log "  $svc S3 on ${URL[$svc]}"
done

wait_for "all 9 members and 3 edges healthy" healthy
wait_for "every member's gossip sees 9 members and 3 edges alive and a leader in each region" all_seen
wait_for "gossip RTT us-east-1 <-> eu-west-1 seen from us-east-1" rtt_near us-east-1-n1 us-east-1 eu-west-1
wait_for "gossip RTT us-east-1 <-> eu-west-1 seen from eu-west-1" rtt_near eu-west-1-n2 eu-west-1 us-east-1

# One namespace through the edges: a bucket of eu-west-1 created through the
# us-east-1 edge, its object PUT through the eu-west-1 edge, read through both.
head -c $((64 << 10)) /dev/urandom >"$WORK/obj"
wait_for "CreateBucket $EU_BUCKET in eu-west-1 through edge-us-east-1" create_in edge-us-east-1 eu-west-1 "$EU_BUCKET"
wait_for "PUT of 64 KiB into $EU_BUCKET through edge-eu-west-1" put_obj edge-eu-west-1 eu-west-1 "$EU_BUCKET"
far=$(best_ms edge-us-east-1 eu-west-1 "$EU_BUCKET") || exit 1
near=$(best_ms edge-eu-west-1 eu-west-1 "$EU_BUCKET") || exit 1
log "GET of $EU_BUCKET/obj, best of $GETS: through edge-us-east-1 ${far}ms, through edge-eu-west-1 ${near}ms (link RTT ${LINK_RTT_MS}ms)"
awk -v far="$far" -v near="$near" -v rtt="$LINK_RTT_MS" 'BEGIN { exit !(far >= rtt * 0.9 && near < rtt / 2) }' ||
	fail "want the far edge to pay the link (>= $((LINK_RTT_MS * 9 / 10))ms) and the near one not (< $((LINK_RTT_MS / 2))ms)"
log "ok: a cross-region GET pays the link, a local one does not"
wait_for "CreateBucket $AP_BUCKET in ap-southeast-2 through edge-us-east-1" create_in edge-us-east-1 ap-southeast-2 "$AP_BUCKET"
wait_for "PUT into $AP_BUCKET through edge-us-east-1" put_obj edge-us-east-1 ap-southeast-2 "$AP_BUCKET"
t=$(get_ms edge-us-east-1 ap-southeast-2 "$AP_BUCKET") || exit 1
log "ok: GET of $AP_BUCKET/obj through edge-us-east-1 in ${t}ms"

AP_CONTAINERS=(ap-southeast-2-n1 ap-southeast-2-n2 ap-southeast-2-n3 edge-ap-southeast-2)
log "freezing the ap-southeast-2 containers (its 3 members and its edge: docker pause)"
compose pause "${AP_CONTAINERS[@]}" >/dev/null 2>&1 || fail "compose pause ap-southeast-2"
fails_fast edge-us-east-1 ap-southeast-2 "$AP_BUCKET"
log "killing them"
compose kill "${AP_CONTAINERS[@]}" >/dev/null 2>&1 || fail "compose kill ap-southeast-2"
fails_fast edge-us-east-1 ap-southeast-2 "$AP_BUCKET"
wait_for "us-east-1 reports ap-southeast-2 dead" region_dead us-east-1-n3 ap-southeast-2
wait_for "eu-west-1 reports ap-southeast-2 dead" region_dead eu-west-1-n1 ap-southeast-2
wait_for "the catalog answers at us-east-1 (the control region)" catalog_fresh us-east-1-n3 2
wait_for "the catalog answers at eu-west-1 (over the WAN)" catalog_fresh eu-west-1-n1 2
fails_fast edge-us-east-1 ap-southeast-2 "$AP_BUCKET"
far=$(best_ms edge-us-east-1 eu-west-1 "$EU_BUCKET") || exit 1
near=$(best_ms edge-eu-west-1 eu-west-1 "$EU_BUCKET") || exit 1
log "ok: with ap-southeast-2 down, $EU_BUCKET/obj is read through edge-us-east-1 in ${far}ms, edge-eu-west-1 in ${near}ms"

log "ok: planet checked in $((SECONDS - STARTED))s"
