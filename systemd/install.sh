#!/usr/bin/env bash
# systemd/install.sh: install shiftscribe on an edge box (Debian 12) from this checkout, as
# two systemd services: shiftscribe-kafka (the box's Kafka) and shiftscribe (the gateway).
# Idempotent: a second run changes nothing and says "unchanged" for every item.
# See docs/install.md.
set -euo pipefail

SRC=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
readonly UNITS=(shiftscribe-kafka.service shiftscribe.service)

usage() {
  cat <<'EOF'
usage: sudo systemd/install.sh [--root DIR] [--no-build | --build] [--no-start]

Installs from this checkout:
  /opt/shiftscribe                   dist/, production node_modules, models/*.gguf, Kafka jars
  /etc/systemd/system                shiftscribe.service, shiftscribe-kafka.service
  /etc/shiftscribe/gateway.yaml      from config/gateway.example.yaml, only if missing
  /etc/shiftscribe/kafka/server.properties   only if missing
  /etc/shiftscribe/credentials/http-token    generated (openssl rand -hex 24) if missing
  /etc/mosquitto/conf.d/shiftscribe.conf     if /etc/mosquitto/conf.d exists
then `systemctl daemon-reload` and `systemctl enable --now shiftscribe-kafka shiftscribe`
(when systemd runs this box; otherwise it prints what it would run).

  --root DIR   install below DIR instead of / (an image, a test); never calls systemctl
  --no-build   use dist/, node_modules/ and the Kafka jars as they are; never run npm,
               Maven or the model fetch
  --build      always run `npm ci && npm run build` first (default: only when dist/ or
               node_modules/ is missing or older than its sources)
  --no-start   enable the services but do not start or restart them
  -h, --help   this text
Environment: DESTDIR (same as --root), SHIFTSCRIBE_CACHE_DIR (where scripts/services keeps the Kafka jars, default
<checkout>/.cache), SHIFTSCRIBE_KAFKA_VERSION (default: kafka.version in scripts/kafka/pom.xml).
EOF
}

say() { printf '%s\n' "$*"; }
# One line per installed item: "unchanged  /path", "kept       /path (why)", …
item() { printf '%-10s %s\n' "$1" "${2#"$ROOT"}${3:+ $3}"; }
warn() { printf 'install: warning: %s\n' "$*" >&2; }
die() {
  printf 'install: error: %s\n' "$*" >&2
  exit 1
}

ROOT=${DESTDIR:-}
BUILD=auto
START=yes
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
    --no-build) BUILD=no && shift ;;
    --build) BUILD=yes && shift ;;
    --no-start) START=no && shift ;;
    -h | --help) usage && exit 0 ;;
    *)
      usage >&2
      die "unknown option '$1'"
      ;;
  esac
done

if [[ -n $ROOT ]]; then
  mkdir -p -- "$ROOT" || die "cannot create --root $ROOT"
  ROOT=$(cd -- "$ROOT" && pwd -P)
  [[ $ROOT != / ]] || ROOT=
fi
readonly ROOT BUILD START
if [[ -z $ROOT && $EUID -ne 0 ]]; then
  die "run as root (sudo systemd/install.sh), or install below a directory with --root DIR"
fi

readonly OPT=$ROOT/opt/shiftscribe
readonly ETC=$ROOT/etc/shiftscribe
readonly UNIT_DIR=$ROOT/etc/systemd/system
readonly MOSQUITTO_CONF_D=$ROOT/etc/mosquitto/conf.d
# What changed, to restart only the services whose files did.
changed_gateway=0
changed_kafka=0
changed_mosquitto=0

# ---------------------------------------------------------------------------------------
# Copying with "unchanged" / "installed" / "updated"

owner_args=()
[[ $EUID -ne 0 ]] || owner_args=(-o root -g root)

# install_file SRC DST MODE: copy unless DST already has the same bytes and mode.
# Returns 0 when it wrote DST, 1 when DST was unchanged.
install_file() {
  local src=$1 dst=$2 mode=$3 what=installed
  if [[ -f $dst ]]; then
    if cmp -s -- "$src" "$dst" && [[ $(stat -c %a -- "$dst") == "${mode#0}" ]]; then
      item unchanged "$dst"
      return 1
    fi
    what=updated
  fi
  install -D -m "$mode" "${owner_args[@]}" -- "$src" "$dst"
  item "$what" "$dst"
}

# install_new SRC DST MODE: copy only when DST does not exist (configuration the plant edits).
install_new() {
  local src=$1 dst=$2 mode=$3
  if [[ -e $dst ]]; then
    item kept "$dst" "(exists; never overwritten)"
    return 1
  fi
  install -D -m "$mode" "${owner_args[@]}" -- "$src" "$dst"
  item installed "$dst"
}

# install_tree SRC DST: make directory DST a copy of SRC (files root-owned, not writable by
# group or others), swapped in whole; nothing is touched when the contents are equal.
install_tree() {
  local src=$1 dst=$2 what=installed
  if [[ -d $dst ]]; then
    if diff -rq --no-dereference -- "$src" "$dst" >/dev/null 2>&1; then
      item unchanged "$dst/"
      return 1
    fi
    what=updated
  fi
  mkdir -p -- "$(dirname -- "$dst")"
  local new=$dst.new.$$ old=$dst.old.$$
  rm -rf -- "$new" "$old"
  cp -a -- "$src" "$new"
  [[ $EUID -ne 0 ]] || chown -R root:root -- "$new"
  chmod -R u+rwX,go=rX -- "$new"
  [[ ! -e $dst ]] || mv -- "$dst" "$old"
  mv -- "$new" "$dst"
  rm -rf -- "$old"
  item "$what" "$dst/"
}

ensure_dir() {
  local dir=$1 mode=$2
  if [[ -d $dir ]]; then
    [[ $(stat -c %a -- "$dir") == "${mode#0}" ]] || chmod "$mode" -- "$dir"
    return 0
  fi
  install -d -m "$mode" "${owner_args[@]}" -- "$dir"
  item created "$dir/"
}

# ---------------------------------------------------------------------------------------
# Prerequisites on the target

check_prerequisites() {
  local node=$ROOT/usr/bin/node java=$ROOT/usr/bin/java major
  if [[ -x $node ]]; then
    major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if ((major < 20)); then
      [[ -n $ROOT ]] || die "/usr/bin/node is Node $major; shiftscribe needs Node 20 or newer (NodeSource's nodejs 20, see docs/install.md)"
      warn "$node is Node $major; shiftscribe needs Node 20 or newer"
    fi
  elif [[ -z $ROOT ]]; then
    die "/usr/bin/node not found: install Node.js 20 (apt-get install nodejs) first; the unit runs /usr/bin/node"
  else
    say "note: $ROOT/usr/bin/node does not exist; the target needs Node.js 20 at /usr/bin/node"
  fi
  if [[ ! -x $java ]]; then
    if [[ -z $ROOT ]]; then
      warn "/usr/bin/java not found: shiftscribe-kafka cannot start until Java 17 is installed (apt-get install openjdk-17-jre-headless)"
    else
      say "note: $ROOT/usr/bin/java does not exist; the target needs Java 17 at /usr/bin/java"
    fi
  fi
  if [[ -z $ROOT && ! -x /usr/sbin/mosquitto ]]; then
    say "note: mosquitto is not installed here; the gateway expects the plant's broker at mqtt.url (apt-get install mosquitto for one on this box)"
  fi
}

# The node the unit will run (/usr/bin/node on the target), else the one on PATH.
target_node() {
  if [[ -x $ROOT/usr/bin/node ]]; then printf '%s' "$ROOT/usr/bin/node"; else printf 'node'; fi
}

# ---------------------------------------------------------------------------------------
# Build in the checkout (as the checkout's owner when run through sudo)

SRC_OWNER=$(stat -c %U -- "$SRC")
as_owner() {
  if [[ $EUID -eq 0 && $SRC_OWNER != root ]]; then
    local home
    home=$(getent passwd "$SRC_OWNER" | cut -d: -f6)
    runuser -u "$SRC_OWNER" -- env HOME="$home" "$@"
  else
    "$@"
  fi
}

dist_missing() { [[ ! -f $SRC/dist/cli/index.js ]]; }
dist_stale() {
  [[ -n $(find "$SRC/src" -name '*.ts' ! -name '*.test.ts' -newer "$SRC/dist/cli/index.js" -print -quit 2>/dev/null) ]]
}
modules_missing() { [[ ! -f $SRC/node_modules/.package-lock.json ]]; }
modules_stale() { [[ $SRC/package-lock.json -nt $SRC/node_modules/.package-lock.json ]]; }

build() {
  local ci=0 compile=0
  case $BUILD in
    yes) ci=1 compile=1 ;;
    auto)
      if modules_missing || modules_stale; then ci=1; fi
      if ((ci)) || dist_missing || dist_stale; then compile=1; fi
      ;;
    no)
      modules_missing && die "node_modules/ is missing in $SRC: run npm ci there, or drop --no-build"
      dist_missing && die "dist/ is missing in $SRC: run npm run build there, or drop --no-build"
      modules_stale && warn "node_modules/ is older than package-lock.json; installing it as it is (--no-build)"
      dist_stale && warn "dist/ is older than src/; installing it as it is (--no-build)"
      ;;
  esac
  command -v npm >/dev/null 2>&1 || ((ci + compile == 0)) || die "npm not found: install Node.js 20 with npm to build"
  if ((ci)); then
    say "building: npm ci in $SRC (as $SRC_OWNER)"
    (cd -- "$SRC" && as_owner env NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund)
  fi
  if ((compile)); then
    say "building: npm run build in $SRC (as $SRC_OWNER)"
    (cd -- "$SRC" && as_owner npm run build --silent)
  fi
  if [[ $BUILD == no ]]; then
    say "build: skipped (--no-build)"
  elif ((ci + compile == 0)); then
    say "build: dist/ and node_modules/ are current"
  fi
}

kafka_version() {
  if [[ -n ${SHIFTSCRIBE_KAFKA_VERSION:-} ]]; then
    printf '%s' "$SHIFTSCRIBE_KAFKA_VERSION"
    return
  fi
  sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$SRC/scripts/kafka/pom.xml" | head -n 1
}

kafka_libs() {
  local version libs
  version=$(kafka_version)
  [[ -n $version ]] || die "no <kafka.version> in scripts/kafka/pom.xml"
  libs=${SHIFTSCRIBE_CACHE_DIR:-$SRC/.cache}/kafka/$version/libs
  if [[ ! -f $libs/.complete ]]; then
    [[ $BUILD != no ]] || die "no Kafka $version jars in $libs: run scripts/services fetch (Maven), or drop --no-build"
    say "fetching Kafka $version jars: scripts/services fetch (as $SRC_OWNER)" >&2
    (cd -- "$SRC" && as_owner scripts/services fetch) >&2
  fi
  compgen -G "$libs/kafka_2.13-$version.jar" >/dev/null || die "$libs has no kafka_2.13-$version.jar"
  printf '%s' "$libs"
}

ensure_model() {
  compgen -G "$SRC/models/*.gguf" >/dev/null && return 0
  if [[ $BUILD == no ]]; then
    warn "no models/*.gguf in $SRC: narratives will use templates until a GGUF is in /opt/shiftscribe/models (scripts/fetch-model)"
    return 0
  fi
  say "fetching the default model: scripts/fetch-model (as $SRC_OWNER)"
  (cd -- "$SRC" && as_owner scripts/fetch-model)
}

# ---------------------------------------------------------------------------------------
# Stage /opt/shiftscribe in a temporary directory, then install what differs

STAGE=
cleanup() { [[ -z $STAGE ]] || rm -rf -- "$STAGE"; }
trap cleanup EXIT

stage_app() {
  local libs=$1
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/shiftscribe-install.XXXXXX")
  say "staging the production node_modules (npm prune --omit=dev) in $STAGE"
  cp -a -- "$SRC/dist" "$STAGE/dist"
  cp -- "$SRC/package.json" "$SRC/package-lock.json" "$STAGE/"
  cp -a -- "$SRC/node_modules" "$STAGE/node_modules"
  # --omit on the command line replaces .npmrc's omit=optional, so both are named. Offline:
  # pruning only removes packages.
  (cd -- "$STAGE" && npm prune --omit=dev --omit=optional --offline --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm prune --omit=dev failed in $STAGE"
  # Tool caches that dev runs write into node_modules (vitest's .vite, .vite-temp) are not
  # part of the app and would make every install look like an update.
  rm -rf -- "$STAGE/node_modules/.vite" "$STAGE/node_modules/.vite-temp" "$STAGE/node_modules/.cache"
  # The native addons the gateway loads must be built for the Node that runs the unit.
  (cd -- "$STAGE" && "$(target_node)" -e "require('better-sqlite3'); require('unix-dgram'); require.resolve('node-llama-cpp')") ||
    die "the staged node_modules cannot load its native addons (better-sqlite3, unix-dgram) with $(target_node): run npm rebuild in $SRC with that node"
  mkdir -p -- "$STAGE/kafka/libs" "$STAGE/kafka/bin" "$STAGE/kafka/config"
  cp -p -- "$libs"/*.jar "$STAGE/kafka/libs/"
}

install_app() {
  ensure_dir "$ROOT/opt" 0755
  ensure_dir "$OPT" 0755
  install_tree "$STAGE/dist" "$OPT/dist" && changed_gateway=1
  install_tree "$STAGE/node_modules" "$OPT/node_modules" && changed_gateway=1
  install_file "$STAGE/package.json" "$OPT/package.json" 0644 && changed_gateway=1
  install_file "$STAGE/package-lock.json" "$OPT/package-lock.json" 0644 && changed_gateway=1
  install_file "$SRC/docs/install.md" "$OPT/docs/install.md" 0644 || true
  local model
  ensure_dir "$OPT/models" 0755
  for model in "$SRC"/models/*.gguf; do
    [[ -f $model ]] || continue
    install_file "$model" "$OPT/models/$(basename -- "$model")" 0644 && changed_gateway=1
  done
  ensure_dir "$OPT/kafka" 0755
  install_tree "$STAGE/kafka/libs" "$OPT/kafka/libs" && changed_kafka=1
  install_file "$SRC/systemd/kafka/kafka-helper" "$OPT/kafka/bin/kafka-helper" 0755 && changed_kafka=1
  install_file "$SRC/systemd/kafka/log4j2.properties" "$OPT/kafka/config/log4j2.properties" 0644 && changed_kafka=1
  return 0
}

install_units() {
  ensure_dir "$UNIT_DIR" 0755
  install_file "$SRC/systemd/shiftscribe-kafka.service" "$UNIT_DIR/shiftscribe-kafka.service" 0644 && changed_kafka=1
  install_file "$SRC/systemd/shiftscribe.service" "$UNIT_DIR/shiftscribe.service" 0644 && changed_gateway=1
  return 0
}

# The example config with the two lines a systemd install needs: the state directory, and
# the http token from the credential that the unit loads.
render_gateway_config() {
  local out=$1
  sed -e 's|^dataDir: data$|dataDir: /var/lib/shiftscribe|' \
    -e 's|^  # tokenFile: /run/credentials/shiftscribe.service/http-token$|  tokenFile: /run/credentials/shiftscribe.service/http-token|' \
    "$SRC/config/gateway.example.yaml" >"$out"
  if ! grep -q '^dataDir: /var/lib/shiftscribe$' "$out" ||
    ! grep -q '^  tokenFile: /run/credentials/shiftscribe.service/http-token$' "$out"; then
    die "config/gateway.example.yaml no longer has the 'dataDir: data' and '  # tokenFile: …' lines that install.sh edits; update render_gateway_config"
  fi
}

install_config() {
  ensure_dir "$ETC" 0755
  render_gateway_config "$STAGE/gateway.yaml"
  install_new "$STAGE/gateway.yaml" "$ETC/gateway.yaml" 0644 || true
  ensure_dir "$ETC/kafka" 0755
  install_new "$SRC/systemd/kafka/server.properties" "$ETC/kafka/server.properties" 0644 || true

  # Secrets: root-only here; systemd hands a copy to the service (LoadCredential=).
  ensure_dir "$ETC/credentials" 0700
  local token=$ETC/credentials/http-token
  if [[ -s $token ]]; then
    item kept "$token" "(exists; never overwritten)"
  else
    (
      umask 077
      if command -v openssl >/dev/null 2>&1; then
        openssl rand -hex 24 >"$token.tmp"
      else
        od -An -vtx1 -N24 /dev/urandom | tr -d ' \n' >"$token.tmp" && echo >>"$token.tmp"
      fi
    )
    mv -f -- "$token.tmp" "$token"
    item created "$token" "(a new random bearer token for the page's regenerate button)"
  fi
}

install_mosquitto() {
  if [[ ! -d $MOSQUITTO_CONF_D ]]; then
    item skipped /etc/mosquitto/conf.d/shiftscribe.conf "(no /etc/mosquitto/conf.d: mosquitto is not installed here)"
    return 0
  fi
  install_file "$SRC/systemd/mosquitto/shiftscribe.conf" "$MOSQUITTO_CONF_D/shiftscribe.conf" 0644 && changed_mosquitto=1
  return 0
}

# Validate the installed config with the installed code (warnings are printed, errors stop
# the start: the gateway would exit 2 on them and systemd would not restart it).
check_config() {
  local node
  node=$(target_node)
  command -v "$node" >/dev/null 2>&1 || return 0
  say "checking ${ETC#"$ROOT"}/gateway.yaml"
  if ! (cd -- "$OPT" && "$node" dist/cli/index.js config check "$ETC/gateway.yaml"); then
    say "the config has errors: fix ${ETC#"$ROOT"}/gateway.yaml, then run this again (or systemctl restart shiftscribe)"
    return 1
  fi
}

run_systemctl() {
  if systemd_runs; then
    say "+ systemctl $*"
    systemctl "$@"
  else
    say "would run: systemctl $*"
  fi
}

systemd_runs() { [[ -z $ROOT && -d /run/systemd/system ]]; }

# Was UNIT running before this install? (Only those get restarted for changed files: one
# that `enable --now` starts fresh already runs the new files.)
was_active() { systemd_runs && systemctl is-active --quiet "$1"; }

activate() {
  local config_ok=$1 kafka_was=0 gateway_was=0 mosquitto_was=0
  if [[ -n $ROOT ]]; then
    say "below $ROOT: systemd is not told (--root). On the target, run:"
  elif ! systemd_runs; then
    say "systemd is not running on this machine (a container?): nothing is enabled or started."
  fi
  ! was_active shiftscribe-kafka.service || kafka_was=1
  ! was_active shiftscribe.service || gateway_was=1
  ! was_active mosquitto.service || mosquitto_was=1
  run_systemctl daemon-reload
  if [[ $START == no || $config_ok -ne 0 ]]; then
    run_systemctl enable "${UNITS[@]}"
    return 0
  fi
  run_systemctl enable --now "${UNITS[@]}"
  # An upgrade: what ran before with files that changed is restarted now.
  ((!kafka_was || !changed_kafka)) || run_systemctl restart shiftscribe-kafka.service
  ((!gateway_was || (!changed_gateway && !changed_kafka))) || run_systemctl restart shiftscribe.service
  ((!mosquitto_was || !changed_mosquitto)) || run_systemctl restart mosquitto.service
  return 0
}

main() {
  say "installing shiftscribe from $SRC into ${ROOT:-/}"
  check_prerequisites
  build
  ensure_model
  local libs
  libs=$(kafka_libs)
  stage_app "$libs"
  install_app
  install_units
  install_config
  install_mosquitto
  local config_ok=0
  check_config || config_ok=1
  activate "$config_ok"
  say "done. Next: edit /etc/shiftscribe/gateway.yaml (site, mqtt.subscriptions, shifts), then systemctl restart shiftscribe; see docs/install.md"
  return "$config_ok"
}

main
