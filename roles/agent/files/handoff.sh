# shellcheck shell=bash
# handoff.sh - the lockstep.handoff protocol (v1) for shell producers and consumers.
#
# Installed by the lockstep.handoff.agent role. It lets a script that copies a file and
# another script (or cron job) that moves it hand the file over safely: the mover only
# takes a file whose done marker says it is complete, checks it under a lock that
# lockstep.handoff.locked_move and flock(1) also take, and moves it exactly once.
#
# Use it as a library (bash 4.1 or later, GNU coreutils, util-linux flock):
#   . /usr/local/lib/lockstep-handoff/handoff.sh
#   handoff_publish SRC DEST [LOCK]   copy SRC (or - for stdin) to DEST by protocol v1
#   handoff_wait DEST [TIMEOUT]       wait until DEST's marker says complete and matches
#   handoff_move SRC DEST [LOCK]      under LOCK (default DEST.lock) re-check, mv, drop marker
#   handoff_promote_inbox INBOX DIR   handoff_move every marked file of INBOX into DIR
# or as a command: bash handoff.sh publish|wait|move|promote-inbox ARGS...
#
# Exit status: 0 done; 1 not done (timed out, not ready, lock busy, I/O error);
# 2 wrong usage; 3 the producer marked the file failed.
#
# Settings, from the environment:
#   HANDOFF_STATE_DIR         where markers and move locks live: empty (default) beside
#                             the data (NAME.done, NAME.lock); a relative name is a
#                             subdirectory of the file's own directory (e.g. .handoff);
#                             an absolute path is used as it is
#   HANDOFF_LOCK_TIMEOUT      seconds to wait for a lock (default 30; 0 fails at once)
#   HANDOFF_SLEEP             seconds between two looks of handoff_wait (default 1)
#   HANDOFF_SHA256            sha256 the published data must have (required for SRC -,
#                             where a cut-off stream would otherwise look complete)
#   HANDOFF_REQUIRE_CHECKSUM  1: refuse markers without a sha256 (empty legacy markers)
#   HANDOFF_PRODUCER          who publishes, recorded in the marker (handoff.sh@HOST)
#
# Do not call these functions while your own script holds a flock on the same lock
# file: a second open of it in one process waits for the first, for ever.

HANDOFF_PROTOCOL='lockstep.handoff/1'
HANDOFF_MAX_MARKER_BYTES=65536

# Print an error for function $1 on stderr.
_handoff_error() {
  local who=$1
  shift
  printf '%s: %s\n' "$who" "$*" >&2
}

