#!/usr/bin/env bash
# Stop the single-node Slurm cluster of start.sh: cancel its jobs, then stop slurmd,
# slurmctld and the munged that start.sh started. Nothing running is fine.
#
# Environment: EPICAST_SLURM_DIR, the state directory (default /tmp/epicast-slurm).
set -euo pipefail

STATE=${EPICAST_SLURM_DIR:-/tmp/epicast-slurm}
export SLURM_CONF=$STATE/slurm.conf

# running NAME PIDFILE: is the process of PIDFILE alive and called NAME?
running() {
    local pid
    pid=$(cat "$2" 2>/dev/null) || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]
}

# stop NAME PIDFILE: end the process of PIDFILE if it is alive and called NAME.
stop() {
    running "$1" "$2" || return 0
    local pid
    pid=$(cat "$2")
    echo "slurm: stopping $1 ($pid)" >&2
    kill "$pid"
    for _ in {1..100}; do
        [[ -e /proc/$pid ]] || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# cancel_jobs: cancel this user's jobs and wait (15 s at most) until they have ended.
cancel_jobs() {
    local user
    user=$(id -un)
    scancel --full --user="$user" || return 0
    for _ in {1..30}; do
        [[ -z $(squeue -h --user="$user" -o %i) ]] && return 0
        sleep 0.5
    done
}

if running slurmctld "$STATE/slurmctld.pid"; then
    cancel_jobs
fi
stop slurmd "$STATE/slurmd.pid"
stop slurmctld "$STATE/slurmctld.pid"
stop munged "$STATE/munge/munged.pid"
