"""Render a case into a standalone repro script, and verify it in a fresh process.

The script needs only torch and executorch: the model source is the same template the
fuzzer executes (templates/model.py.j2), the tensor recipes and the LSB oracle are carried
as source (``inspect.getsource``: one implementation, no twin to drift), and every value
from the case goes through :func:`fuzz.generate.ops.py` or :func:`comment`, so a case file cannot put
code into the script. A repro counts only if a fresh ``python repro.py`` fails with the same
signature (syzkaller keeps a C repro only if it crashes).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.core import target_options
from fuzz.core.errors import CaseError
from fuzz.core.targets import TARGETS
from fuzz.generate import recipes
from fuzz.generate.case import Case
from fuzz.generate.codegen import (
    calibration_seeds,
    line_to_node,
    model_source,
    template_env,
    weight_assignments,
)
from fuzz.generate.ops import py
from fuzz.judge import delegation, localize, oracle, pass_shapes, qparams
from fuzz.judge.signature import (
    crash_signature,
    frames_of,
    invalid_tosa_signature,
    locate_frames,
    numerics_verdict,
    root_cause,
    wrong_shape_signature,
)
from fuzz.judge.tosa import reader as tosa_reader
from fuzz.judge.tosa import validator as tosa_validator

_RELEASE = re.compile(r"^\d+\.\d+\.\d+[\w.+-]*$")


def comment(text: Any) -> str:
    """Text safe inside a ``#`` comment: one line, printable characters only."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text).replace("\r", " ").replace("\n", " "))[:300]


def py_recipe(recipe: dict[str, Any]) -> str:
    recipes.check_recipe("repro: ", recipe, weights=True)
    return py_dict(recipe)


def py_dict(d: dict[Any, Any]) -> str:
    """A dict of validated plain values as Python source (keys and values through ``py``)."""
    return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in d.items()) + "}"


def _sources(*objs: Any) -> str:
    return "\n\n\n".join(inspect.getsource(o).rstrip() for o in objs)


def _constants(module: Any, *names: str) -> str:
    return "\n".join(f"{n} = {getattr(module, n)!r}" for n in names)


def _family_symbols(case: Case) -> dict[str, Any]:
    """The target's classes and compile spec, and the pass-pipeline options to set on it."""
    symbols = {"tool_beside_interpreter": "", **_target_symbols(case)}
    pipeline = target_options.pipeline_options(case.options)
    symbols["pipeline_options"] = py_dict(pipeline) if pipeline else ""
    return symbols


def _target_symbols(case: Case) -> dict[str, Any]:
    t = TARGETS[case.target]
    spec = target_options.spec_string(t.spec_for(case.quant.four_bit_weights), case.options)
    if t.family == "tosa":
        return {"quantizer_class": "TOSAQuantizer", "partitioner_class": "TOSAPartitioner",
                "spec_imports": ["from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec",
                                 "from executorch.backends.arm.tosa.partitioner import TOSAPartitioner"],
                "compile_spec": f"TosaCompileSpec({py_str(spec)})", "tools": "tosa-tools"}
    if t.family == "ethos-u":
        accelerator, kwargs = target_options.compile_spec_args(t.accelerator, case.options)
        args = "".join(f", {k}=[{', '.join(map(py_str, v))}]" if isinstance(v, list) else f", {k}={py_str(v)}"
                       for k, v in kwargs.items())
        return {"quantizer_class": "EthosUQuantizer", "partitioner_class": "EthosUPartitioner",
                "spec_imports": ["from executorch.backends.arm.ethosu import EthosUCompileSpec, EthosUPartitioner"],
                "compile_spec": f"EthosUCompileSpec({py_str(accelerator)}{args})", "tools": "ethos-u-vela",
                "backend_module": "ethosu.backend", "backend_class": "EthosUBackend"}
    return {"quantizer_class": "VgfQuantizer", "partitioner_class": "VgfPartitioner",
            "spec_imports": ["from executorch.backends.arm.vgf import VgfCompileSpec, VgfPartitioner"],
            "compile_spec": f"VgfCompileSpec({py_str(spec)})", "tools": "ai_ml_sdk_model_converter",
            "backend_module": "vgf.backend", "backend_class": "VgfBackend",
            # model-converter is a program in the venv's bin/, which executorch looks for on PATH
            "tool_beside_interpreter": "model-converter"}


def py_str(s: str) -> str:
    """A target constant (TOSA spec, accelerator name, vela option) as a Python string literal."""
    if not re.fullmatch(r"[A-Za-z0-9_.+=\-]+", s):
        raise CaseError(f"cannot render {s!r}")
    return repr(s)


