"""Read the CI pipeline files as graphs of `python -m ci` invocations.

Both files become the same model: nodes (a Buildkite step, a GitHub job) that
run `ci` commands in order and depend on other nodes. The tests check those
commands against ci's own argument parser, and the order of the stages against
``ci.pipeline.STAGES``, on the committed files and on broken copies.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ci.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
BUILDKITE = Path(".buildkite/pipeline.yml")
WORKFLOWS = Path(".github/workflows")
ENTRY_WORKFLOWS = ("ci.yml", "release.yml")
"""The workflows GitHub starts (stages.yml is only called by them)."""

_CONTROL = {"&&", "||", ";", "|", "&", ">", ">>", "<", "(", ")", "\n"}
_PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")


def load_yaml(path: Path) -> Any:
    """Parse YAML 1.2 (``on:`` stays a string), anchors and aliases resolved."""
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Invocation:
    """One `python -m ci ARGS` in a pipeline file."""

    node: str
    position: int
    argv: tuple[str, ...]
    source: str

    def __str__(self) -> str:
        return f"{self.node}: {self.source.strip()}"


@dataclass
class Node:
    """A Buildkite step or a GitHub job: its ci commands in order and what it needs."""

    name: str
    scripts: list[str] = field(default_factory=list)
    needs: set[str] = field(default_factory=set)
    condition: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """The nodes of one pipeline (GitHub: an entry workflow with its called ones)."""

    nodes: dict[str, Node]

    def ancestors(self, name: str) -> set[str]:
        """Every node that must finish before ``name`` starts."""
        seen: set[str] = set()
        todo = list(self.nodes[name].needs)
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(self.nodes[current].needs)
        return seen

    def invocations(self) -> list[Invocation]:
        """Every ci invocation, node by node, in script order."""
        found = []
        for node in self.nodes.values():
            position = 0
            for script in node.scripts:
                for argv, source in ci_commands(script):
                    found.append(Invocation(node.name, position, argv, source))
                    position += 1
        return found


# -- shell ---------------------------------------------------------------------------


def ci_commands(script: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """Yield the arguments after `python -m ci` of every such command in a shell script."""
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for start in range(len(tokens) - 2):
            if _PYTHON.match(tokens[start]) and tokens[start + 1 : start + 3] == ["-m", "ci"]:
                argv = list(itertools.takewhile(lambda t: t not in _CONTROL, tokens[start + 3 :]))
                yield tuple(argv), line


# -- ci's own parser -----------------------------------------------------------------


def parse(argv: tuple[str, ...]):
    """Parse a ci command line with ci's parser; ``None`` if argparse rejects it."""
    try:
        return build_parser().parse_args(list(argv))
    except SystemExit:
        return None


def stage_of(argv: tuple[str, ...]) -> str | None:
    """The stage a ci command runs: its name, or promote-<target> (None if it does not parse)."""
    parsed = parse(argv)
    if parsed is None:
        return None
    command = next(arg for arg in argv if not arg.startswith("-"))
    return f"promote-{parsed.to}" if command == "promote" else command


def check_order(graph: Graph, stages: tuple[str, ...]) -> list[str]:
    """Return why the graph does not run exactly ``stages`` in that order (empty: it does).

    A stage runs before a later one when both are in one node in that order, or
    when the later one's node (transitively) needs the earlier one's. Commands
    that are not stages (``ci status``) are ignored.
    """
    runs = [(stage_of(i.argv), i) for i in graph.invocations()]
    runs = [(stage, i) for stage, i in runs if stage in stages]
    problems = []
    present = {stage for stage, _ in runs}
    missing = [stage for stage in stages if stage not in present]
    if missing:
        problems.append(f"stages never run: {', '.join(missing)}")
    for (first, a), (second, b) in itertools.permutations(runs, 2):
        if stages.index(first) >= stages.index(second):
            continue
        same_node_before = a.node == b.node and a.position < b.position
        if not (same_node_before or a.node in graph.ancestors(b.node)):
            problems.append(f"{first} ({a.node}) does not run before {second} ({b.node})")
    return problems


def stages_run(graph: Graph, stages: tuple[str, ...]) -> list[str]:
    """The distinct stages of ``stages`` that the graph runs, in ``stages`` order."""
    present = {stage_of(i.argv) for i in graph.invocations()}
    return [stage for stage in stages if stage in present]


# -- Buildkite -----------------------------------------------------------------------