# The directory part of PATH, as dirname(1) prints it, without starting a process.
_handoff_dirname() {
  local dir
  case $1 in
    */*) dir=${1%/*} ;;
    *) dir=. ;;
  esac
  printf '%s\n' "${dir:-/}"
}

# The marker (SUFFIX .done) or lock (SUFFIX .lock) path of FILE, after HANDOFF_STATE_DIR.
_handoff_state_path() {
  local file=$1 suffix=$2 dir name
  dir=$(_handoff_dirname "$file")
  name=${file##*/}
  case ${HANDOFF_STATE_DIR:-} in
    '') printf '%s%s\n' "$file" "$suffix" ;;
    /*) printf '%s/%s%s\n' "${HANDOFF_STATE_DIR%/}" "$name" "$suffix" ;;
    *) printf '%s/%s/%s%s\n' "$dir" "${HANDOFF_STATE_DIR%/}" "$name" "$suffix" ;;
  esac
}

# fsync each PATH (file or directory); flush everything where sync takes no operands.
_handoff_fsync() {
  sync -- "$@" 2>/dev/null || sync
}

# sha256 of FILE as 64 lowercase hex digits, read through stdin so no name is escaped.
_handoff_sha256() {
  local sum
  if command -v sha256sum >/dev/null 2>&1; then
    sum=$(sha256sum <"$1") || return 1
  else
    sum=$(shasum -a 256 <"$1") || return 1
  fi
  printf '%s\n' "${sum%% *}"
}

# Size of FILE in bytes.
_handoff_size() {
  local bytes
  bytes=$(wc -c <"$1") || return 1
  printf '%d\n' "$((bytes))"
}

# TEXT made safe inside a JSON string: control characters dropped, \ and " escaped.
_handoff_json_escape() {
  printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'
}

# The string value of "KEY" in the one-line JSON DOC, or nothing (also for escaped values).
_handoff_json_string() {
  printf '%s\n' "$1" | sed -n 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p'
}

# The non-negative integer value of "KEY" in the one-line JSON DOC, or nothing.
_handoff_json_number() {
  printf '%s\n' "$1" | sed -n 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p'
}

# Mode of a new file as cp or scp would create it: 0666 less the umask.
_handoff_new_file_mode() {
  printf '%04o\n' "$((0666 & ~0$(umask)))"
}

# Open LOCK (creating it 0664, never deleting it) on fd HANDOFF_LOCK_FD and take an
# exclusive flock within HANDOFF_LOCK_TIMEOUT seconds. Runs in the caller's subshell.
_handoff_lock() {
  local who=$1 lock=$2 timeout=${HANDOFF_LOCK_TIMEOUT:-30}
  if [ -L "$lock" ]; then
    _handoff_error "$who" "lock $lock is a symlink; a lock must be a plain file or a directory"
    return 2
  fi
  mkdir -p -- "$(_handoff_dirname "$lock")" || return 1
  if [ ! -e "$lock" ]; then
    (umask 0002 && : >>"$lock") || return 1
  fi
  exec {HANDOFF_LOCK_FD}<"$lock" || return 1
  if ! flock -w "$timeout" "$HANDOFF_LOCK_FD"; then
    _handoff_error "$who" "lock $lock is held by another process; waited HANDOFF_LOCK_TIMEOUT=${timeout}s (see lslocks)"
    return 1
  fi
}

# _handoff_arity WHO MIN MAX COUNT USAGE: fail with status 2 and the usage line unless
# MIN <= COUNT <= MAX.
_handoff_arity() {
  if [ "$4" -lt "$2" ] || [ "$4" -gt "$3" ]; then
    _handoff_error "$1" "usage: $5"
    return 2
  fi
}

# Create an empty temp file for TARGET beside it and print its path. The name is the one the
# modules use, .NAME.<12 hex digits>.tmp, so their leftover-temp reports and
# remove_temps_older_than see handoff.sh's leftovers too; noclobber makes creation exclusive.
_handoff_temp() {
  local target=$1 dir hex tmp tries
  dir=$(_handoff_dirname "$target")
  for tries in 1 2 3 4 5; do
    hex=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n') || return 1
    tmp="$dir/.${target##*/}.$hex.tmp"
    [ -e "$tmp" ] && continue
    (set -C && : >"$tmp") || return 1
    printf '%s\n' "$tmp"
    return 0
  done
  _handoff_error handoff.sh "no free temp name beside $target after $tries random names"
  return 1
}

# Write DATA's complete marker (temp, fsync, rename, fsync dir): SIZE and SHA256 describe DATA.
_handoff_write_marker() {
  local data=$1 size=$2 sha256=$3 marker dir tmp producer
  marker=$(_handoff_state_path "$data" .done)
  dir=$(_handoff_dirname "$marker")
  mkdir -p -- "$dir" || return 1
  producer=$(_handoff_json_escape "${HANDOFF_PRODUCER:-handoff.sh@$(uname -n)}")
  tmp=$(_handoff_temp "$marker") || return 1
  if printf '{"protocol":"%s","state":"complete","size":%d,"sha256":"%s","written_at":"%s","producer":"%s"}\n' \
      "$HANDOFF_PROTOCOL" "$size" "$sha256" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$producer" >"$tmp" &&
    chmod 0644 -- "$tmp" && _handoff_fsync "$tmp" && mv -f -T -- "$tmp" "$marker"; then
    _handoff_fsync "$dir"
    return 0
  fi
  rm -f -- "$tmp"
  return 1
}

