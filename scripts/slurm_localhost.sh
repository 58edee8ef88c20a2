#!/usr/bin/env bash
# Start (or stop) a single-node SLURM cluster on this machine, for testing the workflow's
# SLURM profile. Needs root and Debian's slurm-wlm + munge (scripts/setup.sh installs them
# when run as root). Accounting is off, so job status comes from squeue.
#
#   bash scripts/slurm_localhost.sh start
#   bash scripts/slurm_localhost.sh stop
set -euo pipefail
STATE=${SLURM_LOCAL_STATE:-/tmp/microdualnet-slurm}
# Job steps (srun inside sbatch) read the default location, so the config goes there;
# a slurm.conf that this script did not write is never replaced.
CONF=/etc/slurm/slurm.conf
MARK="# written by microdualnet scripts/slurm_localhost.sh"

stop() {
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  sleep 1
}

start() {
  command -v slurmctld >/dev/null || { echo "slurmctld not found: apt-get install slurm-wlm munge" >&2; exit 1; }
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    echo "$CONF exists and belongs to a real cluster; not touching it" >&2
    exit 1
  fi
  stop
  rm -rf "$STATE"  # a fresh controller state: no jobs left over from an earlier run
  mkdir -p "$STATE"/{spool,ctld,log} /etc/slurm
  local cpus mem host
  cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  host=localhost
  cat > "$CONF" <<CONF
$MARK
ClusterName=microdualnet-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  if ! pgrep -x munged >/dev/null; then
    [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create >/dev/null 2>&1 || true
    mkdir -p /run/munge && chown -R root /run/munge /etc/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    /usr/sbin/munged --force >/dev/null 2>&1
  fi
  slurmctld -f "$CONF"
  slurmd -f "$CONF" -N "$host"
  for _ in $(seq 1 30); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^idle'; then
      echo "single-node SLURM cluster up ($CONF)"
      return 0
    fi
    sleep 1
  done
  echo "SLURM did not come up; logs in $STATE/log" >&2
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
