# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Venvs from pinned requirement files, and the collections path link; sourced by scripts/bootstrap
# and scripts/demo. ROOT must be set.

# make_venv VENV PYTHON REQUIREMENTS...: (re)build VENV when the requirement files changed since
# it was built. One pip resolve for all files, so no tool can move another file's pin.
make_venv() {
  local venv=$1 python=$2 want requirement
  shift 2
  local stamp="$venv/.requirements.sha256" args=()
  want=$(cat "$@" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "venv: $venv ($python) from ${*#"$ROOT/"}"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  for requirement in "$@"; do
    args+=(-r "$requirement")
  done
  "$venv/bin/python" -m pip install -q "${args[@]}"
  echo "$want" >"$stamp"
}

# ansible finds the collection through ANSIBLE_COLLECTIONS_PATH=$ROOT/.build
link_collection() {
  local link="$ROOT/.build/ansible_collections/lockstep/handoff"
  mkdir -p "$(dirname "$link")"
  [ -L "$link" ] || ln -sfn "$ROOT" "$link"
}
