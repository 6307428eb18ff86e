"""From a failing case (or a campaign bucket) to a reduced case, a verified repro and a report.

Files, in the bucket directory (or ``--out`` for a case file), each written atomically:

- ``reduced.case.json``, ``reduced.outcome.json``, ``reduction.json`` (figures, steps, flakiness)
- ``repro.py`` and ``verification.json`` (fresh-process runs)
- ``report.md``, with ``controls.json`` (its control cases' outcomes) and, for a crash whose
  stored traceback lost the failing frames, ``traceback.txt`` (one more fresh run's)
- ``issue.md`` when the repro is verified: the file-ready issue (reducer.issue)

Each step reuses what an earlier step left, so ``armfuzz report`` after ``armfuzz reduce``
does not reduce again, and a killed run loses at most the step it was in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from fuzz.core.errors import CaseError
from fuzz.core.fsutil import atomic_write
from fuzz.execution import envs
from fuzz.execution.pool import ReleasePool
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome
from fuzz.replay.corpus import observed
from fuzz.triage import known
from reducer import issue, repro, traceback_tail
from reducer.report import Control, control_cases, judge_controls, render_report, report_traceback
from reducer.shrink import Budget, Reducer, Step


@dataclass
class Source:
    """Where a failing case comes from, and where its products go."""

    case: Case
    signature: str | None
    out: Path


def locate_source(path: Path, out: Path | None = None) -> Source:
    """A bucket or bug dir (signature.txt + smallest/first case), a corpus entry, or a case file."""
    if path.is_dir():
        merged = _merged_into(path)
        if merged:
            raise CaseError(f"{path}: this bug is now part of bug {merged}; reduce {path.parent / merged} instead")
        for name in ("smallest.case.json", "first.case.json", "case.json"):
            if (path / name).exists():
                case = Case.load(path / name)
                break
        else:
            raise CaseError(f"{path}: no smallest.case.json, first.case.json or case.json; pass a bucket, a corpus entry or a case file")
        sig = (path / "signature.txt").read_text().strip() if (path / "signature.txt").exists() else None
        return Source(case, sig, out or path)
    case = Case.load(path)
    return Source(case, None, out or path.with_name(path.name.removesuffix(".json").removesuffix(".case") + ".reduced"))


def reduce_source(src: Source, session: ReleasePool, budget: Budget, allow_target_change: bool = True,
                  confirm_runs: int = 3, on_step: Callable[[Step], None] | None = None) -> dict[str, Any]:
    signature = src.signature
    if signature is None:
        signature = observed(session.evaluate([src.case])[0])
        if signature == "pass":
            raise CaseError(f"the case passes on executorch {session.release}: nothing to reduce")
    reducer = Reducer(session.evaluate, width=session.width, budget=budget, allow_target_change=allow_target_change,
                      confirm_runs=confirm_runs, on_step=on_step)
    r = reducer.run(src.case, signature)
    summary = {"release": session.release, **r.summary()}
    if not r.reproduced:
        summary["error"] = f"the case does not fail with {signature} on executorch {session.release}"
    else:
        r.reduced.save(src.out / "reduced.case.json")
        atomic_write(src.out / "reduced.outcome.json", json.dumps(r.outcome.to_dict(), indent=2) + "\n")
    atomic_write(src.out / "reduction.json", json.dumps(summary, indent=2) + "\n")
    return summary


def render_source(out: Path, release: str, runs: int = 1, verify: bool = True, python: str | None = None) -> dict[str, Any]:
    """Render ``repro.py`` for the reduced case and run it in a fresh process ``runs`` times,
    on ``python`` (default: envs.verification_python)."""
    case, outcome = load_reduced(out)
    script = repro.render(case, outcome.signature, release)
    atomic_write(out / "repro.py", script)
    (out / "traceback.txt").unlink(missing_ok=True)  # a run of the repro before this one (another release, another case)
    if not verify:
        return {"verified": False, "runs": 0}
    v = repro.verify(script, case, outcome.signature, python or envs.verification_python(release), runs)
    atomic_write(out / "verification.json", json.dumps(v.to_dict(), indent=2) + "\n")
    return v.to_dict()


def evaluate_controls(out: Path, session: ReleasePool) -> list[Control]:
    """The report's control cases for the reduced case in ``out``, run and judged."""
    case, outcome = load_reduced(out)
    controls = control_cases(case)
    judge_controls(controls, session.evaluate([c.case for c in controls]), outcome.signature, bug_meta(out))
    return controls


