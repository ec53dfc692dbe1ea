#!/usr/bin/env bash
# systemd/uninstall.sh: remove what systemd/install.sh installed. Keeps the configuration
# (/etc/shiftscribe, with the credentials and drop-ins) and the data (the journal, the state
# database, the local Kafka's logs) unless --purge. Safe to run twice. See docs/install.md.
set -euo pipefail

readonly UNITS=(shiftscribe.service shiftscribe-kafka.service)

usage() {
  cat <<'EOF'
usage: sudo systemd/uninstall.sh [--root DIR] [--purge]

Stops and disables shiftscribe and shiftscribe-kafka (when systemd runs this box), then removes
  /etc/systemd/system/shiftscribe.service, shiftscribe-kafka.service
  /opt/shiftscribe                          (code, node_modules, models, Kafka jars)
  /etc/mosquitto/conf.d/shiftscribe.conf    (and restarts mosquitto if it runs)
and keeps, unless --purge:
  /etc/shiftscribe                          gateway.yaml, kafka/server.properties, credentials/
  /etc/systemd/system/shiftscribe*.service.d   drop-ins made with systemctl edit
  /var/lib/shiftscribe, /var/lib/shiftscribe-kafka   (DynamicUser: /var/lib/private/…)

  --root DIR   uninstall below DIR instead of / (never calls systemctl)
  --purge      also delete the configuration, the secrets and ALL DATA (journal, state
               database, the local Kafka's topics): what was not forwarded yet is lost
  -h, --help   this text
EOF
}

say() { printf '%s\n' "$*"; }
die() {
  printf 'uninstall: error: %s\n' "$*" >&2
  exit 1
}

ROOT=${DESTDIR:-}
PURGE=no
while (($# > 0)); do
  case $1 in
    --root)
      (($# >= 2)) || die "--root needs a directory"
      ROOT=$2
      shift 2
      ;;
    --root=*)
      ROOT=${1#--root=}
      shift
      ;;
    --purge) PURGE=yes && shift ;;
    -h | --help) usage && exit 0 ;;
    *)
      usage >&2
      die "unknown option '$1'"
      ;;
  esac
done

if [[ -n $ROOT ]]; then
  [[ -d $ROOT ]] || die "--root $ROOT is not a directory"
  ROOT=$(cd -- "$ROOT" && pwd -P)
  [[ $ROOT != / ]] || ROOT=
fi
readonly ROOT PURGE
if [[ -z $ROOT && $EUID -ne 0 ]]; then
  die "run as root (sudo systemd/uninstall.sh), or use --root DIR"
fi

systemd_runs() { [[ -z $ROOT && -d /run/systemd/system ]]; }

run_systemctl() {
  if systemd_runs; then
    say "+ systemctl $*"
    systemctl "$@" || say "(systemctl $* failed; continuing)"
  else
    say "would run: systemctl $*"
  fi
}

# remove PATH: delete a file, link or directory tree below ROOT, saying what happened.
remove() {
  local path=$1
  [[ -n ${path#"$ROOT"} && ${path#"$ROOT"} != / ]] || die "refusing to remove '$path'"
  if [[ -e $path || -L $path ]]; then
    rm -rf -- "$path"
    say "removed    ${path#"$ROOT"}"
  else
    say "absent     ${path#"$ROOT"}"
  fi
}

main() {
  say "uninstalling shiftscribe from ${ROOT:-/}"
  if [[ -n $ROOT ]]; then
    say "below $ROOT: systemd is not told (--root). On the target that would be:"
  elif ! systemd_runs; then
    say "systemd is not running on this machine: no service to stop."
  fi
  run_systemctl disable --now "${UNITS[@]}"

  local unit
  for unit in "${UNITS[@]}"; do
    remove "$ROOT/etc/systemd/system/$unit"
  done
  remove "$ROOT/opt/shiftscribe"
  local dropin=$ROOT/etc/mosquitto/conf.d/shiftscribe.conf
  local had_dropin=0
  [[ ! -e $dropin ]] || had_dropin=1
  remove "$dropin"

  if [[ $PURGE == yes ]]; then
    for unit in "${UNITS[@]}"; do
      remove "$ROOT/etc/systemd/system/$unit.d"
    done
    remove "$ROOT/etc/shiftscribe"
    # DynamicUser keeps the data in /var/lib/private/<name>, with /var/lib/<name> a link.
    local name
    for name in shiftscribe shiftscribe-kafka; do
      remove "$ROOT/var/lib/$name"
      remove "$ROOT/var/lib/private/$name"
    done
  else
    say "kept       /etc/shiftscribe (config, credentials), drop-ins, /var/lib/shiftscribe and /var/lib/shiftscribe-kafka (data); --purge deletes them"
  fi

  run_systemctl daemon-reload
  if ((had_dropin)) && systemd_runs; then
    run_systemctl try-restart mosquitto.service
  fi
  say "done."
}

main