def _config_call(case: Case) -> tuple[str, str]:
    return _quant_call(case.quant)


def _module_config_calls(case: Case) -> list[tuple[str, str]]:
    """(node id, config call) per mixed-precision module: the quantizer's set_module_name."""
    configs = {node_id: case.quant.module_config(dtype) for node_id, dtype in sorted(case.quant.module_activations.items())}
    return [(node_id, "None" if config is None else _quant_call(config)[1]) for node_id, config in configs.items()]


def _quant_call(q) -> tuple[str, str]:
    if q.activations == "int16":
        fn = "get_symmetric_a16w8_quantization_config"
        return fn, f"{fn}(is_per_channel={py(q.per_channel)}, weight_qmin={py(q.weight_qmin)}, weight_qmax={py(q.weight_qmax)})"
    fn = "get_symmetric_quantization_config"
    args = ", ".join(f"{k}={py(getattr(q, k))}" for k in ("act_qmin", "act_qmax", "weight_qmin", "weight_qmax"))
    return fn, f"{fn}(\n        is_per_channel={py(q.per_channel)}, {args}\n    )"


def render(case: Case, expected: str, release: str, title: str = "", filename: str = "repro.py") -> str:
    """The repro script for ``case`` on its own target and ``release`` of executorch."""
    from fuzz.execution import envs

    shapes = case.validate("repro")
    if not _RELEASE.match(release):
        raise CaseError(f"release {release!r} is not a version number")
    rel = envs.RELEASES.get(release)
    # The program runs (serialize, execute, compare) for numerics verdicts and for failures
    # that only happen while it runs.
    numerics = any(part in expected for part in ("/serialize/", "/execute/", "/compare/"))
    if numerics and rel is not None and not rel.serializes:
        raise CaseError(f"executorch {release} cannot serialize here, so a repro that runs the program cannot run on it")
    # A wrong output shape is named by the pass that made it: the repro watches the passes too.
    watch_shapes = "/compare/numerics-shape@" in expected
    fn, call = _config_call(case)
    module_calls = _module_config_calls(case)
    ms = model_source(case, class_name="Repro")
    weights, samples = _tensor_lines(case, shapes)
    env = template_env()
    env.filters["comment"] = comment
    values = dict(

        title=title or expected,
        case_id=case.case_id,
        release=release,
        expected=expected,
        filename=filename,
        dimname_placeholder=bool(rel and rel.needs_dimname_placeholder),
        failure_source=_sources(root_cause, frames_of),
        config_functions=sorted({fn, *(c.split("(")[0] for _, c in module_calls if c != "None")}),
        config_call=call,
        module_config_calls=module_calls,
        make_tensor_source=_constants(recipes, "TINY_FACTOR", "HUGE_FACTOR") + "\n\n\n" + _sources(recipes.make_tensor, recipes.apply_channel_modifiers),
        model_source=ms.source.rstrip(),
        class_name=ms.class_name,
        weights=weights,
        samples=samples,
        input_names=[t.name for t in case.inputs],
        check_numerics=numerics,
        oracle_source=_constants(oracle, "MAX_ERROR_LSB", "BIAS_LSB", "BIAS_MIN_ELEMENTS") + "\n\n\n"
        + _sources(oracle.lsb_report, oracle.code_report, oracle.judge, qparams.is_dequantize, qparams.node_qparams, qparams.graph_output_qparams),
        output_names=py(tuple(case.outputs)),
        localize_source=_localize_source() if numerics else "",
        **_delegation_context(case, expected),
        check_tosa="/invalid-tosa@" in expected,
        validator_source=validator_source() if "/invalid-tosa@" in expected else "",
        family=TARGETS[case.target].family,
        node_list="[" + ", ".join(f"({py(n.id)}, {py(n.op)}, {py(list(n.inputs))}, {py_dict(n.params)})" for n in case.nodes) + "]",
        float_nodes=py(case.float_nodes),
        watch_shapes=watch_shapes,
        pass_shapes_source=_sources(pass_shapes.output_sizes, pass_shapes.watch_pass_output_sizes, pass_shapes.describe)
        if watch_shapes else "",
        node_shapes=py_dict({k: tuple(v) for k, v in shapes.items()}),
        **_family_symbols(case),
    )
    template = env.get_template("repro.py.j2")
    # The localisation maps stack-trace lines of this very script to case nodes: render once
    # to find the forward's lines, then again with the map (it sits below the model, so the
    # model's line numbers do not move).
    first = template.render(line_to_node="{}", **values)
    return template.render(line_to_node=py_dict(line_to_node(first, {n.id for n in case.nodes})), **values)


