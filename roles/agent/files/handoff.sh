# shellcheck shell=bash
# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# handoff.sh - the lockstep.handoff protocol (v1) for shell producers and consumers.
#
# Installed by the lockstep.handoff.agent role. It lets a script that copies a file and
# another script (or cron job) that moves it hand the file over safely: the mover only
# takes a file whose done marker says it is complete, checks it under a lock that
# lockstep.handoff.locked_move and flock(1) also take, and moves it exactly once.
#
# Use it as a library (bash 4.1 or later, GNU coreutils, util-linux flock, Linux /proc):
#   . /usr/local/lib/lockstep-handoff/handoff.sh
#   handoff_publish SRC DEST [LOCK]   copy SRC (or - for stdin) to DEST by protocol v1
#   handoff_wait DEST [TIMEOUT]       wait until DEST's marker says complete and matches
#   handoff_move SRC DEST [LOCK]      under LOCK (default DEST.lock) re-check, mv, drop marker
#   handoff_promote_inbox INBOX DIR   handoff_move every marked file of INBOX into DIR
# or as a command: bash handoff.sh publish|wait|move|promote-inbox ARGS...
#
# Exit status: 0 done; 1 not done (timed out, not ready, lock busy, I/O error, a file
# replaced by someone else); 2 wrong usage; 3 the producer marked the file failed.
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
# Other users who can write the hand-off directories (a group inbox, /tmp) can at most make
# a call fail: every directory is entered once and then named through /dev/fd/N, which
# follows the directory and not its name; temps are created exclusively (noclobber, a
# random name) with their mode set by the umask, written through the descriptor that
# created them, and checked to be the same inode just before and after each rename;
# markers and data are read only when they are regular files, with O_NOFOLLOW|O_NONBLOCK
# (dd), so a symlink or FIFO planted there is refused instead of followed or waited on.
# What bash cannot do: open the lock without following a symlink or waiting on a FIFO,
# so the lock is checked to be a regular file first and a watchdog ends an open that
# still blocks; and a file replaced and put back between two checks (the same inode both
# times) is taken as it is. Markers get the data's read and write bits, never more.
#
# Do not call these functions while your own script holds a flock on the same lock
# file: a second open of it in one process waits for the first, for ever.

HANDOFF_PROTOCOL='lockstep.handoff/1'
HANDOFF_MAX_MARKER_BYTES=65536
# Python's json refuses an integer of more digits (its int limit); so does this reader.
HANDOFF_MAX_INT_DIGITS=4300

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

# The marker (SUFFIX .done) or lock (SUFFIX .lock) path of FILE, after HANDOFF_STATE_DIR:
# the modules' state_dir rule (plugins/module_utils/_protocol/names.py), byte for byte -
# FILE's directory as Python's os.path.dirname gives it, joined as os.path.join joins.
_handoff_state_path() {
  local file=$1 suffix=$2 state=${HANDOFF_STATE_DIR:-} dir name
  if [ -z "$state" ]; then
    printf '%s%s\n' "$file" "$suffix"
    return
  fi
  name=${file##*/}
  dir=${file%"$name"}
  case $dir in
    *[!/]*) dir=${dir%"${dir##*[!/]}"} ;;
  esac
  case $state in
    /*) dir=$state ;;
    *) case $dir in
         '' | */) dir=$dir$state ;;
         *) dir=$dir/$state ;;
       esac ;;
  esac
  case $dir in
    */) printf '%s%s%s\n' "$dir" "$name" "$suffix" ;;
    *) printf '%s/%s%s\n' "$dir" "$name" "$suffix" ;;
  esac
}

# Whether an inbox entry NAME is the protocol's own - a dot file (temps), marker, lock or
# temp - and never data to take (is_protocol_name in names.py).
_handoff_protocol_name() {
  case $1 in
    .* | *.done | *.lock | *.tmp) return 0 ;;
  esac
  return 1
}

# Set HANDOFF_TEMP to a fresh temp path for NAME in DIR: .NAME.<12 hex digits>.tmp, the
# name the modules use (temp_name in names.py), so their leftover-temp reports and
# remove_temps_older_than see handoff.sh's leftovers too.
_handoff_temp_path() {
  local hex
  hex=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n') || return 1
  HANDOFF_TEMP="$1/.$2.$hex.tmp"
}

# fsync each PATH (file or directory); flush everything where sync takes no operands.
_handoff_fsync() {
  sync -- "$@" 2>/dev/null || sync
}

# Fail with a message unless /dev/fd/N names open files (Linux /proc): handoff.sh names
# directories and temps through their descriptors, and without that it would have to
# use names that another user of the directory can replace.
_handoff_require_dev_fd() {
  if [ ! -d /proc/self/fd ] || [ ! -d /dev/fd/ ]; then
    _handoff_error "$1" "/dev/fd is missing (mount /proc): without it handoff.sh would write through names another user could replace, so it refuses"
    return 2
  fi
}

# Set variable VAR to /dev/fd/N, a descriptor on directory DIR: later commands that name
# files as VAR/NAME reach that directory even if its name is replaced. The directory is
# entered with cd (which never waits on a FIFO) and "." opened, then the old cwd restored.
_handoff_open_dir() {
  local var=$1 dir=$2 back fd CDPATH=
  exec {back}<. || return 1
  if cd -P -- "$dir" 2>/dev/null; then
    exec {fd}<. || fd=
  fi
  cd -P -- "/dev/fd/$back" || return 1
  exec {back}<&-
  [ -n "${fd:-}" ] || return 1
  printf -v "$var" '/dev/fd/%s' "$fd"
}