def report_source(out: Path, session: ReleasePool, bisection_md: str = "", controls: list[Control] | None = None) -> Path:
    """Write report.md for the reduced case in ``out`` (``controls`` when already run), and
    issue.md beside it when the repro is verified."""
    case, outcome = load_reduced(out)
    reduction = json.loads((out / "reduction.json").read_text())
    verification = _verification(out)
    script = (out / "repro.py").read_text() if (out / "repro.py").exists() else repro.render(case, outcome.signature, session.release)
    controls = controls if controls is not None else evaluate_controls(out, session)
    atomic_write(out / "controls.json", json.dumps([{"variant": c.variant, "observed": c.observed, "same": c.same,
                                                     "campaign": c.campaign} for c in controls], indent=2) + "\n")
    bug = bug_meta(out)
    versions = session.versions()
    traceback = report_traceback(outcome, fresh_traceback(out, outcome, session.verify_python))
    text = render_report(case, outcome, script, verification, controls, reduction, versions, bisection_md, bug, traceback)
    atomic_write(out / "report.md", text)
    if verification and verification["verified"]:
        # the interpreter the repro was verified on, or this release's when that one is gone
        gone = not Path(verification["python"]).exists()
        atomic_write(out / "issue.md", issue_text(out, session.verify_python if gone else None))
    else:
        (out / "issue.md").unlink(missing_ok=True)  # never an issue from a repro that does not fail
    return out / "report.md"


def issue_text(out: Path, python: str | None = None) -> str:
    """The file-ready issue (reducer.issue) for a reduced bug whose repro is verified; its
    Versions come from collect_env run with the interpreter the repro was verified on (or
    ``python``, when that one is gone)."""
    case, outcome = load_reduced(out)
    verification = _verification(out)
    if not (verification and verification["verified"] and (out / "repro.py").exists()):
        raise CaseError(f"{out}: repro.py is not verified; an issue needs a repro that fails as reported "
                        f"(armfuzz render {out} --runs 3, or armfuzz reduce {out} again)")
    release = json.loads((out / "reduction.json").read_text()).get("release", "?") if (out / "reduction.json").exists() else "?"
    controls = [SimpleNamespace(**c) for c in _read_list(out / "controls.json")]
    python = python or verification["python"]
    if not Path(python).exists():
        raise CaseError(f"{out}: its repro was verified with {python}, which is not here any more; "
                        f"give --python, a venv's bin/python with executorch {release}")
    traceback = report_traceback(outcome, fresh_traceback(out, outcome, python))
    return issue.render_issue(case, outcome, (out / "repro.py").read_text(), verification, controls, release,
                              issue.collect_env(python), bug_meta(out), traceback)


def fresh_traceback(out: Path, outcome: Outcome, python: str) -> str:
    """``traceback.txt``: the traceback a fresh run of the verified repro prints, for a crash
    whose stored traceback no longer holds the failing frames (reducer.traceback_tail); run
    once, then kept. "" when it is not needed or the repro is not verified."""
    path = out / "traceback.txt"
    if path.exists():
        return path.read_text()
    if outcome.status != "crash" or traceback_tail.failing_frames(
            outcome.traceback, traceback_tail.exception_type(outcome.signature), outcome.message):
        return ""
    verification = _verification(out)
    if not (verification and verification["verified"] and (out / "repro.py").exists()):
        return ""
    text = traceback_tail.run_for_traceback((out / "repro.py").read_text(), python)
    atomic_write(path, text)
    return text


def _verification(out: Path) -> dict[str, Any] | None:
    return json.loads((out / "verification.json").read_text()) if (out / "verification.json").exists() else None


