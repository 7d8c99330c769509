# Copyright: lockstep.handoff contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's docsite: the guides of docs/ as RST extra docs in the Ansible docsite conventions,
and the strict antsibull-docs lint of those pages together with every plugin's and role's docs."""

from __future__ import annotations

import importlib.util

import yaml

from tests.support.ansible_run import COLLECTIONS_PATH, REPO_ROOT

from .conftest import run_tool

DOCSITE = REPO_ROOT / "docs" / "docsite"
_SPEC = importlib.util.spec_from_file_location("docsite_rst", REPO_ROOT / "scripts" / "lib" / "docsite_rst.py")
docsite_rst = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(docsite_rst)


def test_every_guide_in_docs_is_on_the_docsite():
    guides = sorted(path.stem for path in (REPO_ROOT / "docs").glob("*.md"))
    assert sorted(docsite_rst.GUIDES) == guides, "add the guide to GUIDES in scripts/lib/docsite_rst.py " \
                                                 "and to docs/docsite/extra-docs.yml, then run scripts/docsite"


def test_extra_docs_index_lists_the_guides_in_order():
    index = yaml.safe_load((DOCSITE / "extra-docs.yml").read_text())
    (section,) = index["sections"]
    assert [entry["ref"] for entry in section["toctree"]] == list(docsite_rst.GUIDES)


def test_committed_pages_are_what_the_guides_render_to():
    stale = [path.name for path, text in docsite_rst.rendered().items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    assert stale == [], "docs/docsite/rst is out of date with docs/*.md: run scripts/docsite"
    assert sorted(path.name for path in (DOCSITE / "rst").iterdir()) == sorted(f"{n}.rst" for n in docsite_rst.GUIDES)


def test_a_link_between_guides_becomes_a_docsite_reference():
    page = docsite_rst.render("protocol", "See [locking.md](locking.md) and [the spec](https://example.org/x.md).\n")
    assert ":ref:`locking.md <ansible_collections.lockstep.handoff.docsite.locking>`" in page
    assert "`the spec <https://example.org/x.md>`_" in page
    assert page.startswith(".. Generated from docs/protocol.md")
    assert ".. _ansible_collections.lockstep.handoff.docsite.protocol:\n" in page


def test_antsibull_docs_strict_lint_passes_on_extra_docs_and_plugin_docs():
    done = run_tool("antsibull-docs", "lint-collection-docs", "--plugin-docs", "--check-extra-docs-refs",
                    "--validate-collection-refs", "all", "--disallow-unknown-collection-refs",
                    COLLECTIONS_PATH / "ansible_collections" / "lockstep" / "handoff", timeout=600)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