# Set VAR to a descriptor path on the subdirectory SUB of the directory at descriptor path
# PARENT, creating missing components when CREATE is 1. Each component must be a real
# directory (not a symlink) and is checked to be the same inode after entering it.
_handoff_open_subdir() {
  local var=$1 parent=$2 sub=$3 create=$4 part id here
  here=$parent
  local IFS=/
  for part in $sub; do
    case $part in
      '' | .) continue ;;
    esac
    if [ "$create" = 1 ] && [ ! -e "$here/$part" ] && [ ! -L "$here/$part" ]; then
      mkdir -- "$here/$part" 2>/dev/null || [ -d "$here/$part" ] || return 1
    fi
    id=$(stat -c '%F:%d:%i' -- "$here/$part" 2>/dev/null) || return 1
    case $id in
      directory:*) ;;
      *) return 2 ;;
    esac
    _handoff_open_dir "$var" "$here/$part" || return 1
    [ "$(stat -L -c '%F:%d:%i' -- "${!var}")" = "$id" ] || return 2
    here=${!var}
  done
  printf -v "$var" '%s' "$here"
}

# Set VAR to a descriptor path on the directory holding the markers and locks of files in
# the directory at descriptor path DATA_DIR (HANDOFF_STATE_DIR); CREATE 1 creates it.
_handoff_open_state_dir() {
  local var=$1 data_dir=$2 create=$3
  case ${HANDOFF_STATE_DIR:-} in
    '') printf -v "$var" '%s' "$data_dir" ;;
    /*)
      if [ "$create" = 1 ]; then
        mkdir -p -- "$HANDOFF_STATE_DIR" || return 1
      fi
      _handoff_open_dir "$var" "$HANDOFF_STATE_DIR"
      ;;
    *) _handoff_open_subdir "$var" "$data_dir" "$HANDOFF_STATE_DIR" "$create" ;;
  esac
}

# The stat(1) FORMAT fields of PATH when PATH itself (one lstat: never what a symlink points
# to) is a regular file. Returns 1 when it does not exist (or cannot be looked at), 2 when it
# is something else.
_handoff_regular_stat() {
  local info
  info=$(stat -c "%F:$1" -- "$2" 2>/dev/null) || return 1
  case $info in
    'regular file:'* | 'regular empty file:'*) printf '%s\n' "${info#*file:}" ;;
    *) return 2 ;;
  esac
}

# dev:inode:size of PATH when it is a regular file (statuses as _handoff_regular_stat).
_handoff_regular_id() { _handoff_regular_stat '%d:%i:%s' "$1"; }

# Copy the regular file PATH to stdout, at most LIMIT bytes when given: opened with
# O_NOFOLLOW|O_NONBLOCK, so neither a symlink nor a FIFO swapped in after the check is
# followed or waited on; its dev:inode:size must be the same before and after (status 3).
_handoff_read_regular() {
  local path=$1 limit=${2:-} before after
  before=$(_handoff_regular_id "$path") || return
  if [ -n "$limit" ]; then
    dd if="$path" iflag=nofollow,nonblock,count_bytes,fullblock bs=65536 count="$limit" status=none || return 1
  else
    dd if="$path" iflag=nofollow,nonblock bs=1M status=none || return 1
  fi
  after=$(_handoff_regular_id "$path") || return
  [ "$before" = "$after" ] || return 3
}

# sha256 of stdin as 64 lowercase hex digits.
_handoff_sha256_stdin() {
  local sum
  if command -v sha256sum >/dev/null 2>&1; then
    sum=$(sha256sum) || return 1
  else
    sum=$(shasum -a 256) || return 1
  fi
  printf '%s\n' "${sum%% *}"
}

# "SHA256 SIZE DEV:INODE" of the regular file PATH, read once (see _handoff_read_regular).
_handoff_digest() {
  local path=$1 before after sum
  before=$(_handoff_regular_id "$path") || return
  sum=$(
    dd if="$path" iflag=nofollow,nonblock bs=1M status=none | _handoff_sha256_stdin
    [ "${PIPESTATUS[*]}" = "0 0" ]
  ) || return 1
  after=$(_handoff_regular_id "$path") || return
  [ "$before" = "$after" ] || return 3
  printf '%s %s %s\n' "$sum" "${after##*:}" "${after%:*}"
}

# TEXT made safe inside a JSON string: control characters dropped, \ and " escaped.
_handoff_json_escape() {
  printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'
}

# The pieces of the one marker grammar handoff.sh accepts: a flat JSON object whose values
# are strings, numbers, true, false or null (what Python's json reads, without NaN and
# Infinity; strings must be valid UTF-8 without raw control characters).
_handoff_marker_grammar() {
  local ws=$'[ \t\r\n]*' tail=$'[\200-\277]' utf8 string number value
  utf8=$'[\302-\337]'$tail$'|\340[\240-\277]'$tail$'|[\341-\354\356\357]'$tail$tail
  utf8+=$'|\355[\200-\237]'$tail$'|\360[\220-\277]'$tail$tail$'|[\361-\363]'$tail$tail$tail
  utf8+=$'|\364[\200-\217]'$tail$tail
  string="\"([^\"\\\\"$'\001-\037\200-\377'"]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|$utf8)*\""
  number='-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?'
  value="($string|$number|true|false|null)"
  HANDOFF_RE_OBJECT="^$ws\\{$ws($string$ws:$ws$value($ws,$ws$string$ws:$ws$value)*)?$ws\\}$ws\$"
  HANDOFF_RE_PAIR="^$ws($string)$ws:$ws($value)$ws(,|\\})"
  HANDOFF_RE_FILES="\"files\"$ws:"
}

# Set VAR to the text of JSON string BODY (without its quotes) as Python's json decodes it,
# to compare keys and values: printable ASCII as it is; anything else as \001 and its code
# points (surrogate pairs joined, as json does).
_handoff_json_decode() {
  local var=$1 s=$2 i=0 n=${#2} c b cp codes=() out='' plain=1 j
  if [[ $s != *[\\$'\200-\377']* ]]; then
    printf -v "$var" '%s' "$s"
    return
  fi
  while [ "$i" -lt "$n" ]; do
    c=${s:i:1}
    if [ "$c" = "\\" ]; then
      c=${s:i+1:1}
      case $c in
        u) cp=$((16#${s:i+2:4})) && i=$((i + 6)) ;;
        b) cp=8 i=$((i + 2)) ;;
        f) cp=12 i=$((i + 2)) ;;
        n) cp=10 i=$((i + 2)) ;;
        r) cp=13 i=$((i + 2)) ;;
        t) cp=9 i=$((i + 2)) ;;
        *) printf -v cp '%d' "'$c" && i=$((i + 2)) ;;
      esac
    else
      printf -v b '%d' "'$c"
      if [ "$b" -lt 128 ]; then
        cp=$b i=$((i + 1))
      elif [ "$b" -lt 224 ]; then
        printf -v j '%d' "'${s:i+1:1}"
        cp=$(((b & 31) << 6 | (j & 63))) i=$((i + 2))
      elif [ "$b" -lt 240 ]; then
        cp=$((b & 15))
        for j in 1 2; do
          printf -v b '%d' "'${s:i+j:1}"
          cp=$((cp << 6 | (b & 63)))
        done
        i=$((i + 3))
      else
        cp=$((b & 7))
        for j in 1 2 3; do
          printf -v b '%d' "'${s:i+j:1}"
          cp=$((cp << 6 | (b & 63)))
        done
        i=$((i + 4))
      fi
    fi
    j=${#codes[@]}
    if [ "$j" -gt 0 ] && [ "$cp" -ge 56320 ] && [ "$cp" -le 57343 ] &&
      [ "${codes[j - 1]}" -ge 55296 ] && [ "${codes[j - 1]}" -le 56319 ]; then
      codes[j - 1]=$((65536 + ((codes[j - 1] - 55296) << 10) + cp - 56320))
    else
      codes+=("$cp")
    fi
  done
  for cp in "${codes[@]}"; do
    if [ "$cp" -lt 32 ] || [ "$cp" -gt 126 ]; then
      plain=0
      break
    fi
  done
  if [ "$plain" = 1 ]; then
    for cp in "${codes[@]}"; do
      printf -v c '%x' "$cp"
      printf -v c '%b' "\\x$c"
      out+=$c
    done
  else
    printf -v out '.%x' "${codes[@]}"
    out=$'\001'$out
  fi
  printf -v "$var" '%s' "$out"
}

# Parse marker text DOC (read from MARKER, named in messages) exactly as the modules'
# Marker.parse does. Sets HANDOFF_M_STATE (complete|failed), HANDOFF_M_SIZE and
# HANDOFF_M_SHA256 (empty when absent or null), HANDOFF_M_REASON (its JSON text) and
# HANDOFF_M_LEGACY (1 for an empty marker). Returns 1 with HANDOFF_REASON for anything else.
_handoff_parse_marker() {
  local doc=$1 marker=$2 rest key value name number seen=$'\n' LC_ALL=C
  HANDOFF_M_PROTOCOL='' HANDOFF_M_STATE='' HANDOFF_M_SIZE='' HANDOFF_M_SHA256='' HANDOFF_M_REASON='' HANDOFF_M_LEGACY=0
  if [ "${#doc}" -gt "$HANDOFF_MAX_MARKER_BYTES" ]; then
    HANDOFF_REASON="marker $marker is larger than $HANDOFF_MAX_MARKER_BYTES bytes; not a protocol v1 marker"
    return 1
  fi
  if [ -z "${doc//[[:space:]]/}" ]; then
    HANDOFF_M_STATE=complete HANDOFF_M_LEGACY=1
    return 0
  fi
  [ -n "${HANDOFF_RE_OBJECT:-}" ] || _handoff_marker_grammar
  if ! [[ $doc =~ $HANDOFF_RE_OBJECT ]]; then
    if [[ $doc =~ $HANDOFF_RE_FILES ]]; then
      HANDOFF_REASON="marker $marker: manifest markers are not supported by handoff.sh (move sets of files with lockstep.handoff.locked_move)"
    else
      HANDOFF_REASON="marker $marker is neither empty nor one flat JSON object (of strings, numbers, true, false, null); a protocol v1 marker is nothing else"
    fi
    return 1
  fi
  rest=${doc#*\{}
  while [[ $rest =~ $HANDOFF_RE_PAIR ]]; do
    rest=${rest:${#BASH_REMATCH[0]}}
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[3]}
    _handoff_json_decode name "${key:1:${#key}-2}"
    if [[ $seen == *$'\n'"$name"$'\n'* ]]; then
      HANDOFF_REASON="marker $marker names the field $key twice; a protocol v1 marker names each field once"
      return 1
    fi
    seen+="$name"$'\n'
    number=${value#-}
    if [[ $number =~ ^[0-9]+$ ]] && [ "${#number}" -gt "$HANDOFF_MAX_INT_DIGITS" ]; then
      HANDOFF_REASON="marker $marker: the value of $key has more than $HANDOFF_MAX_INT_DIGITS digits"
      return 1
    fi
    case $name in
      protocol | state | sha256)
        case $value in
          \"*) _handoff_json_decode "HANDOFF_M_${name^^}" "${value:1:${#value}-2}" ;;
          null) printf -v "HANDOFF_M_${name^^}" '' ;;
          *) printf -v "HANDOFF_M_${name^^}" '(%s)' "$value" ;;
        esac
        ;;
      size | generation | fencing_token)
        if [ "$value" != null ] && ! [[ $value =~ ^(-0|0|[1-9][0-9]*)$ ]]; then
          HANDOFF_REASON="marker $marker: field '$name' is $value; expected a non-negative integer"
          return 1
        fi
        [ "$name" != size ] || [ "$value" = null ] || HANDOFF_M_SIZE=${value#-}
        ;;
      written_at | producer | reason)
        if [ "$value" != null ] && [ "${value:0:1}" != '"' ]; then
          HANDOFF_REASON="marker $marker: field '$name' is $value; expected a string"
          return 1
        fi
        [ "$name" != reason ] || [ "$value" = null ] || HANDOFF_M_REASON=${value:1:${#value}-2}
        ;;
      files)
        HANDOFF_REASON="marker $marker: manifest markers are not supported by handoff.sh (move sets of files with lockstep.handoff.locked_move)"
        return 1
        ;;
    esac
  done
  if [ "$HANDOFF_M_PROTOCOL" != "$HANDOFF_PROTOCOL" ]; then
    HANDOFF_REASON="marker $marker: protocol is '$HANDOFF_M_PROTOCOL'; expected '$HANDOFF_PROTOCOL' (neither empty nor a v1 marker)"
    return 1
  fi
  case $HANDOFF_M_STATE in
    complete | failed) ;;
    *)
      HANDOFF_REASON="marker $marker: state is '$HANDOFF_M_STATE'; expected 'complete' or 'failed'"
      return 1
      ;;
  esac
  if [ -n "$HANDOFF_M_SHA256" ] && ! [[ $HANDOFF_M_SHA256 =~ ^[0-9a-f]{64}$ ]]; then
    HANDOFF_REASON="marker $marker: sha256 is not 64 lowercase hex digits"
    return 1
  fi
}

# Read and parse MARKER (see _handoff_parse_marker); DISPLAY names it in messages.
# Returns 1 with HANDOFF_REASON for a marker that is missing, not a regular file, or invalid.
_handoff_read_marker() {
  local marker=$1 display=${2:-$1} doc status
  doc=$(
    _handoff_read_regular "$marker" "$((HANDOFF_MAX_MARKER_BYTES + 1))" | tr '\000' '\001'
    exit "${PIPESTATUS[0]}"
  )
  status=$?
  case $status in
    0) _handoff_parse_marker "$doc" "$display" && return ;;
    1) HANDOFF_REASON="marker $display vanished or cannot be read" ;;
    2) HANDOFF_REASON="marker $display is not a regular file (a symlink, directory or FIFO); refused" ;;
    *) HANDOFF_REASON="marker $display was replaced while it was read; refused" ;;
  esac
  return 1
}

# Create a new temp file for NAME in the directory at descriptor path DIR, with the
# permission bits MODE (octal) less any execute bit, set by the umask at creation; keep it
# open for writing. noclobber makes the creation O_EXCL, so a symlink or file another user
# plants at the (random) name fails it instead of being followed. Sets HANDOFF_TEMP (its
# path, see _handoff_temp_path), HANDOFF_TEMP_FD and HANDOFF_TEMP_ID (dev:inode of what
# was created).
_handoff_create_temp() {
  local dir=$1 name=$2 mode=$3 tries saved_umask created=
  saved_umask=$(umask)
  for tries in 1 2 3 4 5; do
    _handoff_temp_path "$dir" "$name" || return 1
    if [ -e "$HANDOFF_TEMP" ] || [ -L "$HANDOFF_TEMP" ]; then
      continue
    fi
    umask "$(printf '%04o' "$((~8#$mode & 0777))")"
    set -C
    exec {HANDOFF_TEMP_FD}>"$HANDOFF_TEMP" && created=1
    set +C
    umask "$saved_umask"
    [ -n "$created" ] || return 1
    HANDOFF_TEMP_ID=$(stat -L -c %d:%i -- "/dev/fd/$HANDOFF_TEMP_FD") || return 1
    return 0
  done
  _handoff_error handoff.sh "no free temp name beside $name after $tries random names"
  return 1
}

# Give the temp open on HANDOFF_TEMP_FD the execute bits of MODE too (the umask cannot):
# chmod through /dev/fd/N changes the file that descriptor holds, whatever its name is now.
_handoff_temp_exec_bits() {
  local mode=$1
  if [ "$((8#$mode & 0111))" -ne 0 ]; then
    chmod "$(printf '%04o' "$((8#$mode & 0777))")" -- "/dev/fd/$HANDOFF_TEMP_FD"
  fi
}

# Rename TEMP (created as HANDOFF_TEMP_ID) onto TARGET with rename(2) semantics (mv -T: a
# directory at TARGET fails it, a symlink there is replaced, never followed), after checking
# that TEMP is still that regular file and before trusting it, that TARGET now is.
# With CONSUMABLE (a marker), TARGET gone right after the rename is no error: a consumer
# woken by the rename (inotify) may have taken the file and its marker already.
_handoff_rename_own() {
  local who=$1 temp=$2 target=$3 display=$4 consumable=${5:-} id
  id=$(_handoff_regular_id "$temp")
  if [ "${id%:*}" != "$HANDOFF_TEMP_ID" ]; then
    _handoff_error "$who" "the temp file for $display was replaced by someone else (another user of the directory?); $display was not touched"
    return 1
  fi
  mv -f -T -- "$temp" "$target" || return 1
  id=$(_handoff_regular_id "$target")
  if [ "${id%:*}" != "$HANDOFF_TEMP_ID" ]; then
    if [ -n "$consumable" ] && [ ! -e "$target" ] && [ ! -L "$target" ]; then
      return 0
    fi
    _handoff_error "$who" "$display is not the file handoff.sh renamed there: someone else replaced the temp or $display during the rename"
    return 1
  fi
}

# Write DATA's complete marker in the state directory at descriptor path STATE (temp, fsync,
# rename, fsync dir): SIZE and SHA256 describe DATA; MODE is DATA's, less execute bits.
_handoff_write_marker() {
  local state=$1 name=$2 display=$3 size=$4 sha256=$5 mode=$6 producer text
  producer=$(_handoff_json_escape "${HANDOFF_PRODUCER:-handoff.sh@$(uname -n)}")
  printf -v text '{"protocol":"%s","state":"complete","size":%s,"sha256":"%s","written_at":"%s","producer":"%s"}\n' \
    "$HANDOFF_PROTOCOL" "$size" "$sha256" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$producer"
  _handoff_create_temp "$state" "$name.done" "$(printf '%o' "$((8#$mode & 0666))")" || return 1
  if printf '%s' "$text" >&"$HANDOFF_TEMP_FD" && _handoff_fsync "/dev/fd/$HANDOFF_TEMP_FD" &&
    _handoff_rename_own handoff_publish "$HANDOFF_TEMP" "$state/$name.done" "the marker of $display" consumable; then
    exec {HANDOFF_TEMP_FD}>&-
    _handoff_fsync "$state"
    return 0
  fi
  exec {HANDOFF_TEMP_FD}>&-
  rm -f -- "$HANDOFF_TEMP"
  return 1
}

# Open LOCK on HANDOFF_LOCK_FD with a watchdog: bash cannot open without waiting on a FIFO,
# so if another user swaps one in after the caller's check, the open is ended (SIGALRM)
# after HANDOFF_LOCK_TIMEOUT + 10 s with a message instead of hanging. The watchdog is no
# child of the caller (so no job of its own), and is stopped with SIGUSR1, which no caller
# traps: one that arrives before the watchdog's own trap is set just ends it.
_handoff_open_lock() {
  local who=$1 lock=$2 display=$3 limit me=$BASHPID watchdog
  limit=$((${HANDOFF_LOCK_TIMEOUT:-30} + 10))
  watchdog=$(
    (
      stop='' sleeper=''
      trap 'stop=1 && [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null' USR1
      sleep "$limit" >/dev/null 2>&1 &
      sleeper=$!
      [ -z "$stop" ] || kill "$sleeper" 2>/dev/null
      wait "$sleeper" 2>/dev/null
      [ -z "$stop" ] || exit 0
      _handoff_error "$who" "lock $display did not open within ${limit}s: someone replaced it with a FIFO or device"
      kill -s ALRM "$me"
    ) >/dev/null &
    echo "$!"
  )
  exec {HANDOFF_LOCK_FD}<"$lock"
  kill -s USR1 "$watchdog" 2>/dev/null
  [ -n "${HANDOFF_LOCK_FD:-}" ]
}

# Type:dev:inode of what PATH names, following symlinks (for /dev/fd/N: the open file).
_handoff_followed_id() {
  local id
  id=$(stat -L -c '%F:%d:%i' -- "$1" 2>/dev/null) || return 1
  printf '%s\n' "${id/#regular empty file/regular file}"
}

# Open the lock NAME in the directory at descriptor path DIR (creating it 0664 from an
# exclusive temp, never deleting it) on HANDOFF_LOCK_FD, and take an exclusive flock within
# HANDOFF_LOCK_TIMEOUT seconds. A lock must be a regular file or a directory, and the open
# one must be what was checked. DISPLAY names it in messages. Runs in the caller's subshell.
_handoff_lock() {
  local who=$1 dir=$2 name=$3 display=$4 timeout=${HANDOFF_LOCK_TIMEOUT:-30} id
  if [ ! -e "$dir/$name" ] && [ ! -L "$dir/$name" ] && _handoff_create_temp "$dir" "$name" 664; then
    # Renamed into place without replacing anything (RENAME_NOREPLACE): whatever another
    # process put there first stays, and is checked below; no open ever follows a name here.
    exec {HANDOFF_TEMP_FD}>&-
    mv -n -T -- "$HANDOFF_TEMP" "$dir/$name" 2>/dev/null
    rm -f -- "$HANDOFF_TEMP"
  fi
  id=$(stat -c '%F:%d:%i' -- "$dir/$name" 2>/dev/null)
  id=${id/#regular empty file/regular file}
  case $id in
    'regular file:'* | directory:*) ;;
    *)
      _handoff_error "$who" "lock $display is not a regular file or directory (a symlink or FIFO?); a lock must be a plain file"
      return 2
      ;;
  esac
  _handoff_open_lock "$who" "$dir/$name" "$display" || return 1
  if [ "$(_handoff_followed_id "/dev/fd/$HANDOFF_LOCK_FD")" != "$id" ]; then
    _handoff_error "$who" "lock $display was replaced while it was opened (another user of the directory?)"
    return 1
  fi
  if ! flock -w "$timeout" "$HANDOFF_LOCK_FD"; then
    _handoff_error "$who" "lock $display is held by another process; waited HANDOFF_LOCK_TIMEOUT=${timeout}s (see lslocks)"
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

# Judge the data file PATH against its marker MARKER once; DATA and DISPLAY name them in
# messages. Returns 0 ready, 1 not ready (yet), 3 the producer marked it failed, with the
# reason in HANDOFF_REASON; when ready, sets HANDOFF_DATA_SHA256, HANDOFF_DATA_SIZE and
# HANDOFF_DATA_ID (dev:inode) of what it read.
_handoff_judge() {
  local path=$1 marker=$2 data=$3 display=$4 digest status
  if [ ! -e "$marker" ] && [ ! -L "$marker" ]; then
    if [ -e "$path" ] || [ -L "$path" ]; then
      HANDOFF_REASON="data file $data exists but its marker $display does not: the producer is still writing, or stopped before marking it complete"
    else
      HANDOFF_REASON="neither the data file $data nor its marker $display exists yet"
    fi
    return 1
  fi
  _handoff_read_marker "$marker" "$display" || return 1
  if [ "$HANDOFF_M_STATE" = failed ]; then
    HANDOFF_REASON="the producer marked $data failed: $HANDOFF_M_REASON (marker $display)"
    return 3
  fi
  if [ "$HANDOFF_M_LEGACY" = 1 ] && [ "${HANDOFF_REQUIRE_CHECKSUM:-0}" = 1 ]; then
    HANDOFF_REASON="marker $display is empty (a legacy touch marker, no sha256) and HANDOFF_REQUIRE_CHECKSUM=1"
    return 1
  fi
  if [ -z "$HANDOFF_M_SHA256" ] && [ "${HANDOFF_REQUIRE_CHECKSUM:-0}" = 1 ]; then
    HANDOFF_REASON="marker $display has no sha256 and HANDOFF_REQUIRE_CHECKSUM=1"
    return 1
  fi
  digest=$(_handoff_digest "$path")
  status=$?
  case $status in
    0) read -r HANDOFF_DATA_SHA256 HANDOFF_DATA_SIZE HANDOFF_DATA_ID <<<"$digest" ;;
    2) HANDOFF_REASON="data file $data is not a regular file (a symlink, directory or FIFO); refused" ;;
    3) HANDOFF_REASON="data file $data was replaced while it was read" ;;
    *) HANDOFF_REASON="marker $display exists but the data file $data does not (or cannot be read)" ;;
  esac
  [ "$status" -eq 0 ] || return 1
  if [ -n "$HANDOFF_M_SIZE" ] && [ "$HANDOFF_M_SIZE" != "$HANDOFF_DATA_SIZE" ]; then
    HANDOFF_REASON="size mismatch: marker $display says $HANDOFF_M_SIZE bytes, data file $data has $HANDOFF_DATA_SIZE"
    return 1
  fi
  if [ -n "$HANDOFF_M_SHA256" ] && [ "$HANDOFF_M_SHA256" != "$HANDOFF_DATA_SHA256" ]; then
    HANDOFF_REASON="checksum mismatch: marker $display says sha256 $HANDOFF_M_SHA256, data file $data differs"
    return 1
  fi
  return 0
}

# Mode (octal) of PATH itself when it is a regular file (never a symlink's 777).
_handoff_regular_mode() { _handoff_regular_stat '%a' "$1"; }

# Mode (octal) for a file published as NAME in the directory at descriptor path DIR: that of
# the regular file it replaces, or what cp would give a new file (0666 less the umask).
_handoff_publish_mode() {
  _handoff_regular_mode "$1/$2" || printf '%o\n' "$((0666 & ~0$(umask)))"
}

# handoff_publish SRC DEST [LOCK]: SRC (a file, or - for stdin) goes to a temp file in
# DEST's directory, is fsynced and hashed, gets the mode of the DEST it replaces (without
# setuid, setgid or sticky bits), is renamed onto DEST, the directory fsynced, and only
# then DEST's marker is written the same way with DEST's read and write bits.
# With LOCK, DEST and its marker are replaced under that flock (give it your movers' LOCK).
handoff_publish() (
  LC_ALL=C
  set -o pipefail
  _handoff_arity handoff_publish 2 3 $# "handoff_publish SRC DEST [LOCK]" || exit
  src=$1 dest=$2 lock=${3:-} dest_dir='' lock_dir='' state_dir=''
  dir=$(_handoff_dirname "$dest") name=${dest##*/}
  _handoff_require_dev_fd handoff_publish || exit
  if [ "$src" = - ] && [ -z "${HANDOFF_SHA256:-}" ]; then
    _handoff_error handoff_publish "SRC - (stdin) needs HANDOFF_SHA256: a cut-off stream would look complete"
    exit 2
  fi
  if [ -d "$dest" ]; then
    _handoff_error handoff_publish "dest $dest is a directory; give the full path of the file"
    exit 2
  fi
  if [ ! -d "$dir" ] || ! _handoff_open_dir dest_dir "$dir"; then
    _handoff_error handoff_publish "directory $dir of dest $dest does not exist; create it first"
    exit 1
  fi
  if [ -n "$lock" ]; then
    _handoff_open_dir lock_dir "$(_handoff_dirname "$lock")" || exit 1
  fi
  mode=$(_handoff_publish_mode "$dest_dir" "$name") || exit 1
  _handoff_create_temp "$dest_dir" "$name" "$mode" || exit 1
  tmp=$HANDOFF_TEMP owner=$BASHPID
  # Only this process removes the temp: a subshell that runs an inherited EXIT trap must not.
  trap '[ -z "$tmp" ] || [ "$BASHPID" != "$owner" ] || rm -f -- "$tmp"' EXIT
  trap 'exit 1' HUP INT TERM
  if [ "$src" = - ]; then
    cat >&"$HANDOFF_TEMP_FD" || exit 1
  else
    cat -- "$src" >&"$HANDOFF_TEMP_FD" || exit 1
  fi
  _handoff_temp_exec_bits "$mode" || exit 1
  _handoff_fsync "/dev/fd/$HANDOFF_TEMP_FD" || exit 1
  sha256=$(_handoff_sha256_stdin <"/dev/fd/$HANDOFF_TEMP_FD") || exit 1
  size=$(stat -L -c %s -- "/dev/fd/$HANDOFF_TEMP_FD") || exit 1
  if [ -n "${HANDOFF_SHA256:-}" ] && [ "$sha256" != "$HANDOFF_SHA256" ]; then
    _handoff_error handoff_publish "checksum mismatch: expected sha256 $HANDOFF_SHA256, read $sha256 ($size bytes); $dest was not touched"
    exit 1
  fi
  if [ -n "$lock" ]; then
    _handoff_lock handoff_publish "$lock_dir" "${lock##*/}" "$lock" || exit
  fi
  if ! _handoff_open_state_dir state_dir "$dest_dir" 1; then
    _handoff_error handoff_publish "state directory $HANDOFF_STATE_DIR of $dest cannot be created or is not a plain directory (a symlink?)"
    exit 1
  fi
  rm -f -- "$state_dir/$name.done" || exit 1
  _handoff_rename_own handoff_publish "$tmp" "$dest_dir/$name" "$dest" || exit 1
  tmp=
  _handoff_fsync "$dest_dir" || exit 1
  _handoff_write_marker "$state_dir" "$name" "$dest" "$size" "$sha256" "$mode" || exit 1
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
  _handoff_require_dev_fd handoff_wait || exit
  marker=$(_handoff_state_path "$dest" .done)
  deadline=$(($(date +%s) + timeout))
  while :; do
    _handoff_judge "$dest" "$marker" "$dest" "$marker"
    verdict=$?
    reason=$HANDOFF_REASON
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

