"""The real Arm lowering of one case on one target, stage by stage, ending in a verdict.

Stages: build -> export -> quantize (prepare, calibrate on every sample, convert) ->
export-quantized -> lower (to_edge_transform_and_lower; vela / model-converter run inside it,
reported as stage ``compile``) -> serialize (to_executorch) -> execute (TOSA reference model
on the whole program) -> compare (against the quantized PyTorch model).

An exception is attributed to its stage and to the Arm pass or tool that raised it. An
exception whose innermost frame is armfuzz's own code is a ``harness-error``: our bug, never
bucketed as executorch's.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import traceback
from typing import Callable, Iterator

import torch

from fuzz.core import config_rules, target_options
from fuzz.core.errors import CaseError, NotOnThisRelease, ToolMissing
from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case
from fuzz.generate.codegen import build_model, calibration_data
from fuzz.judge import compat, delegation, localize, oracle, pass_shapes, qparams, regimes
from fuzz.judge.outcome import Outcome
from fuzz.judge.signature import (
    PASS_NAME_LIST,
    crash_signature,
    invalid_tosa_signature,
    locate,
    normalise_message,
    not_on_this_release_signature,
    numerics_verdict,
    raised_in_harness,
    root_cause,
    wrong_shape_signature,
)
from fuzz.judge.tosa.reader import dumped_tosa_files
from fuzz.judge.tosa.validator import tosa_violations

#: Tracebacks are kept for reports; the tail holds what matters.
MAX_TRACEBACK = 6000


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Vela and the reference model print to fd 1; keep stdout for armfuzz's own output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class _Stages:
    """Tracks the current stage and per-stage wall time."""

    def __init__(self, outcome: Outcome, on_stage: Callable[[str], None] | None = None) -> None:
        self.outcome = outcome
        self.current = ""
        self.on_stage = on_stage

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.current = name
        if self.on_stage is not None:
            self.on_stage(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.outcome.timings[name] = round(time.perf_counter() - t0, 3)


def run_case(
    case: Case,
    target: str | None = None,
    on_stage: Callable[[str], None] | None = None,
    controls: bool = True,
) -> Outcome:
    """Run one case through the full lowering; never raises for executorch failures.

    There is no in-process deadline on purpose: a timeout is the forked worker's SIGKILL
    (fuzz.execution.worker.run_job). An exception raised from a signal handler at an arbitrary point
    inside torch leaves the interpreter broken for every later case in it (measured: a
    deadline in the build stage left executorch.exir half-imported and the next case a
    harness-error; in CI, conv2d stopped decomposing to aten.convolution after one).

    ``on_stage`` is told each stage as it starts, so a supervisor that has to kill a hung or
    crashed process still knows where it was (see fuzz.execution.worker). ``controls``: lower each op
    the program left on the CPU alone as well (the partial-delegation oracle,
    fuzz.judge.delegation); a control itself runs without.
    """
    if target and target != case.target:
        case = case.with_target(target)
    t = TARGETS[case.target]
    outcome = Outcome(case_id=case.case_id, target=t.name, status="pass")
    stage = _Stages(outcome, on_stage)
    _run_stages(case, t, outcome, stage)
    if controls and outcome.delegation.get("cpu_nodes") and outcome.status in ("pass", "not-delegated"):
        with stage("delegation-control"):  # a supervisor that kills us now knows why
            delegation.judge(case, outcome, lambda c: run_case(c, controls=False))
    return outcome


def mark_abnormal(outcome: Outcome, kind: str, stage: str, message: str, detail: str = "") -> None:
    """Verdicts for a case that did not finish normally: timeout, oom, native crash.

    Signatures: ``<target>/timeout@<stage>``, ``<target>/oom@<stage>``,
    ``<target>/native-crash/SIGSEGV@<stage>``.
    """
    outcome.status = kind
    outcome.stage = stage
    outcome.message = message
    outcome.signature = f"{outcome.target}/{kind}{'/' + detail if detail else ''}@{stage or 'start'}"


def _run_stages(case: Case, t, outcome: Outcome, stage: "_Stages") -> None:
    try:
        compat.check_tools(t)
        with stage("build"):
            model, source = build_model(case)
            samples = calibration_data(case)
            with torch.no_grad():
                model(*samples[0])
        with stdout_to_stderr():
            _lower_and_judge(case, t, model, source, samples, outcome, stage)
    except NotOnThisRelease as e:  # a case drawn for another release: no verdict on executorch here
        _fail(outcome, "rejected-config", stage.current, type(e).__name__, "", str(e), e)
        outcome.signature = not_on_this_release_signature(outcome.target, str(e))
    except (CaseError, ToolMissing) as e:
        _fail(outcome, "harness-error", stage.current, type(e).__name__, "", str(e), e)
    except MemoryError as e:
        mark_abnormal(outcome, "oom", stage.current, f"MemoryError: {e}")
    except compat.InvalidTosa as e:
        _fail(outcome, "invalid-tosa", stage.current, "InvalidTosa", "reference-model", str(e), e)
    except compat.WrongOutputShape as e:
        node = (localize.first_misshapen(e.graph, source.line_to_node, case.nodes, case.validate()) if e.graph else None) \
            or qparams.origin(qparams.computing_node(e.node), source.line_to_node)
        op = next((n.op for n in case.nodes if n.id == node), None)
        _fail(outcome, "numerics", "execute", "WrongOutputShape", "reference-model", str(e), e)
        outcome.signature = wrong_shape_signature(outcome.target, op, e.changed_by["pass"] if e.changed_by else None)
        outcome.message = f"{node} ({op}): {e}" if op else str(e)
        if e.changed_by:
            outcome.message += f" ({pass_shapes.describe(e.changed_by)})"
    except compat.InvalidTosaGraph as e:
        _fail(outcome, "invalid-tosa", "lower", "InvalidTosaGraph", "tosa-check", str(e), e)
        outcome.signature = invalid_tosa_signature(outcome.target, e.violations)
        if e.evidence:
            outcome.message += f" | {t.compiler or 'the next tool'} on this graph: {e.evidence[:600]}"
    except Exception as e:  # noqa: BLE001 - every executorch failure becomes a verdict
        cause = root_cause(e)
        if isinstance(cause, MemoryError) or "can't allocate memory" in str(cause):
            mark_abnormal(outcome, "oom", stage.current, f"{type(cause).__name__}: {str(cause)[:300]}")
        elif raised_in_harness(cause.__traceback__) or stage.current == "build":
            _fail(outcome, "harness-error", stage.current, type(cause).__name__, "", str(cause), e)
        else:
            where, refined = locate(cause.__traceback__)
            rule = config_rules.rejected(type(cause).__name__, where, str(cause))
            _fail(outcome, "rejected-config" if rule else "crash", refined or stage.current, type(cause).__name__, where, str(cause), e)
            if rule:
                # Shown and counted, never bucketed; the message names the rule and its source.
                outcome.signature = f"{outcome.target}/rejected-config: {normalise_message(str(cause))}"
                outcome.message += f" [config rule {rule.name}: {rule.cites}]"


def _lower_and_judge(case, t, model, source, samples, outcome: Outcome, stage: _Stages) -> None:
    """Lower with the backend's intermediates in a scratch directory that lives as long as the
    case: the TOSA it emits and its debug locations are evidence, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="armfuzz-lower-") as artifacts:
        try:
            _lower_and_judge_in(artifacts, case, t, model, source, samples, outcome, stage)
        except compat.InvalidTosaGraph:
            raise
        except Exception as e:
            # A tool that fails on an invalid graph (vela's ERROR_IF, model-converter) is
            # a symptom: the bug is the graph executorch emitted.
            if stage.current in ("lower", "compile"):
                dumped = [f.read_bytes() for f in dumped_tosa_files(artifacts)]
                _raise_if_invalid(dumped, evidence=f"{type(root_cause(e)).__name__}: {root_cause(e)}")
            raise


