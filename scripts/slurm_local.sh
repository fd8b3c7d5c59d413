#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (127.0.0.1) for testing the SLURM profile.
#
# Usage (as root):
#   scripts/slurm_local.sh install   apt-get install slurmctld slurmd slurm-client munge
#   scripts/slurm_local.sh config    write /etc/slurm/slurm.conf and a munge key if missing
#   scripts/slurm_local.sh start     start munged, slurmctld and slurmd; wait until the node is idle
#   scripts/slurm_local.sh stop      stop the three daemons (by their PID files)
#
# The SLURM executor drops SLURM_CONF for the srun inside each job, so the configuration must
# live at /etc/slurm/slurm.conf. Without cgroups in a container, process tracking is
# proctrack/linuxproc and task/none; there is no slurmdbd (no accounting), so Snakemake needs
# --slurm-status-command squeue; MinJobAge keeps finished jobs visible to squeue/scontrol.
# Every wait is bounded (S1FLOW_SLURM_WAIT seconds, default 60).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
RUN=/run/s1flow-slurm
WAIT="${S1FLOW_SLURM_WAIT:-60}"
PARTITION="${S1FLOW_SLURM_TEST_PARTITION:-debug}"

install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    fi
}

config() {
    local host cpus mem
    host="$(hostname -s)"
    cpus="$(nproc)"
    # a little below the machine's memory, in MB
    mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN" /etc/munge /var/log/munge \
        /var/lib/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge 2>/dev/null || true
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    cat > "$CONF" <<EOF
# one-node test cluster written by scripts/slurm_local.sh
ClusterName=s1flow
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

wait_for() {  # wait_for DESCRIPTION COMMAND...: poll until COMMAND succeeds, at most $WAIT s
    local what="$1"; shift
    local deadline=$((SECONDS + WAIT))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "slurm_local.sh: timed out after ${WAIT}s waiting for $what" >&2
            tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 2>/dev/null || true
            return 1
        fi
        sleep 1
    done
}

node_idle() {
    sinfo -h -N -o '%t' | grep -Eq '^(idle|mix|alloc)'
}

start() {
    [ -s "$CONF" ] || config
    if ! pgrep -x munged >/dev/null; then
        # munged refuses to run as root unless forced; it writes its own PID file
        runuser -u munge -- munged 2>/dev/null || munged --force
    fi
    wait_for munged bash -c 'munge -n | unmunge'
    if ! pgrep -x slurmctld >/dev/null; then slurmctld -c -f "$CONF"; fi
    wait_for slurmctld scontrol ping
    if ! pgrep -x slurmd >/dev/null; then slurmd -f "$CONF"; fi
    wait_for "the node to become idle" node_idle
    sinfo
}

stop_pid() {  # stop_pid PIDFILE: TERM, then KILL after 10 s
    local pid
    if [ -s "$1" ]; then
        pid="$(cat "$1")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
}

stop() {
    stop_pid "$RUN/slurmd.pid"
    stop_pid "$RUN/slurmctld.pid"
    stop_pid /run/munge/munged.pid
}

case "${1:-}" in
    install) install ;;
    config) config ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|config|start|stop" >&2; exit 2 ;;
esac