# Judge DATA against MARKER once. Prints why it is not ready; returns 0 ready,
# 1 not ready (yet), 3 the producer marked it failed.
_handoff_judge() {
  local data=$1 marker=$2 doc protocol state size sha256
  if [ -L "$marker" ] || { [ -e "$marker" ] && [ ! -f "$marker" ]; }; then
    echo "marker $marker is not a regular file (a symlink, directory or FIFO)"
    return 1
  fi
  if [ ! -e "$marker" ]; then
    if [ -e "$data" ]; then
      echo "data file $data exists but its marker $marker does not: the producer is still writing, or stopped before marking it complete"
    else
      echo "neither the data file $data nor its marker $marker exists yet"
    fi
    return 1
  fi
  if ! doc=$(head -c "$((HANDOFF_MAX_MARKER_BYTES + 1))" -- "$marker" 2>/dev/null | tr '\n\r\t' '   '); then
    echo "marker $marker vanished or cannot be read"
    return 1
  fi
  if [ "${#doc}" -gt "$HANDOFF_MAX_MARKER_BYTES" ]; then
    echo "marker $marker is larger than $HANDOFF_MAX_MARKER_BYTES bytes; not a protocol v1 marker"
    return 1
  fi
  if [ -L "$data" ] || [ ! -f "$data" ]; then
    echo "marker $marker exists but the data file $data does not (or is not a regular file)"
    return 1
  fi
  if [ -z "${doc//[[:space:]]/}" ]; then
    if [ "${HANDOFF_REQUIRE_CHECKSUM:-0}" = 1 ]; then
      echo "marker $marker is empty (a legacy touch marker, no sha256) and HANDOFF_REQUIRE_CHECKSUM=1"
      return 1
    fi
    return 0
  fi
  protocol=$(_handoff_json_string "$doc" protocol)
  if [ "$protocol" != "$HANDOFF_PROTOCOL" ]; then
    echo "marker $marker: protocol is '$protocol'; expected '$HANDOFF_PROTOCOL' (neither empty nor a v1 marker)"
    return 1
  fi
  state=$(_handoff_json_string "$doc" state)
  if [ "$state" = failed ]; then
    echo "the producer marked $data failed: $(_handoff_json_string "$doc" reason) (marker $marker)"
    return 3
  fi
  if [ "$state" != complete ]; then
    echo "marker $marker: state is '$state'; expected 'complete' or 'failed'"
    return 1
  fi
  size=$(_handoff_json_number "$doc" size)
  if [ -n "$size" ] && [ "$size" != "$(_handoff_size "$data")" ]; then
    echo "size mismatch: marker $marker says $size bytes, data file $data has $(_handoff_size "$data")"
    return 1
  fi
  sha256=$(_handoff_json_string "$doc" sha256)
  if [ -z "$sha256" ] && [ "${HANDOFF_REQUIRE_CHECKSUM:-0}" = 1 ]; then
    echo "marker $marker has no sha256 and HANDOFF_REQUIRE_CHECKSUM=1"
    return 1
  fi
  if [ -n "$sha256" ] && [ "$sha256" != "$(_handoff_sha256 "$data")" ]; then
    echo "checksum mismatch: marker $marker says sha256 $sha256, data file $data differs"
    return 1
  fi
  return 0
}