def _read_list(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return data if isinstance(data, list) else []


def bug_meta(out: Path) -> dict[str, Any] | None:
    """A campaign bug's meta.json (fuzz.triage.bugs) when ``out`` is a bug directory, with the
    targets its campaign ran (``campaign_targets``) when campaign.json is two levels up."""
    try:
        meta = json.loads((out / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not (isinstance(meta, dict) and "buckets" in meta and "targets" in meta):
        return None
    for key, empty in (("title", ""), ("links", []), ("releases", []), ("count", len(meta["buckets"]))):
        meta.setdefault(key, empty)  # bug files written by older armfuzz lack them
    if meta.get("key"):  # the known-bugs file as it is now, not as it was when meta.json was written
        try:
            meta.update(known.mark(meta["key"], meta["releases"], known.load(), meta["targets"]))
        except known.KnownBugsError as e:
            raise CaseError(str(e)) from None
    try:
        meta["campaign_targets"] = json.loads((out.parent.parent / "campaign.json").read_text())["targets"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        pass
    return meta


def _merged_into(path: Path) -> str | None:
    """The bug a campaign bug directory was merged into (fuzz.campaign marks it), if any."""
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return meta.get("merged_into") if isinstance(meta, dict) else None


def load_reduced(out: Path) -> tuple[Case, Outcome]:
    if not (out / "reduced.case.json").exists():
        raise CaseError(f"{out}: no reduced.case.json; run 'armfuzz reduce' on it first")
    case = Case.load(out / "reduced.case.json")
    outcome = Outcome.from_dict(json.loads((out / "reduced.outcome.json").read_text()))
    return case, outcome


def process_bucket(bucket: Path, session: ReleasePool, budget: Budget, on_step: Callable[[Step], None] | None = None) -> dict[str, Any]:
    """Reduce, render + verify, and report one bucket or bug directory (both hold
    ``signature.txt`` and ``smallest.case.json``), skipping steps already done."""
    if (bucket / "reduction.json").exists():
        summary = json.loads((bucket / "reduction.json").read_text())
    else:
        summary = reduce_source(locate_source(bucket), session, budget, on_step=on_step)
    if "error" in summary:
        return summary
    verify = not (bucket / "verification.json").exists()
    report = not (bucket / "report.md").exists()
    if verify and report:
        # The fresh-process verification is one mostly single-threaded interpreter (import,
        # one lowering): the report's controls run on the warm pool meanwhile.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as background:
            verification = background.submit(_verify_and_trace, bucket, session)
            controls = evaluate_controls(bucket, session)
            verification.result()
        report_source(bucket, session, controls=controls)
    elif verify:
        render_source(bucket, session.release, python=session.verify_python)
    elif report:
        report_source(bucket, session)
    return summary


def _verify_and_trace(bucket: Path, session: ReleasePool) -> None:
    """Render and verify repro.py, then (a crash whose stored traceback lost its frames) run it
    once more for them: both single-threaded fresh processes, beside the controls."""
    render_source(bucket, session.release, python=session.verify_python)
    fresh_traceback(bucket, load_reduced(bucket)[1], session.verify_python)


def reduce_pending_bugs(campaign: Path, workers: int, budget: Budget, release: str | None = None,
                        python: str | None = None) -> Iterator[dict[str, Any]]:
    """Reduce, render, verify and report every bug of the campaign that has no report yet,
    on one warm pool of ``release`` (or of the interpreter ``python``); yield one summary line
    per bug as it is done."""
    import time

    from fuzz.core.targets import TARGETS

    todo = pending_bugs(campaign)
    if not todo:
        return
    with ReleasePool(release or envs.installed_version(), workers, list(TARGETS), python=python) as session:
        for b in todo:
            t0 = time.monotonic()
            try:
                s = process_bucket(b, session, budget)
            except CaseError as e:  # one bad bug must not cost the others their reports
                s = {"error": str(e)}
            except Exception as e:  # noqa: BLE001 - our own failure on one bug, said, and the next bug goes on
                s = {"error": f"armfuzz failed on this bug ({type(e).__name__}: {e}); its campaign files are unchanged"}
            v = json.loads((b / "verification.json").read_text()) if (b / "verification.json").exists() else {}
            yield {"bug": b.name, "nodes_before": s.get("nodes_before"), "nodes_after": s.get("nodes_after"),
                   "verified": bool(v.get("verified")), "error": s.get("error"), "seconds": round(time.monotonic() - t0, 1)}


def pending_bugs(campaign: Path) -> list[Path]:
    """Directories of the campaign's current bugs (fuzz.triage.bugs; not those merged into another
    since) that have no report yet, oldest first: new bugs and regressions. A bug the known-bugs
    file lists (fuzz.triage.known) is filed already; ``armfuzz reduce`` still takes it by hand."""
    from fuzz.campaign import CampaignError, list_bugs

    try:
        rows = list_bugs(campaign)
    except CampaignError as e:
        raise CaseError(str(e)) from None
    return [campaign / "bugs" / r["id"] for r in rows if not r["report"] and (r.get("known") is None or r.get("regression"))]
