#!/usr/bin/env bash
# Start a single-node Slurm cluster on 127.0.0.1, for the tests of epicast.cluster.
#
# Installs the Debian packages when slurmctld is missing (needs root), starts munged,
# writes slurm.conf into the state directory and starts slurmctld and slurmd as plain
# daemons (no systemd, no cgroups), then waits until the node takes jobs. Running it
# again leaves the one cluster running (restarted only when slurm.conf changed).
# Progress goes to stderr; the last line on stdout is SLURM_CONF=<file>, which every
# Slurm client (sbatch, squeue, dask-jobqueue) needs in its environment.
#
# Environment: EPICAST_SLURM_DIR, the state directory (default /tmp/epicast-slurm).
set -euo pipefail

STATE=${EPICAST_SLURM_DIR:-/tmp/epicast-slurm}
CONF=$STATE/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client munge)
MUNGE_KEY=/etc/munge/munge.key
MUNGE_SOCKET_DIR=/run/munge
TIMEOUT=60  # seconds to wait for the node to take jobs

log() { echo "slurm: $*" >&2; }

install_packages() {
    command -v slurmctld >/dev/null && return
    log "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local install=(apt-get install -y -q --no-install-recommends "${PACKAGES[@]}")
    "${install[@]}" >&2 || { apt-get update -q >&2 && "${install[@]}" >&2; }
}

# running NAME PIDFILE: is the process of PIDFILE alive and called NAME?
running() {
    local pid
    pid=$(cat "$2" 2>/dev/null) || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if [[ ! -s $MUNGE_KEY ]]; then
        log "writing a munge key"
        install -d -m 0700 -o munge -g munge "$(dirname "$MUNGE_KEY")"
        (umask 077 && dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none)
        chown munge:munge "$MUNGE_KEY"
    fi
    # clients (slurmstepd, sbatch) reach the socket only through a world-executable directory
    install -d -m 0755 -o munge -g munge "$MUNGE_SOCKET_DIR"
    munge_works && return
    log "starting munged"
    install -d -m 0755 -o munge -g munge "$STATE/munge"  # munged writes its PID file as munge
    runuser -u munge -- munged --force --pid-file="$STATE/munge/munged.pid"
}

write_conf() {
    mkdir -p "$STATE"/{state,spool,log}
    local node
    node=$(slurmd -C | head -n 1)
    cat >"$CONF.new" <<CONF
# Single-node test cluster written by scripts/slurm/start.sh
ClusterName=epicast
SlurmctldHost=localhost(127.0.0.1)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
KillWait=5
MailProg=/bin/true
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    if cmp -s "$CONF.new" "$CONF"; then
        rm "$CONF.new"
    else
        if running slurmctld "$STATE/slurmctld.pid" || running slurmd "$STATE/slurmd.pid"; then
            log "slurm.conf changed: restarting the daemons"
            "$(dirname "$0")/stop.sh" >&2
            start_munge
        fi
        mv "$CONF.new" "$CONF"
    fi
}

start_daemons() {
    if ! running slurmctld "$STATE/slurmctld.pid"; then
        log "starting slurmctld"
        slurmctld -f "$CONF"
    fi
    if ! running slurmd "$STATE/slurmd.pid"; then
        log "starting slurmd"
        slurmd -f "$CONF"
    fi
}

# Wait until the node takes jobs; resume it once if it came up down or drained.
wait_for_node() {
    local state resumed=0 deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -n 1) || state=
        case $state in
            idle | mix | alloc) return 0 ;;
            down | drain | drng)
                if ((!resumed)); then
                    scontrol update NodeName=ALL State=RESUME >&2 || true
                    resumed=1
                fi
                ;;
        esac
        sleep 0.5
    done
    log "the node is not idle after ${TIMEOUT}s (state: ${state:-no answer}); logs:"
    tail -n 20 "$STATE"/log/*.log >&2 || true
    return 1
}

main() {
    if ! command -v slurmctld >/dev/null && ((EUID != 0)); then
        log "slurmctld is not installed and installing it needs root"
        return 1
    fi
    install_packages
    mkdir -p "$STATE"
    start_munge
    write_conf
    export SLURM_CONF=$CONF
    start_daemons
    wait_for_node
    echo "SLURM_CONF=$CONF"
}

main "$@"
