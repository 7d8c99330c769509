# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# The supported controllers: ansible-core version -> Python that runs it, its venv and what goes
# into the venv. Sourced by scripts/*; ROOT must be set.
#   CONTROLLERS         run the whole suite (the oldest and the newest supported ansible-core)
#   SUBSET_CONTROLLERS  inside requires_ansible between them: sanity, unit tests and the
#                       integration targets only, to keep CI inside its time budget
CONTROLLERS=(2.19 2.21)
SUBSET_CONTROLLERS=(2.20)

controller_python() {
  case "$1" in
    2.19) command -v python3.11 || echo /root/.pyenv/versions/3.11.7/bin/python3.11 ;;
    2.20 | 2.21)
      if [ -x /root/.pyenv/versions/3.12.1/bin/python3.12 ]; then
        echo /root/.pyenv/versions/3.12.1/bin/python3.12
      else command -v python3.12; fi ;;
    *) echo "unknown controller $1 (supported: ${CONTROLLERS[*]} ${SUBSET_CONTROLLERS[*]})" >&2; return 2 ;;
  esac
}

controller_venv() { echo "$ROOT/.venv/$1"; }

is_subset_controller() {
  local core
  for core in "${SUBSET_CONTROLLERS[@]}"; do
    [ "$core" = "$1" ] && return 0
  done
  return 1
}

# The requirement files of a controller's venv: the ecosystem tools only where the whole suite runs.
controller_requirements() {
  echo "$ROOT/requirements/controller-$1.txt"
  echo "$ROOT/requirements/test.txt"
  is_subset_controller "$1" || echo "$ROOT/requirements/ecosystem.txt"
}
