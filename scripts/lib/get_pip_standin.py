# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for get-pip.py, which ansible-test runs to put pip into its venvs.

ansible-test downloads get-pip-<version>.py from ci-files.testing.ansible.com, which this
machine (and CI without internet) cannot reach; it uses ~/.ansible/test/cache/get_pip_<ver>.py
instead when that file exists. scripts/lib/ansible_test.sh installs this file there.

It is run as ``python get_pip_X_Y.py [pip install args] --no-setuptools --no-wheel``:
ensurepip supplies the pip bundled with Python, and that pip installs the requested
version (e.g. ``pip==24.2``) from the package index that this machine's pip configuration
names.
"""

import ensurepip
import os
import subprocess
import sys

# get-pip's own options; pip install rejects them, and leaving setuptools/wheel out is
# already what plain "pip install pip==X" does.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    pip_args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    environment = dict(os.environ)
    # ensurepip deletes every PIP_* variable and sets PIP_CONFIG_FILE=/dev/null in this
    # process; without restoring, pip loses the index, certificate and find-links settings.
    ensurepip.bootstrap()
    os.environ.clear()
    os.environ.update(environment)
    return subprocess.call([sys.executable, '-m', 'pip', 'install'] + pip_args)


if __name__ == '__main__':
    sys.exit(main())
