"""The README a newcomer reads in five minutes: short, the two commands first, and every
file it links to (the docs/ notes, the picture) there."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_at_most_250_lines_and_starts_with_the_two_commands():
    lines = README.splitlines()
    assert len(lines) <= 250
    assert lines[:3] == ["# irl-inr", "", "```bash"]
    assert lines[3].startswith("make run ") and lines[4].startswith("make test ") and lines[5] == "```"


def test_every_local_link_of_the_readme_and_docs_exists():
    documents = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md")),
                 PROJECT_ROOT / "benchmarks/README.md"]
    missing = []
    for document in documents:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")) and not (document.parent / target).exists():
                missing.append(f"{document.relative_to(PROJECT_ROOT)} -> {target}")
    assert missing == []


def test_the_notes_the_readme_moved_out_are_in_docs():
    for name in ("design.md", "results.md", "reproducibility.md", "benchmarks.md"):
        assert f"(docs/{name})" in README
        assert (PROJECT_ROOT / "docs" / name).read_text(encoding="utf-8").startswith("# ")
