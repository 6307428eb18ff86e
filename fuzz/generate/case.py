"""The Case: everything needed to rebuild one test, as plain JSON data.

A case never holds tensors: weights and calibration data are *recipes* (seeded distributions)
so a case stays a few hundred bytes, diffs readably, and can be simplified by the reducer.
``Case.from_json(c.to_json()) == c`` and the JSON text round-trips byte for byte.

Schema (version 1)::

    {"schema": 1, "seed": 0, "target": "tosa-int-fp",
     "inputs":  [{"name": "x", "shape": [1, 4, 16, 16]}],
     "nodes":   [{"id": "conv1", "op": "conv2d", "inputs": ["x"], "spelling": "module",
                  "params": {...}}],
     "outputs": ["conv1"],
     "weights": {"default": {"kind": "uniform", "low": -0.1, "high": 0.1}, "nodes": {}},
     "calibration": {"samples": 1, "inputs": {"x": {"kind": "uniform", "low": 0, "high": 1}}},
     "quant": {"per_channel": true, "activations": "int8", "act_qmin": -128, "act_qmax": 127,
               "weight_qmin": -127, "weight_qmax": 127}}
"""

from __future__ import annotations

import copy
import hashlib
import json
import keyword
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fuzz.core.errors import CaseError
from fuzz.generate import recipes
from fuzz.generate.ops import MAX_ELEMENTS, Shape, check_spelling, get_op
from fuzz.generate.ops.base import numel

SCHEMA_VERSION = 1

#: Identifiers become Python variable and attribute names in generated code.
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
#: Names the generated module's source already uses.
_RESERVED = {"self", "torch", "nn", "F", "forward", "weight", "bias", "training"}


@dataclass
class TensorSpec:
    name: str
    shape: list[int]


@dataclass
class Node:
    id: str
    op: str
    inputs: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    spelling: str = ""


#: What a module of a mixed-precision case may take (QuantConfig.module_activations).
MODULE_DTYPES = ("int8", "int16", "float")


@dataclass
class QuantConfig:
    """The quantizer config knobs armfuzz varies (see TOSAQuantizer's symmetric configs)."""

    per_channel: bool = True
    #: "int8" (a8w8) or "int16" (a16w8, needs a target with the int16 extension).
    activations: str = "int8"
    act_qmin: int = -128
    act_qmax: int = 127
    weight_qmin: int = -127
    weight_qmax: int = 127
    #: Mixed precision: node id -> "int8", "int16" or "float" (left unquantized), that node's
    #: module's activations (the quantizer's ``set_module_name``; only a node that calls its
    #: own module has a module name). The rest of the graph takes ``activations``. Left out
    #: of the JSON when empty.
    module_activations: dict[str, str] = field(default_factory=dict)

    @property
    def four_bit_weights(self) -> bool:
        """executorch's rule for INT4 weights: an int8 qspec with range exactly [-7, 7]
        (backends/arm/_passes/fold_qdq_with_annotated_qparams_pass.py ``_get_special_dtype``).
        Only with int8 activations: the a16w8 config takes its weights from the default
        symmetric config and ignores weight_qmin/weight_qmax
        (quantizer/arm_quantizer.py ``get_symmetric_a16w8_quantization_config``, ``base_config.weight``),
        but an int8 module of a mixed-precision case takes them (a campaign's tosa-int16 case
        with one int8 module was refused INT4 weights on a spec without int4)."""
        int8_somewhere = self.activations == "int8" or "int8" in self.module_activations.values()
        return int8_somewhere and self.weight_qmin == -7 and self.weight_qmax == 7

    @property
    def extensions(self) -> tuple[str, ...]:
        """The TOSA extensions the lowered graph needs: int16 for a16w8 (executorch refuses
        A16W8 on a spec without it, recipes/arm_recipe_provider.py
        ``_build_quantization_recipe``), int4 for 4-bit weights (tosa/mapping.py
        ``TosaArg.__validate`` refuses INT4 tensors without it)."""
        int16 = self.activations == "int16" or "int16" in self.module_activations.values()
        return tuple(e for e, needed in (("int16", int16), ("int4", self.four_bit_weights)) if needed)

    def module_config(self, activations: str) -> "QuantConfig | None":
        """The config the quantizer's ``set_module_name`` gives one module of a mixed-precision
        case (the global knobs with that module's activations); None leaves it in float."""
        if activations == "float":
            return None
        return replace(self, activations=activations, module_activations={})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.module_activations:
            del d["module_activations"]  # cases without mixed precision keep their ids
        return d