# Move NAME from the directory at descriptor path SRC_DIR onto DEST_NAME in DEST_DIR, across
# filesystems: copy (opened O_NOFOLLOW|O_NONBLOCK) into an exclusive temp beside DEST with
# SRC's read and write bits (execute bits through the descriptor, never setuid/setgid),
# check SHA256, fsync, rename, fsync, and only then remove SRC.
_handoff_copy_across() {
  local src_dir=$1 name=$2 dest_dir=$3 dest_name=$4 dest=$5 sha256=$6 mode tmp
  mode=$(_handoff_regular_mode "$src_dir/$name") || return 1
  _handoff_create_temp "$dest_dir" "$dest_name" "$mode" || return 1
  tmp=$HANDOFF_TEMP
  if _handoff_read_regular "$src_dir/$name" >&"$HANDOFF_TEMP_FD" && _handoff_temp_exec_bits "$mode" &&
    _handoff_fsync "/dev/fd/$HANDOFF_TEMP_FD" &&
    [ "$(_handoff_sha256_stdin <"/dev/fd/$HANDOFF_TEMP_FD")" = "$sha256" ] &&
    _handoff_rename_own handoff_move "$tmp" "$dest_dir/$dest_name" "$dest"; then
    exec {HANDOFF_TEMP_FD}>&-
    _handoff_fsync "$dest_dir" && rm -f -- "$src_dir/$name" && _handoff_fsync "$src_dir"
    return
  fi
  exec {HANDOFF_TEMP_FD}>&-
  rm -f -- "$tmp"
  return 1
}