@contextlib.contextmanager
def _watching_output_sizes(changes: list[dict]) -> Iterator[None]:
    unwatch = pass_shapes.watch_pass_output_sizes(changes)
    try:
        yield
    finally:
        unwatch()


def _emitted_graphs(t, artifacts: str, lowered_gm) -> list[bytes]:
    """The TOSA graphs a lowering emitted: a TOSA target's delegates carry them; for vela and
    model-converter targets they are the files executorch dumped before the tool ran (1.1.0
    dumps nothing into the system temp dir, so those go unchecked there)."""
    if t.family == "tosa":
        return [getattr(lowered_gm, n.args[0].target).processed_bytes for n in lowered_gm.graph.nodes if oracle.is_delegate_call(n)]
    return [f.read_bytes() for f in dumped_tosa_files(artifacts)]


def _raise_if_invalid(graphs: list[bytes], evidence: str = "") -> None:
    """InvalidTosaGraph when a TOSA graph executorch emitted breaks the specification."""
    violations = [v for g in graphs for v in tosa_violations(g)]
    if violations:
        raise compat.InvalidTosaGraph(violations, evidence)


def _lower_and_judge_in(artifacts: str, case, t, model, source, samples, outcome: Outcome, stage: _Stages) -> None:
    a = compat.arm()
    example = samples[0]
    with stage("export"):
        exported = torch.export.export(model, example).module(check_guards=False)
    # Natural ranges before prepare_pt2e, which rewrites the graph it is given.
    ranges = regimes.float_ranges(exported, samples, source.line_to_node)
    exported_ops = delegation.exported_ops(exported, source.line_to_node)  # what the quantizer is given
    with stage("quantize"):
        spec = compat.compile_spec(t, case.quant, case.options)
        outcome.spec = str(spec.tosa_spec)
        outcome.config = target_options.describe(t.name, t.accelerator, case.options)
        compat.dump_artifacts(spec, artifacts, debug_locations=True)
        prepared = a.prepare_pt2e(exported, compat.quantizer(t, spec, case.quant))
        with torch.no_grad():
            for s in samples:
                prepared(*s)
        converted = a.convert_pt2e(prepared)
    facts = regimes.extract_facts(converted, source.line_to_node)
    facts.float_ranges = ranges
    outcome.qparams = facts.tensors
    outcome.evidence = qparams.activation_evidence(case.nodes, outcome.qparams)
    outcome.regimes, outcome.regime_evidence, outcome.cells = regimes.classify(case, facts)
    out_qparams = qparams.graph_output_qparams(converted)
    with stage("export-quantized"):
        exported_q = torch.export.export(converted, example)
    shape_changes: list[dict] = []  # passes that changed a graph output's size (fuzz.judge.pass_shapes)
    with stage("lower"), compat.recording_compiler_inputs(t) as compiler_inputs, _watching_output_sizes(shape_changes):
        edge = a.to_edge_transform_and_lower(
            exported_q, partitioner=[compat.partitioner(t, spec)], compile_config=compat.edge_compile_config()
        )
    # Checked before anything runs the graph: an invalid one gets the same verdict on every
    # target, where the reference model would segfault and vela would refuse it.
    lowered_gm = edge.exported_program().graph_module
    _raise_if_invalid(_emitted_graphs(t, artifacts, lowered_gm))
    outcome.delegation = oracle.delegation_stats(lowered_gm)
    outcome.delegation["cpu_nodes"] = delegation.cpu_nodes(lowered_gm, source.line_to_node)
    if outcome.delegation["cpu_nodes"]:
        outcome.delegation["exported_ops"] = exported_ops
    static_errors = oracle.static_program_errors(lowered_gm)
    if compat.serializes():
        with stage("serialize"):
            program = edge.to_executorch()
    else:
        # Releases whose quantized AOT kernels do not load beside torch 2.13 (fuzz.execution.envs) cannot
        # serialize; the edge program runs the same delegates with functional Q/DQ ops.
        program = edge
    if static_errors:
        outcome.status = "invalid-program"
        outcome.stage = "lower"
        outcome.message = "; ".join(static_errors)
        outcome.signature = f"{t.name}/lower/invalid-program: {oracle.static_error_kind(static_errors[0])}"
        return
    if outcome.delegation["delegated_ops"] == 0:
        outcome.status = "not-delegated"
        outcome.message = f"nothing was delegated; CPU ops: {outcome.delegation['cpu_ops']}"
        return
    graph_of = None
    if not t.executes:
        if not compiler_inputs:  # a release whose backend compiles elsewhere: nothing to run
            return
        graph_of = _compiler_input(compiler_inputs)
    outcome.executed = "delegate" if t.executes else "compiler-input"
    runner = compat.ReferenceModelRun(graph_of)
    gots, refs, delegate_runs = [], [], []
    with stage("execute"):
        module = program.exported_program().module()
        with runner.dispatch, torch.no_grad():
            for s in samples:
                before = len(runner.calls)
                try:
                    gots.append(_as_list(module(*s)))
                except compat.WrongOutputShape as e:
                    e.changed_by = shape_changes[0] if shape_changes else None
                    raise
                delegate_runs.append(runner.calls[before:])
    with stage("compare"):
        with torch.no_grad():
            for s in samples:
                refs.append(_as_list(converted(*s)))
        reports = oracle.compare_outputs(refs, gots, out_qparams, list(case.outputs))
    outcome.numerics = reports
    bad = [r for r in reports if r.get("symptom")]
    if not bad:
        return
    with stage("localize"):
        loc = localize.localize(case, case.validate(), converted, source.line_to_node, samples, delegate_runs,
                                localize.node_qparams_by_key(converted, source.line_to_node),
                                localize.program_outputs(list(case.outputs), gots, out_qparams))
    outcome.localization = loc.to_dict()
    outcome.stage = "compare"
    outcome.status, outcome.signature = numerics_verdict(t.name, outcome.localization, {n.id: n.op for n in case.nodes}, bad)
    outcome.message = "; ".join(_describe(r) for r in bad)
    if loc.culprit is not None:
        outcome.message = _culprit_message(loc, {n.id: n.op for n in case.nodes}) + "; " + outcome.message
    if outcome.executed == "compiler-input":
        outcome.message += f" [run: the TOSA graph executorch handed {t.compiler}; {t.compiler}'s output is not run here]"


