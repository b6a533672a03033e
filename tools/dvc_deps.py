"""The source files each DVC stage really runs, from the import graph.

A stage's code starts from the pipeline modules and dataset classes it lists in
``dvc.yaml`` (``src/irl_inr/pipelines/...``, ``src/irl_inr/datasets/...``, ``src/irl_inr/domains/...``); everything they
import from ``irl_inr``, transitively, is code the stage runs and must be a dependency, or
an edit to it would not rerun the stage.

    python tools/dvc_deps.py            # lists, per stage, the modules dvc.yaml lacks
    python tools/dvc_deps.py --write    # rewrites those stages' src deps as the closure

``tests/test_dvc_deps.py`` checks that no stage lacks one.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SOURCE = PROJECT_ROOT / "src"
SEED_FOLDERS = ("src/irl_inr/pipelines/", "src/irl_inr/datasets/", "src/irl_inr/domains/")


def module_file(name: str) -> Path | None:
    """The file of module ``irl_inr.x.y`` (a package's ``__init__.py``), or None."""
    base = SOURCE.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The ``irl_inr`` modules a file imports (``from irl_inr.a import b`` counts ``irl_inr.a``
    and, when it is a module, ``irl_inr.a.b``).  Parent packages' ``__init__`` files are
    not followed: Kedro imports every pipeline package anyway, and what a stage *runs* is
    what its nodes import."""
    names: set[str] = set()
    package = ".".join(path.relative_to(SOURCE).with_suffix("").parts)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("irl_inr"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")[: -node.level]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not base.startswith("irl_inr"):
                continue
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}"))
    return {name for name in names if module_file(name)}


def closure(seeds: list[Path]) -> set[Path]:
    """Every source file reachable from ``seeds`` through ``irl_inr`` imports."""
    seen: set[Path] = set()
    todo = list(seeds)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(module_file(name) for name in imported_modules(path))
    return seen


def stage_seeds(deps: list[str]) -> list[Path]:
    """The stage's own pipeline modules and dataset classes (files, or every file of a folder)."""
    seeds: list[Path] = []
    for dep in deps:
        if not dep.startswith(SEED_FOLDERS):
            continue
        path = PROJECT_ROOT / dep
        seeds.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return seeds


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(PROJECT_ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


def missing_dependencies(stages: dict) -> dict[str, list[str]]:
    """Per stage, the source files it runs that its deps do not cover."""
    missing = {}
    for name, stage in stages.items():
        deps = stage.get("deps", [])
        lacking = sorted(
            str(path.relative_to(PROJECT_ROOT)) for path in closure(stage_seeds(deps)) if not covered(path, deps)
        )
        if lacking:
            missing[name] = lacking
    return missing


def rewritten(stage: dict) -> list[str]:
    """The stage's deps with its src entries replaced by seeds' folders + the closure's files."""
    deps = stage.get("deps", [])
    data = [dep for dep in deps if not dep.startswith("src/")]
    seeds = [dep for dep in deps if dep.startswith(SEED_FOLDERS)]
    files = sorted(
        str(path.relative_to(PROJECT_ROOT)) for path in closure(stage_seeds(deps)) if not covered(path, seeds)
    )
    return data + seeds + files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's src deps of stages that lack some")
    args = parser.parse_args()
    dvc_file = PROJECT_ROOT / "dvc.yaml"
    text = dvc_file.read_text()
    stages = yaml.safe_load(text)["stages"]
    missing = missing_dependencies(stages)
    for name, files in missing.items():
        print(f"{name}: lacks {', '.join(files)}")
    if args.write and missing:
        for name in missing:
            old = stages[name]["deps"]
            block = "    deps:\n" + "".join(f"      - {dep}\n" for dep in old)
            new = "    deps:\n" + "".join(f"      - {dep}\n" for dep in rewritten(stages[name]))
            start = text.index(f"\n  {name}:\n")
            at = text.index(block, start)
            text = text[:at] + new + text[at + len(block) :]
        dvc_file.write_text(text)


if __name__ == "__main__":
    main()
