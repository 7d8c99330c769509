# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the Markdown guides of docs/ as the RST extra docs of the collection's docsite.

antsibull-docs takes extra docs only as RST under docs/docsite/rst/, and the guides are written
(and read on GitHub) as Markdown in docs/. The Markdown stays the source: each guide becomes
docs/docsite/rst/NAME.rst with the label the Ansible docsite conventions ask for
(ansible_collections.lockstep.handoff.docsite.NAME), and a link from one guide to another becomes
a :ref: to that label. tests/ecosystem/test_docsite.py fails when a committed .rst differs from
what this renders, so after editing a guide run scripts/docsite.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import m2r2

ROOT = Path(__file__).resolve().parents[2]
RST_DIR = ROOT / "docs" / "docsite" / "rst"
LABEL_PREFIX = "ansible_collections.lockstep.handoff.docsite."
# Guide (docs/NAME.md) -> its place in extra-docs.yml's "Guides" section, in this order.
GUIDES = ("protocol", "locking", "awx", "migrating-from-scp-mv", "security")
_TRAILING_ESCAPED_SPACE = re.compile(r"(``|\*\*|`_)\\ ?\s*$")
# A link m2r2 renders from [text](NAME.md): `text <NAME.md>`_
_GUIDE_LINK = re.compile(r"`([^`<]+?) <(%s)\.md>`_" % "|".join(map(re.escape, GUIDES)))


def label(name: str) -> str:
    """The docsite label of a guide."""
    return LABEL_PREFIX + name


def render(name: str, markdown: str) -> str:
    """The RST page of the guide ``name`` from its Markdown text."""
    body = m2r2.convert(markdown).strip("\n")
    body = _GUIDE_LINK.sub(lambda m: ":ref:`%s <%s>`" % (m.group(1), label(m.group(2))), body)
    header = (".. Generated from docs/%s.md by scripts/docsite; edit the Markdown, not this file.\n\n"
              ".. _%s:\n\n" % (name, label(name)))
    return header + "\n".join(_tidy(line) for line in body.splitlines()) + "\n"


def _tidy(line: str) -> str:
    """A line of m2r2's output as the docsite linter takes it: a code block gets a language (rstcheck
    cannot parse one without), and the escaped space m2r2 leaves after inline markup at the end of a
    line (which renders as nothing) goes, with any trailing whitespace."""
    if line.rstrip() == ".. code-block::":
        return ".. code-block:: text"
    return _TRAILING_ESCAPED_SPACE.sub(r"\1", line).rstrip()


def rendered() -> dict[Path, str]:
    """{rst path: text} of every guide."""
    return {RST_DIR / f"{name}.rst": render(name, (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8"))
            for name in GUIDES}


def main() -> int:
    RST_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