@dataclass
class Case:
    inputs: list[TensorSpec]
    nodes: list[Node]
    outputs: list[str]
    weights: dict[str, Any] = field(default_factory=lambda: {"default": dict(recipes.DEFAULT_WEIGHTS), "nodes": {}})
    calibration: dict[str, Any] = field(default_factory=dict)
    quant: QuantConfig = field(default_factory=QuantConfig)
    target: str = "tosa-int"
    seed: int = 0
    schema: int = SCHEMA_VERSION
    #: Compile-spec options on the target's defaults (fuzz.core.target_options), e.g. another
    #: Ethos-U MAC configuration or memory mode. Left out of the JSON when empty, so a case
    #: without options keeps the id it always had.
    options: dict[str, str] = field(default_factory=dict)

    # -- identity ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "seed": self.seed,
            "target": self.target,
            "inputs": [asdict(t) for t in self.inputs],
            "nodes": [asdict(n) for n in self.nodes],
            "outputs": list(self.outputs),
            "weights": copy.deepcopy(self.weights),
            "calibration": copy.deepcopy(self.calibration),
            "quant": self.quant.to_dict(),
            **({"options": dict(self.options)} if self.options else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @property
    def float_nodes(self) -> list[str]:
        """The nodes left unquantized (``module_activations`` "float"): their lowered values
        are float, never matched to lowered codes, so a consumer's local error is theirs too
        (fuzz.judge.localize.fusion_groups)."""
        return sorted(k for k, v in self.quant.module_activations.items() if v == "float")

    @property
    def case_id(self) -> str:
        """Content hash: the same case has the same id on every machine."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def with_target(self, target: str) -> "Case":
        """The same case on another target, with a quant config the target can take (the
        extensions its spec may carry, Target.extensions): what the reducer and the report's
        control cases run."""
        from fuzz.core.targets import TARGETS

        c = copy.deepcopy(self)
        if target != self.target:
            c.options = {}  # options are one target's configuration space (one NPU's for Ethos-U)
        c.target = target
        t = TARGETS[target]
        if t.forced_activations:
            c.quant.activations = t.forced_activations
        elif c.quant.activations == "int16" and not t.int16:
            c.quant.activations = "int8"
        if not t.int16:
            c.quant.module_activations = {k: v for k, v in c.quant.module_activations.items() if v != "int16"}
        c.quant.module_activations = {k: v for k, v in c.quant.module_activations.items() if v != c.quant.activations}
        if c.quant.four_bit_weights and "int4" not in t.extensions:
            c.quant.weight_qmin, c.quant.weight_qmax = QuantConfig.weight_qmin, QuantConfig.weight_qmax
        return c

    # -- loading -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, source: str = "case") -> "Case":
        where = f"{source}: "
        if not isinstance(d, dict):
            raise CaseError(f"{where}top level must be a JSON object")
        schema = d.get("schema")
        if schema != SCHEMA_VERSION:
            raise CaseError(f"{where}schema version {schema!r} is not supported (this armfuzz reads {SCHEMA_VERSION})")
        known = {"schema", "seed", "target", "inputs", "nodes", "outputs", "weights", "calibration", "quant", "options"}
        extra = sorted(set(d) - known)
        if extra:
            raise CaseError(f"{where}unknown field(s) {extra}")
        try:
            case = cls(
                inputs=[TensorSpec(**t) for t in d["inputs"]],
                nodes=[Node(**n) for n in d["nodes"]],
                outputs=list(d["outputs"]),
                weights=d.get("weights", {"default": dict(recipes.DEFAULT_WEIGHTS), "nodes": {}}),
                calibration=d.get("calibration", {}),
                quant=QuantConfig(**d.get("quant", {})),
                target=d.get("target", "tosa-int"),
                seed=d.get("seed", 0),
                schema=schema,
                options=d.get("options", {}),
            )
        except KeyError as e:
            raise CaseError(f"{where}missing field {e.args[0]!r}") from None
        except TypeError as e:
            raise CaseError(f"{where}malformed entry: {e}") from None
        case.validate(source)
        return case

    @classmethod
    def from_json(cls, text: str, source: str = "case") -> "Case":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CaseError(f"{source}: not valid JSON ({e.msg} at line {e.lineno}); fix or delete the file") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> "Case":
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise CaseError(f"{p}: cannot read ({e.strerror})") from None
        return cls.from_json(text, str(p))

    def save(self, path: str | Path) -> None:
        from fuzz.core.fsutil import atomic_write

        atomic_write(Path(path), self.to_json())

    # -- validation --------------------------------------------------------------------
    def validate(self, source: str = "case") -> dict[str, Shape]:
        """Check the whole case; return every tensor's shape. Raises CaseError naming the culprit."""
        where = f"{source}: "
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise CaseError(f"{where}seed must be a non-negative integer, got {self.seed!r}")
        from fuzz.core.targets import (
            TARGETS,  # local: targets imports nothing heavy, but keep case leaf-like
        )

        if self.target not in TARGETS:
            raise CaseError(f"{where}unknown target {self.target!r}; known: {', '.join(TARGETS)}")
        if self.options:
            from fuzz.core import target_options

            t = TARGETS[self.target]
            target_options.validate(self.options, t.family, t.accelerator, t.tosa_spec, where)
        shapes: dict[str, Shape] = {}
        if not self.inputs:
            raise CaseError(f"{where}a case needs at least one input")
        for t in self.inputs:
            self._check_name(where, t.name, "input")
            if t.name in shapes:
                raise CaseError(f"{where}input {t.name!r} defined twice")
            if not isinstance(t.shape, list) or not 1 <= len(t.shape) <= 5 or any(
                isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 4096 for d in t.shape
            ):
                raise CaseError(f"{where}input {t.name!r} shape must be 1-5 positive ints, got {t.shape!r}")
            if numel(t.shape) > MAX_ELEMENTS:
                raise CaseError(f"{where}input {t.name!r} shape {t.shape} exceeds {MAX_ELEMENTS} elements")
            shapes[t.name] = tuple(t.shape)
        uses: dict[str, int] = {}
        for n in self.nodes:
            for i in n.inputs:
                uses[i] = uses.get(i, 0) + 1
        for n in self.nodes:
            nw = f"{where}node {n.id!r}: "
            self._check_name(where, n.id, "node")
            if n.id in shapes:
                raise CaseError(f"{nw}id already used by an earlier input or node")
            op = get_op(n.op, nw)
            if not isinstance(n.params, dict):
                raise CaseError(f"{nw}params must be an object")
            check_spelling(nw, op, n.spelling, n.params)
            if not isinstance(n.inputs, list) or not n.inputs:
                raise CaseError(f"{nw}inputs must be a non-empty list of tensor names")
            for i in n.inputs:
                if i not in shapes:
                    raise CaseError(f"{nw}input {i!r} is not defined before this node (dangling or out of order)")
            if n.spelling in op.inplace_spellings:
                src = n.inputs[0]
                if src in {t.name for t in self.inputs} or uses.get(src, 0) != 1 or src in self.outputs:
                    raise CaseError(f"{nw}in-place spelling {n.spelling!r} needs a single-use intermediate input; {src!r} is not")
            shapes[n.id] = tuple(op.check(nw, [shapes[i] for i in n.inputs], n.params))
            if n.spelling in op.inplace_spellings and shapes[n.id] != shapes[n.inputs[0]]:
                raise CaseError(f"{nw}in-place spelling cannot change the shape of {n.inputs[0]!r}")
        if not self.outputs:
            raise CaseError(f"{where}a case needs at least one output")
        node_ids = {n.id for n in self.nodes}
        for o in self.outputs:
            if o not in node_ids:
                raise CaseError(f"{where}output {o!r} is not a node id")
        if len(set(self.outputs)) != len(self.outputs):
            raise CaseError(f"{where}outputs list a node twice")
        recipes.check_weights(where, self.weights, {n.id for n in self.nodes if get_op(n.op).has_weights})
        recipes.check_calibration(where, self.calibration, [t.name for t in self.inputs])
        self._check_quant(where)
        self._check_module_activations(where)
        return shapes

    @staticmethod
    def _check_name(where: str, name: Any, kind: str) -> None:
        if not isinstance(name, str) or not _IDENT.match(name) or keyword.iskeyword(name) or name in _RESERVED:
            raise CaseError(
                f"{where}{kind} name {name!r} must match {_IDENT.pattern}, not be a Python keyword or one of {sorted(_RESERVED)}"
            )

    def _check_quant(self, where: str) -> None:
        q = self.quant
        from fuzz.core.targets import TARGETS

        if q.activations not in ("int8", "int16"):
            raise CaseError(f"{where}quant.activations must be 'int8' or 'int16', got {q.activations!r}")
        if not isinstance(q.module_activations, dict) or not all(v in MODULE_DTYPES for v in q.module_activations.values()):
            raise CaseError(f"{where}quant.module_activations must map node ids to one of {', '.join(MODULE_DTYPES)}, "
                            f"got {q.module_activations!r}")
        t = TARGETS[self.target]
        fixes = {"int16": "set quant.activations (and quant.module_activations) to 'int8'",
                 "int4": "set quant.weight_qmin/weight_qmax to -127/127"}
        needs = {"int16": "int16 activations", "int4": "4-bit weights (weight range [-7, 7])"}
        for ext in q.extensions:
            if ext not in t.extensions:
                able = [n for n, o in TARGETS.items() if ext in o.extensions]
                raise CaseError(f"{where}{needs[ext]} need a target with the {ext} extension; {t.name} has none: "
                                f"{fixes[ext]} or pick one of {', '.join(able)}")
        if t.forced_activations and q.activations != t.forced_activations:
            raise CaseError(f"{where}target {t.name} runs {t.forced_activations} activations; set quant.activations to match")
        for key in ("act_qmin", "act_qmax", "weight_qmin", "weight_qmax"):
            v = getattr(q, key)
            if isinstance(v, bool) or not isinstance(v, int):
                raise CaseError(f"{where}quant.{key} must be an integer, got {v!r}")
        if not isinstance(q.per_channel, bool):
            raise CaseError(f"{where}quant.per_channel must be true or false")
        if q.activations == "int8" and not (-128 <= q.act_qmin < 0 < q.act_qmax <= 127):
            raise CaseError(f"{where}quant int8 activation range [{q.act_qmin}, {q.act_qmax}] must lie in [-128, 127] around 0")
        if not (-128 <= q.weight_qmin < 0 < q.weight_qmax <= 127):
            raise CaseError(f"{where}quant weight range [{q.weight_qmin}, {q.weight_qmax}] must lie in [-128, 127] around 0")

    def _check_module_activations(self, where: str) -> None:
        from fuzz.generate.ops import get_op

        nodes = {n.id: n for n in self.nodes}
        for node_id in self.quant.module_activations:
            if node_id not in nodes:
                raise CaseError(f"{where}quant.module_activations names {node_id!r}, which is not a node of the case")
            n = nodes[node_id]
            if not get_op(n.op).calls_module(n.id, list(n.inputs), n.params, n.spelling):
                raise CaseError(f"{where}quant.module_activations[{node_id!r}]: node {node_id!r} is spelled {n.spelling!r}, "
                                f"which calls no module of its own for the quantizer's set_module_name to match")

