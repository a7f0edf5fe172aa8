"""Assignment folders: everything that grades one assignment, in one folder next to its source.

``<course>/graders/<name>/`` holds what decides an assignment's grades, apart from its nbgrader
source (``solutions/<name>/``): the hidden suite, the probes that run next to student code, the
hints for its usual errors, the corpus of submissions it must grade right, and the theory of its
variants. A course finds its own assignment folders there without editing the kit; the kit's
own two live in the kit's course and are found after the course's. Never inside the nbgrader
source folder: nbgrader copies that folder's files into the release students get.
``docs/assignments.md`` walks through adding a check and an assignment.

The folder is a Python package named after it (its suite imports its own helpers relatively); its
parent folder goes on ``sys.path`` when it is loaded.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from autograder.course import KIT_COURSE

FOLDER = "graders"  # in a course root: its assignment folders


class GraderError(Exception):
    """An assignment folder is missing or does not hold what the contract asks for."""


@dataclass(frozen=True)
class Entry:
    path: str
    required: bool
    what: str


# The contract of an assignment folder: checked on load (``contract_problems``), documented in
# docs/assignments.md. The suite's own contract (points and part tags that add up to the notebook's
# grade cells) is checked before grading by ``autograder.engine.contract``.
CONTRACT = (
    Entry("__init__.py", True, "marks the folder as a package (a docstring saying what it grades)"),
    Entry("suite/__init__.py", True, "the hidden pytest suite's package"),
    Entry("suite/test_*.py", True, "the hidden tests: each with @pytest.mark.points(n) and "
                                   "@pytest.mark.tags(part, ...), the part first"),
    Entry("probes.py", True, "runs in the worker, next to student code: probe_NAME(ns, **args) functions "
                             "that return plain data (numbers, strings, arrays)"),
    Entry("corpus.py", True, "WRONG and RIGHT: lists of autograder.corpus.Case the kit must grade right"),
    Entry("hints.py", False, "HINTS: (text in an error, hint) pairs for the assignment's usual errors"),
    Entry("variants.py", False, "RULES: an autograder.variants.Rules (no variants without it)"),
)


@dataclass(frozen=True)
class GraderFolder:
    name: str
    path: Path

    @property
    def suite_dir(self) -> Path:
        return self.path / "suite"

    @property
    def probes_file(self) -> Path:
        return self.path / "probes.py"

    def module(self, name: str) -> ModuleType:
        """``<folder>.<name>`` (``hints``, ``corpus``, ``variants``), imported on the trusted side."""
        make_importable(self)
        return importlib.import_module(f"{self.name}.{name}")

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.py").is_file()

    def hints(self) -> list[tuple[str, str]]:
        if not self.has("hints"):
            return []
        hints = getattr(self.module("hints"), "HINTS", None)
        if not isinstance(hints, list | tuple) or not all(
                isinstance(h, tuple) and len(h) == 2 and all(isinstance(s, str) for s in h) for h in hints):
            raise GraderError(f"{self.path / 'hints.py'} must define HINTS, a list of (text in an error, hint) "
                              "string pairs")
        return list(hints)

    def corpus(self) -> ModuleType:
        corpus = self.module("corpus")
        missing = [name for name in ("WRONG", "RIGHT") if not isinstance(getattr(corpus, name, None), list)]
        if missing:
            raise GraderError(f"{self.path / 'corpus.py'} must define {' and '.join(missing)} "
                              "(lists of autograder.corpus.Case)")
        return corpus

    def rules(self) -> Any | None:
        """The variant rules (``variants.py``'s RULES), or None: the assignment has no variants."""
        if not self.has("variants"):
            return None
        rules = getattr(self.module("variants"), "RULES", None)
        if rules is None:
            raise GraderError(f"{self.path / 'variants.py'} must define RULES (an autograder.variants.Rules)")
        return rules

    def preload(self) -> tuple[str, ...]:
        """What ``probes.py`` imports, for the fork server to import once (``torch.optim`` brings
        ``torch._dynamo``: 2-3 s in every worker otherwise). Read with ``ast``: the trusted side
        never imports the probes (they import torch)."""
        tree = parsed(self.probes_file)
        names: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
        return tuple(dict.fromkeys(n for n in names if n != "__future__"))

    def grading_files(self) -> list[Path]:
        """The files that decide a grade or its feedback, for the regrade digest: the folder's suite,
        probes and hints (not the corpus or the variant rules, which only check the kit), and those of
        the assignment folders they import from (one assignment may build on another's theory)."""
        own = [*self.suite_dir.rglob("*.py"), self.path / "__init__.py", self.probes_file]
        if self.has("hints"):
            own.append(self.path / "hints.py")
        own = [f for f in own if "__pycache__" not in f.parts]
        used = [f for name in self.uses(own) for f in (self.path.parent / name).rglob("*.py")
                if "__pycache__" not in f.parts and f.name not in ("corpus.py", "variants.py")]
        return sorted({*own, *used})

    def uses(self, files: list[Path] | None = None) -> list[str]:
        """The other assignment folders beside this one that ``files`` (default: all of its own) import."""
        names = set()
        for path in files if files is not None else self.path.rglob("*.py"):
            for node in ast.walk(parsed(path)):
                roots = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
                names.update(r.split(".")[0] for r in roots)
        return sorted(n for n in names - {self.name} if (self.path.parent / n / "__init__.py").is_file())


def search_path(course_root: Path) -> list[Path]:
    """Where assignment folders are looked for: the course's own first, then the kit's."""
    folders = [course_root.resolve() / FOLDER, KIT_COURSE / FOLDER]
    return list(dict.fromkeys(f for f in folders if f.is_dir()))


def known(course_root: Path) -> list[str]:
    return sorted({p.name for folder in search_path(course_root) for p in folder.iterdir()
                   if (p / "__init__.py").is_file()})


def find(name: str, course_root: Path) -> GraderFolder:
    """The assignment folder ``name``, checked against the contract."""
    for folder in search_path(course_root):
        if (folder / name).is_dir():
            grader = GraderFolder(name, folder / name)
            problems = contract_problems(grader)
            if problems:
                raise GraderError(f"the assignment folder {grader.path} does not hold what an assignment needs "
                                  "(docs/assignments.md): " + "; ".join(problems))
            return grader
    where = " or ".join(str(f) for f in [course_root.resolve() / FOLDER, KIT_COURSE / FOLDER])
    raise GraderError(f"no assignment folder {name!r} in {where} (known: {', '.join(known(course_root)) or 'none'})")


def contract_problems(grader: GraderFolder) -> list[str]:
    """What the folder lacks, each naming the file and what it must provide (no import of its code)."""
    problems = []
    if not grader.name.isidentifier():
        problems.append(f"its name {grader.name!r} must be a Python identifier (it is imported as a package)")
    elif where := shadowed(grader):
        problems.append(f"its name {grader.name!r} is also an installed module ({where}): rename it")
    for entry in CONTRACT:
        if not entry.required:
            continue
        present = any(grader.path.glob(entry.path)) if "*" in entry.path else (grader.path / entry.path).is_file()
        if not present:
            problems.append(f"{entry.path} is missing ({entry.what})")
    if grader.probes_file.is_file():
        try:
            tree = parsed(grader.probes_file)
        except SyntaxError as exc:
            problems.append(f"probes.py does not parse (line {exc.lineno}: {exc.msg})")
        else:
            if not any(isinstance(n, ast.FunctionDef) and n.name.startswith("probe_") for n in tree.body):
                problems.append("probes.py defines no probe_NAME function")
    return problems


_PARSED: dict[tuple[str, int, int], ast.Module] = {}


def parsed(path: Path) -> ast.Module:
    """``path`` parsed, once per version of the file: every notebook graded loads its assignment
    (the contract reads ``probes.py``, the fork server's preload too), 6 ms a parse."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = ast.parse(path.read_text(), str(path))
    return _PARSED[key]


def shadowed(grader: GraderFolder) -> str | None:
    """Where an installed module of the folder's name lives, if one does (outside assignment folders)."""
    others = [p for p in sys.path if Path(p or ".").resolve().name != FOLDER]
    spec = importlib.machinery.PathFinder.find_spec(grader.name, others)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return None if spec is None or grader.name not in sys.builtin_module_names else "built in"
    return spec.origin


def make_importable(grader: GraderFolder) -> None:
    """Put the folder's parent first on ``sys.path``, and forget a same-named assignment package of
    another course imported earlier in this process (the kit's tests grade several courses)."""
    parent = str(grader.path.parent)
    loaded = sys.modules.get(grader.name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent != grader.path:
        for mod in [m for m in sys.modules if m == grader.name or m.startswith(grader.name + ".")]:
            del sys.modules[mod]
    if not sys.path or sys.path[0] != parent:
        if parent in sys.path:
            sys.path.remove(parent)
        sys.path.insert(0, parent)
        importlib.invalidate_caches()
