#!/bin/bash
# kill-conform.sh BIN N FILE... : start `BIN conform FILE...` N times, each
# under the host lock, and kill it at a random point (0.1 to 6 s in) with a
# random one of SIGINT, SIGTERM, SIGKILL; then run conform once more and
# check that nothing is left: no faultline-host-* temporary directory, no
# faultline-* memory cgroup, vm.nr_hugepages as it was, no executor
# process. Per kill it prints what that run left right after (a SIGKILLed
# run leaves its directory, cgroup and pool for the next run to clean up;
# its executors must die at once all the same).
set -u
bin=$1 n=$2
shift 2
lock=/tmp/faultline-host.lock
pool0=$(cat /proc/sys/vm/nr_hugepages)
tmp=${TMPDIR:-/tmp}
sigs=(INT TERM KILL)
declare -A count status
for i in $(seq "$n"); do
	sig=${sigs[RANDOM % 3]}
	delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.1 + 5.9 * r / 32767 }')
	line=$(flock "$lock" bash -c '
		bin=$1 sig=$2 delay=$3 tmp=$4 pool0=$5; shift 5
		"$bin" conform "$@" >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		groups=$(ps -o pgid= --ppid "$pid" 2>/dev/null | sort -u | tr -d " ")
		kill -s "$sig" "$pid" 2>/dev/null
		for t in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		wait "$pid"; rc=$?
		sleep 1 # a SIGKILLed driver: the watchdog needs to be scheduled
		dirs=$(grep -ls "^$pid " "$tmp"/faultline-host-*/driver 2>/dev/null | wc -l)
		cgs=$(find /sys/fs/cgroup -maxdepth 4 -name "faultline-$pid-*" 2>/dev/null | wc -l)
		procs=0
		for g in $groups; do
			procs=$((procs + $(ps -o stat= -g "$g" 2>/dev/null | grep -vc "^Z")))
		done
		pool=$(cat /proc/sys/vm/nr_hugepages)
		echo "rc=$rc dirs=$dirs cgroups=$cgs procs=$procs pool=$pool"
	' _ "$bin" "$sig" "$delay" "$tmp" "$pool0" "$@")
	echo "$i SIG$sig at ${delay}s: $line"
	count[$sig]=$((${count[$sig]:-0} + 1))
done
echo "kills: INT ${count[INT]:-0}, TERM ${count[TERM]:-0}, KILL ${count[KILL]:-0}"
flock "$lock" "$bin" conform "$@" >/tmp/kill-conform-final.out 2>&1
echo "final conform: exit $? ($(grep " agree, " /tmp/kill-conform-final.out))"
grep '^note: cleaned' /tmp/kill-conform-final.out
echo "left: $(ls -d "$tmp"/faultline-host-* 2>/dev/null | wc -l) faultline-host-* dirs," \
	"$(find /sys/fs/cgroup -maxdepth 4 -name 'faultline-*' 2>/dev/null | wc -l) faultline-* cgroups," \
	"vm.nr_hugepages $(cat /proc/sys/vm/nr_hugepages) (was $pool0)," \
	"$(ps -eo stat=,args= | grep -v '^Z' | grep -c '[e]xecutor-') executor processes"
