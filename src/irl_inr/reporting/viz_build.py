"""Make kedro-viz's static build publishable: ``kedro viz build`` writes each dataset's
file path as Kedro resolved it, absolute (``/home/me/irl-inr/data/...``), into
``build/api/nodes/*``, and for a decorated node function its wrapper's file in the
virtual environment. This rewrites every path under the project folder relative to it
(``data/...``) and a library's from ``site-packages/`` on, so a published build does not
show where the project lived.

``python -m irl_inr.reporting.viz_build [build folder]`` (``make viz`` runs it after the
build); it prints how many files it changed."""

from __future__ import annotations

import json
import sys
from pathlib import Path


_INSTALLED = "/site-packages/"


def relative_paths(value, project: str):
    """``value`` (parsed JSON) with every string that starts with ``project`` + ``/``
    made relative to it (``project`` itself becomes ``.``) and every installed library's
    file named from ``site-packages/`` on (kedro-viz shows the wrapper's file for a node
    function under a decorator such as ``torch.no_grad``)."""
    if isinstance(value, dict):
        return {key: relative_paths(item, project) for key, item in value.items()}
    if isinstance(value, list):
        return [relative_paths(item, project) for item in value]
    if isinstance(value, str):
        if value == project:
            return "."
        if value.startswith(project + "/"):
            return value[len(project) + 1 :]
        if value.startswith("/") and _INSTALLED in value:  # a library's file (a decorator's wrapper)
            return value[value.index(_INSTALLED) + 1 :]
        return value.replace(f"{project}/", "")
    return value


def relativise_build(build: Path, project: Path) -> int:
    """Rewrite the JSON responses under ``build/api`` in place; returns the files changed."""
    root = str(project.resolve())
    changed = 0
    for path in sorted((build / "api").rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if root not in text and _INSTALLED not in text:
            continue
        rewritten = json.dumps(relative_paths(json.loads(text), root))
        path.write_text(rewritten, encoding="utf-8")
        changed += 1
    return changed


def main(arguments: list[str]) -> int:
    build = Path(arguments[0]) if arguments else Path("build")
    if not (build / "api").is_dir():
        print(f"{build}/api not found: run `kedro viz build` first", file=sys.stderr)
        return 1
    changed = relativise_build(build, Path.cwd())
    print(f"{build}: file paths made relative to the project in {changed} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
