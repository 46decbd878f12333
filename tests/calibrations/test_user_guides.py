"""The guides work as written: QA promotes the released candidate, then a user installs it.

Each guide page runs as one bash session, in order: every command of its
``console`` blocks (the ``$ `` lines), every ``python`` block (through
``python -``), and every ``{code-block}`` with a ``:caption:`` written to the
file it names. A command must succeed, and the output lines the page shows
under it must appear in its output in that order (whitespace runs are one
space; ``...`` stands for anything). The pages name the local pipeline's
server, ``http://127.0.0.1:3141``; the test puts the clone's in its place.

The QA guide runs in the released clone (``1.0.0rc1`` on testing) and takes
``1.0.0`` to stable; the user guides then run in an empty folder with a new
virtual environment installed from that stable index. Both also show that
each version carries its own documentation on devpi.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ci.index import DevpiClient
from tests.calibrations.conftest import CONFIG, ROOT, Clone

DOCS = ROOT / "docs"
GUIDE_SERVER = "http://127.0.0.1:3141"
MARK = "@@guide-step "


@dataclass
class Step:
    """One thing a page asks the reader to do, and the output lines it shows."""

    page: str
    script: str
    expected: list[str] = field(default_factory=list)


def steps(page: Path) -> list[Step]:
    """Return the runnable steps of a MyST page, in order."""
    found: list[Step] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"```(\{code-block\}\s*)?(\w*)\s*", lines[i])
        i += 1
        if not opening:
            continue
        language, options, body = opening.group(2), {}, []
        while lines[i].startswith(":") and opening.group(1):
            key, _, value = lines[i][1:].partition(":")
            options[key.strip()] = value.strip()
            i += 1
        while lines[i] != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if options:
            body = body[1:] if body and not body[0] else body  # the blank line after options
        found += _block_steps(page.name, language, options, body)
    return found


def _block_steps(page: str, language: str, options: dict, body: list[str]) -> list[Step]:
    if language == "console":
        found: list[Step] = []
        for line in body:
            if line.startswith("$ "):
                found.append(Step(page, line[2:]))
            elif found:
                found[-1].expected.append(line)
        return found
    text = "\n".join(body)
    if language == "python":
        return [Step(page, f"python - <<'GUIDE_EOF'\n{text}\nGUIDE_EOF")]
    if "caption" in options:
        return [Step(page, f"cat > {options['caption']} <<'GUIDE_EOF'\n{text}\nGUIDE_EOF")]
    return []


def run_guide(
    pages: list[str], cwd: Path, env: dict[str, str], server: str, timeout: float
) -> list[tuple[Step, str]]:
    """Run the steps of ``pages`` in one bash session; return each step with its output.

    Fails the test at the first step that fails, naming it and showing its output.
    """
    todo = [s for page in pages for s in steps(DOCS / page)]
    assert todo, f"no runnable steps in {pages}"
    script = ["set -eo pipefail", "exec 2>&1"]
    for number, step in enumerate(todo):
        script += [f"echo '{MARK}{number}'", step.script.replace(GUIDE_SERVER, server)]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    outputs = re.split(rf"^{re.escape(MARK)}\d+\n", result.stdout, flags=re.M)[1:]
    if result.returncode != 0:
        failed = todo[len(outputs) - 1]
        pytest.fail(f"{failed.page}: `{failed.script}` failed:\n{outputs[-1][-6000:]}")
    return list(zip(todo, outputs, strict=True))


def assert_outputs_shown(done: list[tuple[Step, str]], server: str) -> None:
    """Each step's shown output lines appear in its real output, in order."""
    for step, output in done:
        actual = [_spaces(line) for line in output.splitlines()]
        position = 0
        for wanted in step.expected:
            shown = _spaces(wanted.replace(GUIDE_SERVER, server))
            pattern = ".*".join(re.escape(part) for part in shown.split("..."))
            while position < len(actual) and not re.fullmatch(pattern, actual[position]):
                position += 1
            assert position < len(actual), (
                f"{step.page}: `{step.script}` did not print {wanted!r} (in order); it printed:\n"
                f"{output[-4000:]}"
            )
            position += 1


def _spaces(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture(scope="module")
def qa_guide(released: Clone) -> tuple[Clone, str]:
    """Run the QA guide in the released clone; return the clone and its server URL."""
    status = released.ci("devpi", "status")
    server = re.search(r"running at (\S+)", status.stdout).group(1)
    no_calibrations = CONFIG.replace('calibrations = ["sir-boarding-school"]', "calibrations = []")
    env = {**released.env, **released.config("guides", no_calibrations)}
    done = run_guide(["qa.md"], released.path, env, server, timeout=1800)
    assert_outputs_shown(done, server)
    return released, server


def test_the_qa_guide_takes_the_candidate_to_stable(qa_guide: tuple[Clone, str]):
    clone, _ = qa_guide
    record = clone.archive.parent / "1.0.0" / "release.json"
    assert '"to": "stable"' in record.read_text()


def test_every_version_carries_its_own_documentation(qa_guide: tuple[Clone, str], tmp_path):
    _, server = qa_guide
    with DevpiClient(server) as client:
        for index, version in (("ci/testing", "1.0.0rc1"), ("qa/stable", "1.0.0")):
            doczip = client.download(client.docs(index, "epicast", version), tmp_path / version)
            assert doczip.name == f"epicast-{version}.doc.zip"
            with zipfile.ZipFile(doczip) as docs:
                assert {"index.html", "install.html", "qa.html", "reference/cli.html"} <= set(
                    docs.namelist()
                )
                assert f"epicast {version}" in docs.read("index.html").decode()


def test_the_user_guides_install_run_and_calibrate(qa_guide: tuple[Clone, str], tmp_path):
    clone, server = qa_guide
    home = tmp_path / "work"
    home.mkdir()
    env = {
        key: value
        for key, value in clone.env.items()
        if not key.startswith(("VIRTUAL_ENV", "CI_", "PYTHON"))
    }
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        EPICAST_INDEX_URL=f"{server}/qa/stable/+simple/",
    )
    # A reader's shell: no tool environment on PATH, so `python3` is the machine's.
    env["PATH"] = os.pathsep.join(
        part for part in env["PATH"].split(os.pathsep) if not part.startswith(str(ROOT))
    )
    done = run_guide(["install.md", "users.md", "calibration.md"], home, env, server, 1800)
    assert_outputs_shown(done, server)
    assert (home / "gbr.png").stat().st_size > 10_000
    assert sorted(p.name for p in (home / "figures").iterdir()) == [
        "fit.png",
        "posterior.png",
        "traces.png",
    ]