def _culprit_message(loc: localize.Localization, ops: dict[str, str]) -> str:
    row = next(r for r in loc.table if r.node == loc.culprit)
    if row.span:
        who = "the span " + " -> ".join(f"{n} ({ops[n]})" for n in (*row.span, row.node))
        inputs = f"the span's lowered inputs ({', '.join(row.span)} matched no lowered tensor)"
    else:
        who, inputs = f"{row.node} ({row.op})", "its own lowered inputs"
    floor = (f", {row.beyond_noise:.0f} LSB beyond what 1 LSB on its inputs moves it by (up to {row.noise_max:.0f} LSB)"
             if row.noise_max else "")
    return (f"{who} is wrong locally: {row.symptom}, max {row.local_max:.0f} LSB, mean {row.local_mean:+.3f} LSB "
            f"against the reference from {inputs}{floor}")


def _compiler_input(inputs: dict[bytes, bytes]) -> Callable[[object], bytes]:
    """For an Ethos-U or VGF delegate: the TOSA graph executorch gave vela or model-converter,
    found by the binary the tool made from it (the delegate's bytes)."""

    def graph_of(lbm) -> bytes:
        graph = inputs.get(bytes(lbm.processed_bytes))
        if graph is None:
            raise CaseError(f"no recorded compiler input for a delegate of {len(lbm.processed_bytes)} bytes "
                            f"({len(inputs)} compiled)")
        return graph

    return graph_of


