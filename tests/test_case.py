"""Case schema: exact JSON round trip, and every malformed case rejected naming the culprit."""

from __future__ import annotations

import json

import pytest

from fuzz.core.errors import CaseError
from fuzz.generate.case import Case


def test_seed_case_round_trips_byte_for_byte(seed_case):
    text = seed_case.to_json()
    again = Case.from_json(text)
    assert again == seed_case
    assert again.to_json() == text
    assert again.case_id == seed_case.case_id


def test_case_id_changes_with_content(seed_case):
    other = Case.from_json(seed_case.to_json())
    other.seed += 1
    assert other.case_id != seed_case.case_id


def _mutated(seed_case, fn) -> str:
    d = json.loads(seed_case.to_json())
    fn(d)
    return json.dumps(d)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["nodes"][1].update(op="gelu_x"), r"node 'relu': unknown op 'gelu_x'"),
        (lambda d: d["nodes"][2].update(inputs=["relu", "nope"]), r"node 'merged': input 'nope' is not defined"),
        (lambda d: d["nodes"].reverse(), r"node 'conv2': input 'merged' is not defined before this node"),
        (lambda d: d["inputs"][1].update(shape=[1, 4, 15, 16]), r"node 'merged': cat inputs .* differ outside dim 1"),
        (lambda d: d["nodes"][0]["params"].update(kernel_size=40), r"node 'conv1': param 'kernel_size'"),
        (lambda d: d["nodes"][0]["params"].update(groups=3), r"node 'conv1': groups=3 must divide"),
        (lambda d: d["nodes"][0]["params"].update(padding=0, kernel_size=[11, 11], dilation=2), r"node 'conv1': conv2d output would be empty"),
        (lambda d: d["nodes"][1].update(spelling="fancy"), r"node 'relu': relu has no spelling 'fancy'"),
        (lambda d: d["nodes"][0]["params"].update(bias=1), r"node 'conv1': param 'bias' must be true or false"),
        (lambda d: d["nodes"][0]["params"].update(extra=1), r"node 'conv1': unknown param"),
        (lambda d: d.update(outputs=["ghost"]), r"output 'ghost' is not a node id"),
        (lambda d: d.update(target="npu-9000"), r"unknown target 'npu-9000'"),
        (lambda d: d.update(schema=99), r"schema version 99"),
        (lambda d: d["calibration"]["inputs"].update(z={"kind": "uniform", "low": 0, "high": 1}), r"names 'z', which is not a graph input"),
        (lambda d: d["calibration"]["inputs"]["x"].update(kind="cauchy"), r"calibration.inputs.x: recipe must be"),
        (lambda d: d["quant"].update(activations="int16"), r"int16 activations need a target with the int16 extension"),
        (lambda d: d["nodes"][1].update(spelling="inplace", inputs=["x"]), r"node 'relu': in-place spelling"),
    ],
)
def test_bad_case_is_rejected_naming_the_culprit(seed_case, mutate, expected):
    with pytest.raises(CaseError, match=expected):
        Case.from_json(_mutated(seed_case, mutate), source="bad.json")


def test_error_names_the_file(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(CaseError, match=r"broken.json: not valid JSON"):
        Case.load(p)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["nodes"][0].update(id="conv1; import os"),
        lambda d: d["nodes"][0].update(id="__import__('os').system('x')"),
        lambda d: d["nodes"][0].update(id="self"),
        lambda d: d["inputs"][0].update(name="lambda"),
        lambda d: d["nodes"][0]["params"].update(padding_mode="zeros')\nimport os#"),
        lambda d: d["nodes"][1].update(op="relu", params={"x": "__import__('os')"}),
        lambda d: d["nodes"][0]["params"].update(padding=float("nan")),
    ],
)
def test_hostile_values_never_reach_code(seed_case, mutate):
    with pytest.raises(CaseError):
        Case.from_json(_mutated(seed_case, mutate))


def test_target_switch_adapts_activations(seed_case):
    c16 = seed_case.with_target("tosa-int16")
    assert c16.quant.activations == "int16"
    c16.validate()
    back = c16.with_target("tosa-int")
    assert back.quant.activations == "int8"
    back.validate()