# handoff_publish SRC DEST [LOCK]: SRC (a file, or - for stdin) goes to a temp file in
# DEST's directory, is fsynced and hashed, gets the mode of the DEST it replaces, is renamed
# onto DEST, the directory fsynced, and only then DEST's marker is written the same way.
# With LOCK, DEST and its marker are replaced under that flock (give it your movers' LOCK).
handoff_publish() (
  LC_ALL=C
  set -o pipefail
  _handoff_arity handoff_publish 2 3 $# "handoff_publish SRC DEST [LOCK]" || exit
  src=$1 dest=$2 lock=${3:-}
  dir=$(_handoff_dirname "$dest")
  if [ "$src" = - ] && [ -z "${HANDOFF_SHA256:-}" ]; then
    _handoff_error handoff_publish "SRC - (stdin) needs HANDOFF_SHA256: a cut-off stream would look complete"
    exit 2
  fi
  if [ -d "$dest" ]; then
    _handoff_error handoff_publish "dest $dest is a directory; give the full path of the file"
    exit 2
  fi
  if [ ! -d "$dir" ]; then
    _handoff_error handoff_publish "directory $dir of dest $dest does not exist; create it first"
    exit 1
  fi
  tmp=$(_handoff_temp "$dest") || exit 1
  trap '[ -z "$tmp" ] || rm -f -- "$tmp"' EXIT
  trap 'exit 1' HUP INT TERM
  if [ "$src" = - ]; then
    cat >"$tmp" || exit 1
  else
    cat -- "$src" >"$tmp" || exit 1
  fi
  _handoff_fsync "$tmp" || exit 1
  sha256=$(_handoff_sha256 "$tmp") || exit 1
  size=$(_handoff_size "$tmp") || exit 1
  if [ -n "${HANDOFF_SHA256:-}" ] && [ "$sha256" != "$HANDOFF_SHA256" ]; then
    _handoff_error handoff_publish "checksum mismatch: expected sha256 $HANDOFF_SHA256, read $sha256 ($size bytes); $dest was not touched"
    exit 1
  fi
  # The mode of the file it replaces, or what cp would give a new file: never wider by surprise.
  if [ -f "$dest" ] && [ ! -L "$dest" ]; then
    chmod --reference="$dest" -- "$tmp" || exit 1
  else
    chmod "$(_handoff_new_file_mode)" -- "$tmp" || exit 1
  fi
  if [ -n "$lock" ]; then
    _handoff_lock handoff_publish "$lock" || exit
  fi
  marker=$(_handoff_state_path "$dest" .done)
  rm -f -- "$marker" || exit 1
  mv -f -T -- "$tmp" "$dest" || exit 1
  tmp=
  _handoff_fsync "$dir" || exit 1
  _handoff_write_marker "$dest" "$size" "$sha256" || exit 1
)

# handoff_wait DEST [TIMEOUT]: wait up to TIMEOUT seconds (default 300; 0 looks once)
# until DEST's marker is complete and its size and sha256 match DEST. An empty marker
# (touch DEST.done) counts as complete without checksum.
handoff_wait() (
  LC_ALL=C
  set -o pipefail
  _handoff_arity handoff_wait 1 2 $# "handoff_wait DEST [TIMEOUT]" || exit
  dest=$1 timeout=${2:-300}
  case $timeout in
    '' | *[!0-9]*)
      _handoff_error handoff_wait "TIMEOUT is '$timeout'; expected whole seconds (0 looks once)"
      exit 2
      ;;
  esac
  marker=$(_handoff_state_path "$dest" .done)
  deadline=$(($(date +%s) + timeout))
  while :; do
    reason=$(_handoff_judge "$dest" "$marker")
    verdict=$?
    if [ "$verdict" -eq 0 ]; then
      exit 0
    fi
    if [ "$verdict" -eq 3 ]; then
      _handoff_error handoff_wait "$reason"
      exit 3
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      _handoff_error handoff_wait "timed out after ${timeout}s waiting for $marker: $reason"
      exit 1
    fi
    sleep "${HANDOFF_SLEEP:-1}"
  done
)

# Move SRC onto DEST in DEST's directory across filesystems: copy to a temp beside DEST,
# check SHA256 when given, fsync, rename, fsync, and only then remove SRC.
_handoff_copy_across() {
  local src=$1 dest=$2 sha256=$3 dir tmp
  dir=$(_handoff_dirname "$dest")
  tmp=$(_handoff_temp "$dest") || return 1
  if cat -- "$src" >"$tmp" && chmod --reference="$src" -- "$tmp" && _handoff_fsync "$tmp" &&
    { [ -z "$sha256" ] || [ "$(_handoff_sha256 "$tmp")" = "$sha256" ]; } &&
    mv -f -T -- "$tmp" "$dest"; then
    _handoff_fsync "$dir" && rm -f -- "$src" && _handoff_fsync "$(_handoff_dirname "$src")"
    return
  fi
  rm -f -- "$tmp"
  return 1
}

