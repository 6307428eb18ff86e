"""Case -> torch source and a live nn.Module.

The fuzzer executes exactly the source a repro script will carry: the model class is rendered
from ``templates/model.py.j2`` and exec'd, never built by a second code path. Every value in
the source comes from a validated case through :func:`fuzz.generate.ops.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import jinja2
import torch
import torch.nn as nn
import torch.nn.functional as F

from fuzz.core.paths import TEMPLATE_DIR
from fuzz.generate import recipes
from fuzz.generate.case import Case
from fuzz.generate.ops import get_op

MODEL_FILENAME = "<armfuzz-model>"
_ASSIGN = re.compile(r"^ {8}([a-z_][a-z0-9_]*) = ")


@lru_cache(maxsize=1)
def template_env() -> jinja2.Environment:
    if not TEMPLATE_DIR.is_dir():
        raise RuntimeError(f"templates not found at {TEMPLATE_DIR}; install armfuzz from a checkout with 'pip install -e .'")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Python source, not HTML: values are made safe by fuzz.generate.ops.py()
    )


@dataclass
class ModelSource:
    source: str
    class_name: str
    #: source line number (1-based) -> case node id, to map export stack traces back to nodes.
    line_to_node: dict[int, str]


def model_source(case: Case, class_name: str = "FuzzModel") -> ModelSource:
    shapes = case.validate()
    inits: list[tuple[str, str]] = []
    lines: list[tuple[str, str]] = []
    for n in case.nodes:
        op = get_op(n.op)
        init = op.emit_init(n.params, n.spelling, [shapes[i] for i in n.inputs])
        if init is not None:
            inits.append((n.id, init))
        lines.append((n.id, op.emit_call(n.id, list(n.inputs), n.params, n.spelling)))
    ret = case.outputs[0] if len(case.outputs) == 1 else "(" + ", ".join(case.outputs) + ")"
    src = template_env().get_template("model.py.j2").render(
        class_name=class_name, inits=inits, lines=lines, args=[t.name for t in case.inputs], ret=ret
    )
    return ModelSource(src, class_name, line_to_node(src, {n.id for n in case.nodes}))


def line_to_node(source: str, node_ids: set[str]) -> dict[int, str]:
    """Line number -> case node, for the assignments of the first ``forward`` in ``source``
    (the generated model; a repro script holds it among other code, hence the end test)."""
    out: dict[int, str] = {}
    in_forward = False
    for no, text in enumerate(source.splitlines(), start=1):
        if in_forward and text.strip() and not text.startswith(" "):
            break  # the class has ended
        in_forward = in_forward or text.lstrip().startswith("def forward")
        m = _ASSIGN.match(text)
        if in_forward and m and m.group(1) in node_ids:
            out[no] = m.group(1)
    return out


def build_model(case: Case) -> tuple[nn.Module, ModelSource]:
    """Instantiate the case's module in eval mode with its recipe weights."""
    ms = model_source(case)
    namespace = {"torch": torch, "nn": nn, "F": F}
    exec(compile(ms.source, MODEL_FILENAME, "exec"), namespace)  # noqa: S102 - source from validated case
    model = namespace[ms.class_name]()
    init_weights(model, case)
    return model.eval(), ms


def weight_assignments(case: Case) -> list[tuple[str, str, dict, int]]:
    """(node id, param name, recipe, seed) for every parameter, in a stable order."""
    out = []
    for n in case.nodes:
        if not get_op(n.op).has_weights:
            continue
        recipe = recipes.weight_recipe(case.weights, n.id)
        bias = n.params.get("bias", True)
        for pname in ("weight", "bias") if bias else ("weight",):
            out.append((n.id, pname, recipe, recipes.derive_seed(case.seed, "weight", n.id, pname)))
    return out


def init_weights(model: nn.Module, case: Case) -> None:
    with torch.no_grad():
        for node_id, pname, recipe, seed in weight_assignments(case):
            param = getattr(getattr(model, node_id), pname)
            param.copy_(recipes.make_tensor(tuple(param.shape), recipe, seed))


def calibration_seeds(case: Case) -> list[list[tuple[str, dict, int]]]:
    """Per sample, per input: (input name, recipe, seed)."""
    n = case.calibration.get("samples", 1)
    return [
        [(t.name, recipes.calibration_recipe(case.calibration, t.name, s), recipes.derive_seed(case.seed, "calib", t.name, s)) for t in case.inputs]
        for s in range(n)
    ]


def calibration_data(case: Case) -> list[tuple[torch.Tensor, ...]]:
    shapes = {t.name: t.shape for t in case.inputs}
    return [tuple(recipes.make_tensor(shapes[name], r, seed) for name, r, seed in sample) for sample in calibration_seeds(case)]
