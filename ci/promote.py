"""``ci promote`` and ``ci approve``: move a release between indexes by policy.

devpi enforces who may upload where; this module enforces when:

- unstable -> testing: every configured suite passed, on at least one Python and
  failed on none, for the exact wheel (same sha256) on the index;
- testing -> stable: the version is final (no dev, pre, post or local part), it
  is on testing, QA approved it, either with ``ci approve`` or by tagging the
  commit of a release candidate that reached testing with the final version
  (a signed tag when ``[approval] require_signed_tags`` is set), and the
  benchmark gate passed: the latest ``ci bench`` run of that wheel found no
  regression, or the regression was accepted with ``--accept-regression WHY``.

Every promotion is recorded in ``release.json`` (who, when, from, to, evidence,
and for stable how QA approved and the benchmark run, with any accepted
regression and its reason). Only the files that were published and
verified (by sha256) are pushed. A promotion is a transaction
(:mod:`ci.transaction`): its intent is recorded, then the files are pushed,
then the promotion is recorded, all under the version's transaction lock, so
two promotions racing give exactly one effect (one push, one promotion
record), and a promotion killed at any instant is finished or undone by the
next stage of the version. A push that still loses a race (an object-store
archive has no lock) finds the files there and counts as done.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ci import faults, git, names, transaction, verdict
from ci.archive import Archive
from ci.bench import regressed, runs
from ci.config import PipelineConfig
from ci.devpi import connect
from ci.distribution import is_final
from ci.errors import CIError
from ci.index import DevpiRefusedError
from ci.release import (
    RELEASED,
    actor,
    now,
    read_record,
    require_published,
    stage,
    update_record,
    wheel_of,
)
from ci.session import State
from ci.verify import evidence_for

logger = logging.getLogger(__name__)

STAGES = ("unstable", "testing", "stable")
QA_KEYRING_ENV = "QA_KEYRING"


def promote(
    state: State, project: str, version: str, target: str, accept_regression: str | None = None
) -> str:
    """Promote ``version`` to ``target`` if the policy allows; return what happened.

    ``accept_regression`` is the reason to promote to stable despite a
    benchmark regression (recorded with the promotion).

    Raises
    ------
    CIError
        With one line saying why the promotion is refused and what to do.
    """
    config, archive = state.config, state.archive
    names.version(version)
    source = STAGES[STAGES.index(target) - 1]
    role = "qa" if target == "stable" else "ci"
    indexes = config.indexes.model_dump()
    with connect(role) as client, transaction.locked(archive, project, version):
        record = transaction.settle(archive, client, indexes, project, version)
        record = require_published(record, project, version)
        if any(p["to"] == target for p in record["promotions"]):
            return "already on"
        promotion = _allowed(state, record, target, accept_regression)
        _check_source_files(client, indexes[source], record)
        intent = {"action": "promote", "to": target, "promotion": promotion}
        transaction.begin(archive, project, version, intent)
        faults.point("promote.intent")
        _push(client, indexes[source], project, version, indexes[target])
        faults.point("promote.pushed")
        transaction.confirm(archive, project, version)
    return "promoted to"


def _allowed(state: State, record: dict, target: str, accept_regression: str | None) -> dict:
    """Return the promotion to record if the policy allows it; refuse in one line if not."""
    config, archive = state.config, state.archive
    source = STAGES[STAGES.index(target) - 1]
    if target == "stable":
        _check_final(record)
    evidence = _passing_evidence(archive, config, record)
    approval = _check_stable(state, record) if target == "stable" else None
    benchmarks = (
        _check_benchmarks(config, archive, record, accept_regression)
        if target == "stable"
        else None
    )
    reached = stage(record)
    if STAGES.index(reached) < STAGES.index(source):
        raise CIError(
            f"{record['project']} {record['version']} is on {reached}, not {source}",
            tip=f"promote it to {source} first",
        )
    promotion = {
        "from": source,
        "to": target,
        "who": actor(),
        "when": now(),
        "sha256": wheel_of(record)["sha256"],
        "evidence": evidence,
    }
    if approval is not None:
        promotion["approval"] = approval
    if benchmarks is not None:
        promotion["benchmarks"] = benchmarks
    return promotion


def _check_source_files(client, index: str, record: dict) -> None:
    """Refuse to push files other than the ones published and verified (by sha256)."""
    published = {f["filename"]: f["sha256"] for f in record["files"]}
    on_index = {
        f.filename: f.sha256
        for f in client.release_files(index, record["project"], record["version"])
    }
    changed = sorted(name for name, sha in on_index.items() if published.get(name) != sha)
    if changed:
        raise CIError(
            f"{record['project']} {record['version']}: {index} holds other files than the "
            f"ones published and verified ({', '.join(changed)})",
            tip="publish and verify this version again, or release a new version",
        )


def _push(client, source: str, project: str, version: str, target: str) -> str:
    """Push a release; a push that lost a race to an identical one counts as done."""
    try:
        return client.push(source, project, version, target)
    except DevpiRefusedError as exc:
        if exc.status != 409:  # 409: a file of that name arrived on the target meanwhile
            raise
        return client.push(source, project, version, target)  # "already there" or a conflict


def approve(state: State, project: str, version: str, who: str, notes: str) -> str:
    """Record QA's approval; the QA credentials must log in, which proves the role.

    Safe to re-run: the same approver with the same notes is recorded once.
    """
    archive = state.archive
    names.version(version)
    indexes = state.config.indexes.model_dump()
    with connect("qa") as client:
        logger.info("approval by %s checked against %s", client.user, client.display_url)
        transaction.settled_record(archive, client, indexes, project, version)
    approval = {"who": who, "when": now(), "notes": notes, "how": "ci approve"}

    def add_approval(record: dict) -> bool:
        if any((a["who"], a["notes"]) == (who, notes) for a in record["approvals"]):
            return False
        record["approvals"].append(approval)
        return True

    update_record(archive, project, version, add_approval)
    return who


def _passing_evidence(archive: Archive, config: PipelineConfig, record: dict) -> list[dict]:
    """Return the evidence that every configured suite passed for this wheel, or refuse.

    Each as the promotion records it: suite, python, status and counts.
    """
    sha = wheel_of(record)["sha256"]
    found = [
        e
        for e in evidence_for(archive, record["project"], record["version"])
        if e.file.sha256 == sha
    ]
    for suite in config.verify.suites:
        results = [e for e in found if e.suite == suite]
        failed = [f"py{e.python}" for e in results if e.status == "failed"]
        if failed:
            raise CIError(
                f"{record['project']} {record['version']}: suite {suite} failed on "
                f"{', '.join(failed)}",
                tip="fix the failure and release a new version",
            )
        if not any(e.status == "passed" for e in results):
            raise CIError(
                f"{record['project']} {record['version']}: no passing {suite} suite for wheel "
                f"{sha[:12]}",
                tip="run `python -m ci verify` first",
            )
    return [
        e.model_dump(include={"suite", "python", "status", "passed", "failed"})
        for e in found
        if e.status != "skipped"
    ]


def _check_final(record: dict) -> None:
    """Refuse stable for versions with a dev, pre, post or local part."""
    name, version = record["project"], record["version"]
    if not is_final(Version(version)):
        raise CIError(
            f"{name} {version} is not a final version; only final versions go to stable",
            tip="tag the approved candidate's commit with the final version (e.g. 1.2.0)",
        )


def _check_stable(state: State, record: dict) -> dict:
    """Refuse stable for versions QA did not approve; return how QA approved it."""
    name, version = record["project"], record["version"]
    if record["approvals"]:
        return {"how": "ci approve", "who": [a["who"] for a in record["approvals"]]}
    by_tag = _approved_by_tag(state, record)
    if by_tag is not None:
        return by_tag
    raise CIError(
        f"{name} {version} has no QA approval",
        tip=f"QA runs `python -m ci approve {version}`, or tags an approved candidate's commit",
    )


def _check_benchmarks(
    config: PipelineConfig, archive: Archive, record: dict, accept_regression: str | None
) -> dict | None:
    """Refuse stable for an unaccepted benchmark regression; return the gate's record.

    The latest ``ci bench`` run of the version's wheel decides; without one the
    promotion is refused when ``[bench] required`` is set.
    """
    name, version = record["project"], record["version"]
    sha = wheel_of(record)["sha256"]
    measured = [r for r in runs(archive, name, version) if r["sha256"]["candidate"] == sha]
    if not measured:
        if not config.bench.required:
            return None
        raise CIError(
            f"{name} {version} has no benchmark run for wheel {sha[:12]}",
            tip=f"run `python -m ci bench {version}` first",
        )
    latest = measured[-1]
    gate = {"run": latest["run"], "verdict": latest["verdict"], "baseline": latest["baseline"]}
    drifted = latest.get("drift")
    if drifted:
        gate["drift"] = {"reference": drifted["reference"], "verdict": drifted["verdict"]}
    if not regressed(latest):
        return gate
    if not accept_regression:
        if latest["verdict"] == "slower":
            what = f"slower than {latest['baseline']}"
            rows = latest["benchmarks"]
        else:
            what = (
                f"more than +{drifted['max_drift']:.0%} slower than {drifted['reference']}, "
                "the fastest recent stable release,"
            )
            rows = drifted["benchmarks"]
        decides = latest.get("gate", verdict.GATE)
        slower = [b for b in rows if b["verdict"] == "slower" and verdict.gates(b["unit"], decides)]
        worst = max(slower, key=lambda b: b["ratio"])
        raise CIError(
            f"{name} {version} is {what} in {len(slower)} benchmark(s), "
            f"e.g. {worst['name'].rsplit('::', 1)[-1]} x{worst['ratio']:.2f} (run {latest['run']})",
            tip="fix it and release again, or accept it: --accept-regression 'why'",
        )
    return {**gate, "accepted_regression": {"reason": accept_regression, "who": actor()}}


def _approved_by_tag(state: State, record: dict) -> dict | None:
    """How the final tag approves the version, if it sits on a tested candidate's commit.

    Tags count by the version they name, so ``v1.2.0`` approves 1.2.0 and
    ``v1.2.0rc1`` is the candidate 1.2.0rc1.
    """
    version = record["version"]
    root, config, archive = state.root, state.config, state.archive
    tags = git.tags_of(root, record["commit"])
    finals = [t for t in tags if _version_of(t) == Version(version)]
    if not finals:
        return None
    candidates = [
        t
        for t in tags
        if _is_candidate_of(t, version)
        and stage(read_record(archive, record["project"], str(Version(t)))) in RELEASED
    ]
    if not candidates:
        return None
    approval = {"how": "tag", "tag": finals[0], "candidates": candidates, "signed": False}
    if config.approval.require_signed_tags:
        keyring = os.environ.get(QA_KEYRING_ENV)
        if not keyring:
            raise CIError(
                f"signed tags are required but {QA_KEYRING_ENV} is not set",
                tip=f"point {QA_KEYRING_ENV} at the GnuPG home holding the QA public keys",
            )
        signed = [t for t in finals if git.tag_is_signed_by(root, t, Path(keyring))]
        if not signed:
            raise CIError(
                f"tag {finals[0]} is not signed by a key on the QA keyring",
                tip="QA signs the final tag: git tag -s VERSION COMMIT",
            )
        approval.update(tag=signed[0], signed=True)
    return approval


def _version_of(tag: str) -> Version | None:
    try:
        return Version(tag)
    except InvalidVersion:
        return None


def _is_candidate_of(tag: str, version: str) -> bool:
    candidate = _version_of(tag)
    return (
        candidate is not None
        and candidate.is_prerelease
        and candidate.base_version == Version(version).base_version
    )