# Rename NAME (judged as HANDOFF_DATA_ID) from SRC_DIR onto DEST_NAME in DEST_DIR on one
# filesystem, in two steps: first to a temp name beside DEST (RENAME_NOREPLACE), which must
# then be the file that was judged (else it goes back to SRC and the move fails), then onto
# DEST. Another user who can write only the inbox cannot get a file of theirs to DEST by
# swapping SRC after the judgement. Killed between the two steps, the file waits in that
# temp (named as the modules' temps, which report leftovers) and the marker stays.
_handoff_move_same_fs() {
  local src_dir=$1 name=$2 dest_dir=$3 dest_name=$4 src=$5 dest=$6 temp id
  _handoff_temp_path "$dest_dir" "$dest_name" || return 1
  temp=$HANDOFF_TEMP
  mv -n -T -- "$src_dir/$name" "$temp" || return 1
  id=$(_handoff_regular_id "$temp")
  if [ "${id%:*}" != "$HANDOFF_DATA_ID" ]; then
    if [ -e "$temp" ] || [ -L "$temp" ]; then
      mv -n -T -- "$temp" "$src_dir/$name"
    fi
    _handoff_error handoff_move "$src was replaced by someone else (another user of the directory?) after it was checked; not moved"
    return 1
  fi
  HANDOFF_TEMP_ID=$HANDOFF_DATA_ID
  _handoff_rename_own handoff_move "$temp" "$dest_dir/$dest_name" "$dest" || return 1
  _handoff_fsync "$dest_dir" "$src_dir"
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
  name=${src##*/} dest_name=${dest##*/} dest_dir='' src_dir='' lock_dir='' marker_dir=''
  _handoff_require_dev_fd handoff_move || exit
  if [ -d "$dest" ]; then
    _handoff_error handoff_move "dest $dest is a directory; give the full path of the file"
    exit 2
  fi
  if ! _handoff_open_dir dest_dir "$(_handoff_dirname "$dest")"; then
    _handoff_error handoff_move "directory $(_handoff_dirname "$dest") of dest $dest does not exist; create it first"
    exit 1
  fi
  if ! _handoff_open_dir src_dir "$(_handoff_dirname "$src")"; then
    _handoff_error handoff_move "directory $(_handoff_dirname "$src") of src $src does not exist"
    exit 1
  fi
  if [ -n "${3:-}" ]; then
    _handoff_open_dir lock_dir "$(_handoff_dirname "$lock")" || exit 1
  elif ! _handoff_open_state_dir lock_dir "$dest_dir" 1; then
    _handoff_error handoff_move "state directory $HANDOFF_STATE_DIR beside $dest cannot be created or is not a plain directory (a symlink?)"
    exit 1
  fi
  _handoff_open_state_dir marker_dir "$src_dir" 0 || marker_dir=/nonexistent
  _handoff_lock handoff_move "$lock_dir" "${lock##*/}" "$lock" || exit
  if [ ! -e "$src_dir/$name" ] && [ ! -L "$src_dir/$name" ]; then
    if _handoff_regular_id "$dest_dir/$dest_name" >/dev/null; then
      if _handoff_read_marker "$marker_dir/$name.done" "$marker" && [ -n "$HANDOFF_M_SHA256" ] &&
        [[ $(_handoff_digest "$dest_dir/$dest_name") == "$HANDOFF_M_SHA256 "* ]]; then
        rm -f -- "$marker_dir/$name.done" && _handoff_fsync "$marker_dir"
        echo "handoff_move: completed an interrupted move: $src was already at $dest, its marker is removed"
      else
        echo "handoff_move: already moved: $src is absent and $dest is in place"
      fi
      exit 0
    fi
    _handoff_error handoff_move "src $src does not exist, and dest $dest does not either: nothing to move"
    exit 1
  fi
  _handoff_judge "$src_dir/$name" "$marker_dir/$name.done" "$src" "$marker"
  verdict=$?
  if [ "$verdict" -ne 0 ]; then
    _handoff_error handoff_move "not moving $src: $HANDOFF_REASON"
    exit "$verdict"
  fi
  if [ "$(stat -c %d -- "$src_dir/$name")" = "$(stat -c %d -- "$dest_dir/.")" ]; then
    _handoff_move_same_fs "$src_dir" "$name" "$dest_dir" "$dest_name" "$src" "$dest" || exit 1
  else
    _handoff_copy_across "$src_dir" "$name" "$dest_dir" "$dest_name" "$dest" "$HANDOFF_DATA_SHA256" || exit 1
  fi
  rm -f -- "$marker_dir/$name.done" || exit 1
  _handoff_fsync "$marker_dir" || exit 1
  echo "handoff_move: moved $src to $dest"
)

# handoff_promote_inbox INBOX DIR: handoff_move each file of INBOX whose marker exists to
# DIR/NAME (lock DIR/NAME.lock, or per HANDOFF_STATE_DIR). Files without a marker are left
# for the next run; dot files, *.done, *.lock and *.tmp are never taken; symlinks, FIFOs
# and directories are named on stderr and left. One file that fails does not stop the
# others; the status is then 1. For cron.
handoff_promote_inbox() (
  LC_ALL=C
  set -o pipefail
  if [ $# -ne 2 ]; then
    _handoff_error handoff_promote_inbox "usage: handoff_promote_inbox INBOX DIR"
    exit 2
  fi
  inbox=${1%/} target=${2%/} status=0
  for src in "$inbox"/*; do
    _handoff_protocol_name "${src##*/}" && continue
    if ! _handoff_regular_id "$src" >/dev/null; then
      if [ -e "$src" ] || [ -L "$src" ]; then
        _handoff_error handoff_promote_inbox "skipped $src: not a regular file (a symlink, directory or FIFO)"
      fi
      continue
    fi
    marker=$(_handoff_state_path "$src" .done)
    [ -e "$marker" ] || [ -L "$marker" ] || continue
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
