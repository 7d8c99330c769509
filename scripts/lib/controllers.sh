# shellcheck shell=bash
# The supported controllers: ansible-core version -> Python that runs it, and its venv.
# Sourced by scripts/*; ROOT must be set.
CONTROLLERS=(2.19 2.21)

controller_python() {
  case "$1" in
    2.19) command -v python3.11 || echo /root/.pyenv/versions/3.11.7/bin/python3.11 ;;
    2.21) if [ -x /root/.pyenv/versions/3.12.1/bin/python3.12 ]; then
            echo /root/.pyenv/versions/3.12.1/bin/python3.12
          else command -v python3.12; fi ;;
    *) echo "unknown controller $1 (supported: ${CONTROLLERS[*]})" >&2; return 2 ;;
  esac
}

controller_venv() { echo "$ROOT/.venv/$1"; }