def buildkite_graph(path: Path) -> Graph:
    """The steps of a Buildkite pipeline; a matrix step's commands once per combination.

    A step with ``depends_on`` needs those steps only (explicit dependencies take
    precedence); one without needs every step before the last wait or block step.
    Group steps are not read (their commands would be missing from the graph).
    """
    steps = load_yaml(path)["steps"]
    nodes: dict[str, Node] = {}
    barrier: list[str] = []  # what steps without depends_on wait for
    before: list[str] = []
    for index, step in enumerate(steps):
        if isinstance(step, str) or "wait" in step:  # "wait", "block": everything before
            barrier = list(before)
            continue
        name = step.get("key") or f"step-{index}"
        depends = step.get("depends_on")
        if depends is None:
            needs = set(barrier)
        else:
            depends = [depends] if isinstance(depends, str) else depends
            needs = {d["step"] if isinstance(d, Mapping) else d for d in depends}
        node = Node(name, needs=needs, condition=step.get("if"), raw=step)
        commands = step.get("commands", step.get("command", []))
        commands = [commands] if isinstance(commands, str) else list(commands)
        script = "\n".join(commands).replace("$$", "$")
        node.scripts = list(_expand_matrix(script, step.get("matrix")))
        nodes[name] = node
        before.append(name)
        if "block" in step:
            barrier = list(before)
    return Graph(nodes)


def _expand_matrix(script: str, matrix: Any) -> Iterator[str]:
    if not matrix:
        yield script
        return
    setup = matrix["setup"] if isinstance(matrix, Mapping) else {"": matrix}
    names = list(setup)
    for values in itertools.product(*(setup[n] for n in names)):
        expanded = script
        for name, value in zip(names, values, strict=True):
            placeholder = "{{matrix." + name + "}}" if name else "{{matrix}}"
            expanded = expanded.replace(placeholder, str(value))
        yield expanded


def buildkite_matrix(path: Path, key: str) -> dict[str, list]:
    """The matrix setup of the step ``key``."""
    step = next(
        s for s in load_yaml(path)["steps"] if isinstance(s, Mapping) and s.get("key") == key
    )
    return dict(step["matrix"]["setup"])


# -- GitHub Actions ------------------------------------------------------------------


def github_graph(root: Path, workflow: str) -> Graph:
    """The jobs of an entry workflow, with the jobs of the workflows it calls inlined.

    A job that calls ``./.github/workflows/X.yml`` becomes the called jobs
    (named ``job/called-job``); a job needing the caller needs all of them.
    """
    nodes: dict[str, Node] = {}
    _add_jobs(root, root / WORKFLOWS / workflow, "", nodes)
    return Graph(nodes)


def _add_jobs(root: Path, path: Path, prefix: str, nodes: dict[str, Node]) -> set[str]:
    jobs = load_yaml(path)["jobs"]
    members: dict[str, set[str]] = {}
    for job_id, job in jobs.items():
        uses = job.get("uses", "")
        if uses.startswith("./"):
            members[job_id] = _add_jobs(root, root / uses, f"{prefix}{job_id}/", nodes)
        else:
            name = f"{prefix}{job_id}"
            scripts = [step["run"] for step in job.get("steps", []) if "run" in step]
            nodes[name] = Node(name, scripts=scripts, condition=job.get("if"), raw=job)
            members[job_id] = {name}
    for job_id, job in jobs.items():
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        wanted = set().union(*(members[n] for n in needs)) if needs else set()
        for name in members[job_id]:
            nodes[name].needs |= wanted
    return set().union(*members.values())


def github_steps(root: Path) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every step of every workflow: (file name, job id, step)."""
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        for job_id, job in load_yaml(path)["jobs"].items():
            for step in job.get("steps", []):
                yield path.name, job_id, step


# -- GitHub filter patterns ----------------------------------------------------------


def github_pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a GitHub branch or tag filter pattern (``*``, ``**``, ``?``, ``+``, ``[]``)."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            out.append(char)
        elif char == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def github_filter_matches(patterns: list[str], ref: str) -> bool:
    """Whether GitHub's filter ``patterns`` select ``ref`` (the last matching pattern wins)."""
    selected = False
    for pattern in patterns:
        negative = pattern.startswith("!")
        if github_pattern_regex(pattern.removeprefix("!")).fullmatch(ref):
            selected = not negative
    return selected


# -- broken copies -------------------------------------------------------------------


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path``; fail if there is not exactly one."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name}: expected {old!r} once, found {text.count(old)}"
    path.write_text(text.replace(old, new), encoding="utf-8")