# handoff_move SRC DEST [LOCK]: take LOCK (default DEST.lock, as locked_move), judge SRC's
# marker and checksum again under it, move SRC onto DEST, remove the marker, release.
# Exactly once: when SRC is gone and DEST is there, another mover won; that is success.
handoff_move() (
  LC_ALL=C
  set -o pipefail
  _handoff_arity handoff_move 2 3 $# "handoff_move SRC DEST [LOCK]" || exit
  src=$1 dest=$2
  lock=${3:-$(_handoff_state_path "$dest" .lock)}
  marker=$(_handoff_state_path "$src" .done)
  if [ -d "$dest" ]; then
    _handoff_error handoff_move "dest $dest is a directory; give the full path of the file"
    exit 2
  fi
  if [ ! -d "$(_handoff_dirname "$dest")" ]; then
    _handoff_error handoff_move "directory $(_handoff_dirname "$dest") of dest $dest does not exist; create it first"
    exit 1
  fi
  _handoff_lock handoff_move "$lock" || exit
  if [ ! -e "$src" ] && [ ! -L "$src" ]; then
    if [ -f "$dest" ]; then
      sha256=$(_handoff_json_string "$(head -c "$HANDOFF_MAX_MARKER_BYTES" -- "$marker" 2>/dev/null | tr '\n\r\t' '   ')" sha256)
      if [ -n "$sha256" ] && [ "$sha256" = "$(_handoff_sha256 "$dest")" ]; then
        rm -f -- "$marker" && _handoff_fsync "$(_handoff_dirname "$marker")"
        echo "handoff_move: completed an interrupted move: $src was already at $dest, its marker is removed"
      else
        echo "handoff_move: already moved: $src is absent and $dest is in place"
      fi
      exit 0
    fi
    _handoff_error handoff_move "src $src does not exist, and dest $dest does not either: nothing to move"
    exit 1
  fi
  reason=$(_handoff_judge "$src" "$marker")
  verdict=$?
  if [ "$verdict" -ne 0 ]; then
    _handoff_error handoff_move "not moving $src: $reason"
    exit "$verdict"
  fi
  if [ "$(stat -c %d -- "$src")" = "$(stat -c %d -- "$(_handoff_dirname "$dest")")" ]; then
    mv -f -T -- "$src" "$dest" || exit 1
    _handoff_fsync "$(_handoff_dirname "$dest")" "$(_handoff_dirname "$src")" || exit 1
  else
    sha256=$(_handoff_json_string "$(head -c "$HANDOFF_MAX_MARKER_BYTES" -- "$marker" | tr '\n\r\t' '   ')" sha256)
    _handoff_copy_across "$src" "$dest" "$sha256" || exit 1
  fi
  rm -f -- "$marker" || exit 1
  _handoff_fsync "$(_handoff_dirname "$marker")" || exit 1
  echo "handoff_move: moved $src to $dest"
)

# handoff_promote_inbox INBOX DIR: handoff_move each file of INBOX whose marker exists to
# DIR/NAME (lock DIR/NAME.lock, or per HANDOFF_STATE_DIR). Files without a marker are left
# for the next run; dot files (temps), *.done and *.lock are never taken. For cron.
handoff_promote_inbox() (
  LC_ALL=C
  set -o pipefail
  if [ $# -ne 2 ]; then
    _handoff_error handoff_promote_inbox "usage: handoff_promote_inbox INBOX DIR"
    exit 2
  fi
  inbox=${1%/} target=${2%/} status=0
  for src in "$inbox"/*; do
    case ${src##*/} in
      *.done | *.lock) continue ;;
    esac
    if [ -L "$src" ] || [ ! -f "$src" ] || [ ! -e "$(_handoff_state_path "$src" .done)" ]; then
      continue
    fi
    handoff_move "$src" "$target/${src##*/}" || status=1
  done
  exit "$status"
)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    publish | wait | move | promote-inbox)
      action=${1//-/_}
      shift
      "handoff_$action" "$@"
      exit
      ;;
    *)
      echo "usage: bash ${0##*/} publish|wait|move|promote-inbox ARGS... (see the comments at its top)" >&2
      exit 2
      ;;
  esac
fi