def _tensor_lines(case: Case, shapes: dict[str, Any]) -> tuple[list[tuple], list[list[tuple]]]:
    """The template's rows for a model's parameters (node, param, shape, recipe, seed) and its
    calibration samples (shape, recipe, seed per input), as Python source."""
    pshapes = _param_shapes(case)
    weights = [(nid, pname, py(tuple(pshapes[(nid, pname)])), py_recipe(r), seed)
               for nid, pname, r, seed in weight_assignments(case)]
    samples = [[(py(tuple(shapes[name])), py_recipe(r), seed) for name, r, seed in sample] for sample in calibration_seeds(case)]
    return weights, samples


def _localize_source() -> str:
    """fuzz.judge.localize and the qparams helpers it calls, as source for the repro."""
    return (_constants(localize, "_CODE_DTYPES", "_TENSOR_HEADER", "_INT", "_TABLE_CONSTANT", "_UNTRACED_LOWERING", "ILL_CONDITIONED",
                       "ZERO_FLOOR", "NOISE_SIGNS", "NOISE_SEED") + "\n\n\n"
            + _sources(qparams.is_quantize, qparams.origin, qparams.origin_of_trace, qparams.computing_node, tosa_reader.read_graph,
                       tosa_reader._attribute, localize.NodeDivergence,
                       localize.Localization, localize._replaced_ops, localize.tosa_operators, localize.first_misshapen, localize.table_op_names, localize.dump_codes, localize._parse_dump,
                       localize._as_reference_layout, localize.lowered_values, localize.quantize_keys, localize._Jitter, localize._Knot,
                       localize._Forced, localize.fusion_groups, localize.noise_floors, localize.beyond_noise,
                       localize.unmatched_producers, localize.twin_in_other_domain, localize.read_in_twins_domain, localize.floors_at_zero, localize.floor_not_applied,
                       localize.localize, localize.program_outputs, localize.node_qparams_by_key))


_DELEGATION = re.compile(r"/lower/(?P<verdict>partially-delegated|spelling-not-delegated)@(?P<op>\w+)(?:\+\w+)?\((?P<detail>[\w+]+)\)$")


def _delegation_context(case: Case, expected: str) -> dict[str, Any]:
    """For a delegation verdict: the control the script lowers beside the case (built by
    fuzz.judge.delegation, as the oracle built it), the culprit node, and armfuzz's delegation
    accounting as source."""
    m = _DELEGATION.search(expected)
    if not m:
        return {"check_delegation": False}
    canonical = m["verdict"] == "spelling-not-delegated"
    # A spelling finding names the aten op the spelling exported to, not the spelling: its
    # node is one of that op not in the op's canonical spelling.
    nodes = [n for n in case.nodes if n.op == m["op"] and (not canonical or delegation.canonical_spelling(case, n.id))]
    if not nodes:
        raise CaseError(f"expected {expected!r} names no {m['op']} node of the case")
    node = nodes[0]
    control = delegation.respelled_case(case, node.id) if canonical else delegation.control_case(case, node.id)
    if control is None:
        raise CaseError(f"{node.id} is already in its canonical spelling: no spelling control")
    ms = model_source(control, class_name="Control")
    control_weights, control_samples = _tensor_lines(control, control.validate("control"))
    note = (f"the same model with only {node.id} spelled '{delegation.canonical_spelling(case, node.id)}' (its op's canonical spelling)"
            if canonical else f"{node.id} alone, with the same input shapes, params, weights and quantization")
    return {
        "check_delegation": True,
        "verdict": m["verdict"],
        "canonical": canonical,
        "culprit_node": py(node.id),
        "culprit_node_id": node.id,
        "culprit_op": node.op,
        "culprit_spelling": node.spelling,
        # a conv or linear left on the CPU with its fused activation is named by the pair
        "fused_user": py(delegation.fused_user(case, node.id)),
        "fuses_activation": py(list(delegation.FUSES_ACTIVATION)),
        "control_note": note,
        "control_model_source": ms.source.rstrip(),
        "control_weights": control_weights,
        "control_samples": control_samples,
        "delegation_source": _sources(oracle.is_delegate_call, oracle._is_qdq, oracle.counted, oracle.op_name,
                                      oracle.delegation_stats, qparams.origin, qparams.origin_of_trace, delegation.cpu_nodes,
                                      delegation.exported_ops),
    }


