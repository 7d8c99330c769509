# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Run ansible-test (sanity, units) for this collection with a controller venv from
# scripts/bootstrap. Sourced by scripts/*; ROOT must be set and controllers.sh sourced.
#
# Where ansible-test runs: a copy, not the bootstrap symlink.
# ansible-test takes the collection root from os.getcwd(), which resolves the symlink
# .build/ansible_collections/lockstep/handoff back to the repository root, a path that does
# not end in ansible_collections/lockstep/handoff ("No ansible_collections parent directory
# was found"). Setting ANSIBLE_TEST_CONTENT_ROOT gets past that, but with --venv ansible-test
# re-runs itself inside a venv, from the resolved directory again, and fails the same way.
# So each run refreshes a plain copy (collection_copy) holding exactly the files git shows
# (tracked + untracked-not-ignored), so .venv/, .build/ and other ignored files never get
# there. The copy is a git repository of its own (git init, never committed): ansible-test
# lists a collection's files with git ls-files of the nearest .git upwards, which would
# otherwise be this repository's, where .build/ is ignored, and it would test no file at
# all ("All targets skipped"). The copied .gitignore keeps tests/output/ out of the tests.
# One copy per controller, so both can run at once and keep their tests/output/ apart.

collection_copy() {
  echo "$ROOT/.build/ansible-test/$1/ansible_collections/lockstep/handoff"
}

controller_python_version() {
  "$(controller_venv "$1")/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# ansible-test bootstraps pip into each venv it makes with get-pip.py from
# ci-files.testing.ansible.com, which is unreachable here, unless the script is in its
# cache. The pip version, hence the file name, differs per ansible-core (2.19: 24.2,
# 2.21: 25.2), so ask the controller's ansible-test which one it will look for.
get_pip_cache_path() {
  local version
  version=$("$(controller_venv "$1")/bin/python" -c '
import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])')
  echo "$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
}

install_get_pip_standin() {
  local standin="$ROOT/scripts/lib/get_pip_standin.py" cached
  cached=$(get_pip_cache_path "$1")
  cmp -s "$standin" "$cached" && return 0
  mkdir -p "$(dirname "$cached")"
  cp "$standin" "$cached"
}

# Without shellcheck ansible-test skips its shellcheck test with only a warning, and this
# repository has *.sh files; install it rather than pass with a test silently missing.
require_shellcheck() {
  command -v shellcheck >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "ansible-test: shellcheck is missing and only root can apt-get install it" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
}

# NUL-separated paths relative to ROOT, as in GitSource: tracked and untracked files minus
# ignored ones and tracked files deleted from the work tree.
collection_files() {
  local path
  while IFS= read -r -d '' path; do
    if [ -e "$ROOT/$path" ] || [ -L "$ROOT/$path" ]; then
      printf '%s\0' "$path"
    fi
  done < <(git -C "$ROOT" ls-files -z --cached --others --exclude-standard)
}

# refresh_collection_copy COPY: rebuilt from scratch so deleted or newly ignored files
# vanish, except .git/ and tests/output/, where ansible-test keeps its delegation venv.
refresh_collection_copy() {
  local copy=$1
  mkdir -p "$copy/tests/output"
  [ -d "$copy/.git" ] || git -C "$copy" init -q
  find "$copy" -mindepth 1 -maxdepth 1 ! -name tests ! -name .git -exec rm -rf {} +
  find "$copy/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
  collection_files | tar -C "$ROOT" --null -T - -cf - | tar -C "$copy" -xf -
}

# ansible_test CORE SUBCOMMAND [ARGS...]: in a fresh copy, on the controller's own Python.
# The lock keeps a second run for the same controller (sanity and units, say) from
# rebuilding the copy under the first one.
ansible_test() {
  local core=$1 subcommand=$2 copy
  shift 2
  copy=$(collection_copy "$core")
  install_get_pip_standin "$core"
  mkdir -p "$copy"
  (
    exec 9>"$ROOT/.build/ansible-test/$core.lock"
    flock 9
    refresh_collection_copy "$copy"
    cd "$copy" || exit
    "$(controller_venv "$core")/bin/ansible-test" "$subcommand" --venv \
      --python "$(controller_python_version "$core")" --color no "$@"
  )
}

# All sanity tests: with get-pip cached none needs more than the package index. (pslint
# needs pwsh, which Debian lacks, only once the collection has PowerShell files.)
run_sanity() {
  require_shellcheck
  ansible_test "$1" sanity
}

# ansible-test stops with "Cannot run unit tests without tests/unit/" when git lists no
# file there; a repository without unit tests has nothing to fail.
run_units() {
  if [ -z "$(find "$ROOT/tests/unit" -name 'test_*.py' -print -quit 2>/dev/null)" ]; then
    echo "units $1: no tests/unit/**/test_*.py, nothing to run"
    return 0
  fi
  ansible_test "$1" units
}

# The integration targets under tests/integration/targets, on this machine (no docker).
run_integration() {
  ansible_test "$1" integration
}
