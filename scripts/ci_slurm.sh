#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for the console's Slurm executor tests: installs slurm-wlm and munge from the
# OS packages when missing, writes a slurm.conf for this one machine under SLURM_DIR, starts munged, slurmctld and
# slurmd, waits until the node is idle and prints the config's path, e.g.
#   export SLURM_CONF=$(bash scripts/ci_slurm.sh)
# Everything else goes to stderr. Stop it with: bash scripts/ci_slurm.sh stop
# Process tracking is proctrack/linuxproc (no cgroups: a CI container seldom delegates them); jobs run as the user
# who submits them. Environment: SLURM_DIR (default /tmp/llmtuner-ci-slurm), SLURM_CTLD_PORT (default 46817),
# SLURM_D_PORT (default 46818).
set -euo pipefail
DIR=${SLURM_DIR:-/tmp/llmtuner-ci-slurm}
CTLD_PORT=${SLURM_CTLD_PORT:-46817}
D_PORT=${SLURM_D_PORT:-46818}
CONF=$DIR/slurm.conf
log() { echo "[ci_slurm] $*" >&2; }

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$DIR/$name.pid" ]; then kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true; rm -f "$DIR/$name.pid"; fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  log "starting slurmd needs root (it runs jobs as their users): run as root, or start your own cluster and set SLURM_CONF"
  exit 1
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  log "installing slurm-wlm and munge from the OS packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq slurm-wlm munge >&2
fi

mkdir -p "$DIR"/{state,spool,munge}
chmod 700 "$DIR/munge"
if [ ! -s "$DIR/munge/munge.key" ]; then
  dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$DIR/munge/munge.key"
fi
# munge's own socket and state live in the throwaway folder, so a machine's own munge (if any) is left alone
MUNGE_SOCKET=$DIR/munge/munge.socket
if [ ! -S "$MUNGE_SOCKET" ] || ! munge -n -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
  munged --force --key-file "$DIR/munge/munge.key" --socket "$MUNGE_SOCKET" --pid-file "$DIR/munged.pid" \
    --log-file "$DIR/munge/munged.log" --seed-file "$DIR/munge/munged.seed" >&2
fi

NODE=$(hostname -s)
CPUS=$(nproc)
MEMORY_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$CONF" <<EOF
ClusterName=llmtuner-ci
SlurmctldHost=$NODE
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=10
SlurmctldTimeout=30
SlurmdTimeout=60
MinJobAge=300
NodeName=$NODE CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF=$CONF

if ! scontrol ping 2>/dev/null | grep -q UP; then
  log "starting slurmctld on port $CTLD_PORT"
  slurmctld -c -f "$CONF" >&2  # -c: a clean start, no jobs from an earlier run
fi
if [ ! -f "$DIR/slurmd.pid" ] || ! kill -0 "$(cat "$DIR/slurmd.pid")" 2>/dev/null; then
  log "starting slurmd for node $NODE ($CPUS CPUs)"
  slurmd -f "$CONF" >&2
fi
for _ in $(seq 60); do
  state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
  case "$state" in
    idle*|mixed*|allocated*) echo "$CONF"; exit 0 ;;
  esac
  sleep 1
done
log "the node did not become idle in 60 s (state: ${state:-none}); see $DIR/slurmctld.log and $DIR/slurmd.log"
exit 1
