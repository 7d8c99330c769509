#!/bin/sh
# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs inside a bench host: CONSUMERS shell loops take DIR/in/f1..fFILES as cron jobs would,
# each trying every file under `flock -w` on the same lock path locked_move uses
# (DIR/out/fN.lock), moving it only while its marker is there, then removing the marker.
#   sh -c "$(cat flock_consumers.sh)" sh DIR FILES CONSUMERS
# Prints the start and end time (host clock, seconds) of the whole run.
dir=$1 files=$2 consumers=$3

consume() {
  k=1
  while [ "$k" -le "$files" ]; do
    # shellcheck disable=SC2016  # $1 and $2 belong to the inner sh
    flock -w 120 "$dir/out/f$k.lock" \
      sh -c 'if [ -e "$1.done" ]; then mv "$1" "$2" && rm -f "$1.done"; fi' sh "$dir/in/f$k" "$dir/out/f$k"
    k=$((k + 1))
  done
}

start=$(date +%s.%N)
c=0
while [ "$c" -lt "$consumers" ]; do
  consume &
  c=$((c + 1))
done
wait
echo "$start $(date +%s.%N)"