def _describe(r: dict) -> str:
    if not r.get("quantized"):
        return f"{r['output']}: {r['symptom']}"
    return (
        f"{r['output']}: {r['symptom']} (max {r['max_lsb']:.2f} LSB, mean {r['mean_lsb']:+.3f} LSB, "
        f"{r['mismatched']}/{r['elements']} elements off, {r['out_of_range']} out of [{r['qmin']}, {r['qmax']}], scale {r['scale']:.4g})"
    )


def _as_list(x) -> list[torch.Tensor]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _fail(outcome: Outcome, status: str, stage: str, exc: str, where: str, message: str, e: BaseException) -> None:
    outcome.status = status
    outcome.stage = stage
    outcome.where = where
    outcome.message = str(message)[:2000]
    outcome.traceback = failing_frames(e)
    outcome.signature = crash_signature(outcome.target, stage, exc, where, message) if status != "harness-error" else f"harness/{stage}/{exc}: {message[:200]}"


def failing_frames(e: BaseException) -> str:
    """The traceback a maintainer needs: the innermost cause's frames, down to where the pass or
    tool raised, then one line naming what re-raised it. Formatting the whole chain and keeping
    its tail kept the wrapper instead: from 1.4 on, executorch's pass manager re-raises every
    pass failure with a list of some 138 ``_ExportedProgramGraphPassAdapter`` names."""
    cause = root_cause(e)
    text = "".join(traceback.format_exception(cause, chain=False))
    if cause is not e:
        said = (str(e).splitlines() or [""])[0]
        names = PASS_NAME_LIST.search(said)
        if names:  # the pass manager's wrapper: only the list of passes run before, none the failing one
            said = f"a list of the {names.group(0).count(',') + 1} passes run before"
        text += f"(re-raised as {type(e).__name__}: {said[:200]})\n"
    return text[-MAX_TRACEBACK:]