def validator_source() -> str:
    """The TOSA validator as source, for invalid-tosa repros: the flatbuffer reader it loads
    graphs with (fuzz.judge.tosa.reader, from :func:`read_graph` on), then the rules
    (fuzz.judge.tosa.validator, from :func:`violation_kind` to its end-of-validator marker).
    The imports both need are in the template; vela's second opinion needs vela and stays out."""
    reader = inspect.getsource(tosa_reader)
    rules = inspect.getsource(tosa_validator)
    start = rules.index("\ndef violation_kind")
    end = rules.index("\n# -- Everything above, from violation_kind on")
    return reader[reader.index("\ndef read_graph"):].strip() + "\n\n\n" + rules[start:end].strip()


def _param_shapes(case: Case) -> dict[tuple[str, str], list[int]]:
    """Every parameter's shape, from instantiating the model (cheap; no lowering)."""
    from fuzz.generate.codegen import build_model

    model, _ = build_model(case)
    return {(nid, p): list(getattr(getattr(model, nid), p).shape) for nid, p, _, _ in weight_assignments(case)}


# -- verification ---------------------------------------------------------------------


@dataclass
class Verification:
    expected: str
    python: str
    runs: int
    reproduced: int
    observed: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.runs > 0 and self.reproduced == self.runs

    def to_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "python": self.python, "runs": self.runs, "reproduced": self.reproduced,
                "verified": self.verified, "observed": self.observed}


def signature_from_run(case: Case, returncode: int, stderr: str) -> str:
    """The signature a repro run shows, computed with the fuzzer's own rules."""
    target = case.target
    summary = _tagged(stderr, "ARMFUZZ-FAILURE ")
    numerics = _tagged(stderr, "ARMFUZZ-NUMERICS ")
    stages = re.findall(r"^\[repro\] (\S+)$", stderr, re.M)
    stage = stages[-1] if stages else "build"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"{target}/native-crash/{name}@{stage}"
    deleg = _tagged(stderr, "ARMFUZZ-DELEGATION ")
    if deleg is not None:
        return f"{target}/lower/{deleg['verdict']}@{deleg['detail']}"
    shape = _tagged(stderr, "ARMFUZZ-SHAPE ")
    if shape is not None:
        return wrong_shape_signature(target, next((n.op for n in case.nodes if n.id == shape["node"]), None), shape.get("pass"))
    invalid = _tagged(stderr, "ARMFUZZ-INVALID-TOSA ")
    if invalid is not None and invalid.get("violations"):
        return invalid_tosa_signature(target, invalid["violations"])
    if numerics is not None:
        bad = [r for r in numerics if r.get("symptom")]
        if bad:
            localization = _tagged(stderr, "ARMFUZZ-LOCALIZED ") or {}
            return numerics_verdict(target, localization, {n.id: n.op for n in case.nodes}, bad)[1]
    if summary is not None:
        where, refined = locate_frames([tuple(f) for f in summary["frames"]])
        return crash_signature(target, refined or summary["stage"], summary["exception"], where, summary["message"])
    return "pass" if returncode == 0 else f"{target}/exit-{returncode}@{stage}"


def _tagged(text: str, tag: str) -> Any:
    for line in reversed(text.splitlines()):
        if line.startswith(tag):
            return json.loads(line[len(tag):])
    return None


def user_environment(python: str) -> dict[str, str]:
    """The environment of a user who runs ``.venv/bin/python repro.py`` as the README says,
    without activating the venv: no VIRTUAL_ENV, and neither that interpreter's ``bin/`` nor
    armfuzz's on PATH (armfuzz itself may have run from an activated venv)."""
    drop = {os.path.dirname(python), os.path.dirname(sys.executable)}
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p not in drop)
    return env


def verify(script: str, case: Case, expected: str, python: str, runs: int = 1, timeout: float = 600.0) -> Verification:
    """Run the script ``runs`` times with a plain interpreter in a fresh process, in an empty
    directory with ``-I`` (no user site, no cwd on the path) and the user's environment
    (:func:`user_environment`), and compare signatures."""
    result = Verification(expected, python, runs, 0)
    env = user_environment(python)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repro.py"
        path.write_text(script)
        for _ in range(runs):
            try:
                proc = subprocess.run([python, "-I", str(path)], cwd=tmp, env=env, capture_output=True, text=True,
                                      timeout=timeout)
                got = signature_from_run(case, proc.returncode, proc.stderr)
            except subprocess.TimeoutExpired:
                got = f"{case.target}/timeout"
            result.observed.append(got)
            result.reproduced += got == expected
    return result
