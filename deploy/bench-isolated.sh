#!/usr/bin/env bash
# bench-isolated.sh: 4 KiB PUT/GET of a standalone node, a one-member region and a
# 3-member region, each member in its own container limited to $CPUS CPUs, the
# benchmark client in another container on the same Docker network (no port
# publishing, so no userland proxy in the path). It answers "what does replication
# cost when the members do not share their CPU", which `make bench` (every member
# and the client on the same cores) cannot.
#
#   deploy/bench-isolated.sh                 # image $IMAGE (default pangea:dev) must exist
#   ROUNDS=3 CPUS=0.5 CLIENT_CPUS=0.5 CONCURRENCY=128 DURATION=10s OPS=put,get deploy/bench-isolated.sh
#
# Keep 3 x CPUS + CLIENT_CPUS within the machine's cores, or the containers compete
# again. CPU limits are CFS quotas: a container that spends its quota early in a
# 100 ms period waits for the next one, which adds latency at low concurrency.
set -euo pipefail

IMAGE=${IMAGE:-pangea:dev}
CPUS=${CPUS:-0.5}
CLIENT_CPUS=${CLIENT_CPUS:-0.5}
CONCURRENCY=${CONCURRENCY:-128}
DURATION=${DURATION:-10s}
OPS=${OPS:-put,get}
ROUNDS=${ROUNDS:-3}
# CFS period in microseconds for every container (default Docker's 100000). A shorter
# one spreads each quota over the period, so a container that spent its quota waits
# less; it makes latency-bound paths (read barriers, low concurrency) less distorted.
CPU_PERIOD=${CPU_PERIOD:-100000}
MODES=${MODES:-standalone single region}
NET=pangea-bench-net
NAMES=(pangea-bench-s pangea-bench-n1 pangea-bench-n2 pangea-bench-n3)
export PANGEA_CLUSTER_SECRET=${PANGEA_CLUSTER_SECRET:-bench-isolated-secret}

results=$(mktemp)
cleanup() { docker rm -f -v "${NAMES[@]}" >/dev/null 2>&1 || true; }
trap 'cleanup; docker network rm "$NET" >/dev/null 2>&1 || true; rm -f "$results"' EXIT

docker image inspect "$IMAGE" >/dev/null 2>&1 || {
	echo "bench-isolated: no image $IMAGE; build it with: make test-docker" >&2
	exit 1
}
docker network inspect "$NET" >/dev/null 2>&1 || docker network create "$NET" >/dev/null

# cpu_flags N: docker flags limiting a container to N CPUs with the chosen period.
cpu_flags() {
	echo "--cpu-period $CPU_PERIOD --cpu-quota $(awk -v n="$1" -v p="$CPU_PERIOD" 'BEGIN { printf "%d", n * p }')"
}

# start MODE: starts the servers of MODE and prints their endpoints (comma separated).
start() {
	local common=(--network "$NET" $(cpu_flags "$CPUS") -e PANGEA_CLUSTER_SECRET)
	case $1 in
	standalone | single)
		local extra=()
		[ "$1" = standalone ] && extra=(--standalone)
		docker run -d --name pangea-bench-s "${common[@]}" "$IMAGE" node "${extra[@]}" \
			--data /data --addr 0.0.0.0:9000 --log-level warn >/dev/null
		echo http://pangea-bench-s:9000
		;;
	region)
		local peers=n1=pangea-bench-n1:7000,n2=pangea-bench-n2:7000,n3=pangea-bench-n3:7000
		for i in 1 2 3; do
			docker run -d --name "pangea-bench-n$i" --hostname "pangea-bench-n$i" "${common[@]}" "$IMAGE" node \
				--id "n$i" --cluster-addr "pangea-bench-n$i:7000" --peers "$peers" \
				--data /data --addr 0.0.0.0:9000 --log-level warn >/dev/null
		done
		echo http://pangea-bench-n1:9000,http://pangea-bench-n2:9000,http://pangea-bench-n3:9000
		;;
	*)
		echo "bench-isolated: unknown mode $1" >&2
		return 1
		;;
	esac
}

echo "bench-isolated: image=$IMAGE member_cpus=$CPUS client_cpus=$CLIENT_CPUS cpu_period_us=$CPU_PERIOD concurrency=$CONCURRENCY duration=$DURATION ops=$OPS rounds=$ROUNDS"
for round in $(seq 1 "$ROUNDS"); do
	for mode in $MODES; do
		cleanup
		eps=$(start "$mode")
		# The bench creates its bucket with retries until a leader answers.
		out=$(docker run --rm --network "$NET" $(cpu_flags "$CLIENT_CPUS") "$IMAGE" bench \
			--endpoint "$eps" --size 4KiB --op "$OPS" --concurrency "$CONCURRENCY" \
			--duration "$DURATION" --bucket "bench-$round-$mode" 2>&1) || {
			echo "$out" >&2
			echo "bench-isolated: $mode round $round failed" >&2
			exit 1
		}
		echo "$out" | grep -E '^ +(put|get) ' | sed "s/^/round $round  $mode  /" | tee -a "$results"
	done
done

# Medians over the rounds, and each mode's median against the one-member region's.
echo
echo "medians over $ROUNDS rounds (ops/s), and against the one-member region (single):"
awk '{ k = $3 " " $4; n[k]++; v[k, n[k]] = $6 }
END {
	for (k in n) {
		m = n[k]
		for (i = 1; i <= m; i++) a[i] = v[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		med[k] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	for (k in med) {
		split(k, p, " ")
		base = med["single " p[2]]
		printf "  %-10s %-4s %9.1f  %s\n", p[1], p[2], med[k], base ? sprintf("%3.0f%% of single", 100 * med[k] / base) : ""
	}
}' "$results" | sort
