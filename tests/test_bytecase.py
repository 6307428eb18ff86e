"""Bytes -> Case (the guided engine's decoder): valid, deterministic, prefix-stable, broad."""

from __future__ import annotations

import random

from fuzz.core.targets import TARGETS
from fuzz.execution import edges
from fuzz.generate.bytecase import decode
from fuzz.generate.generator import OP_WEIGHTS


def _inputs(n: int, length: int = 256) -> list[bytes]:
    rng = random.Random(1234)
    return [rng.randbytes(rng.choice([0, 1, 8, 64, length])) for _ in range(n)]


def test_same_bytes_same_case_and_every_case_valid():
    for data in _inputs(40):
        for target in TARGETS:
            case = decode(data, target)
            case.validate()
            assert case.to_json() == decode(data, target).to_json()


def test_one_input_is_one_graph_on_every_target():
    # The controller judges one input on all targets; the graph and its data must not depend
    # on the target (only what the target cannot take, e.g. int16, and its options may).
    for data in _inputs(25):
        graphs = {(tuple((n.op, tuple(n.inputs)) for n in c.nodes), tuple(tuple(t.shape) for t in c.inputs))
                  for c in (decode(data, t) for t in TARGETS)}
        assert len(graphs) == 1, data.hex()


def test_bytes_past_what_was_read_change_nothing():
    # libFuzzer appends and truncates: bytes past what the generator read leave the case as it
    # was (exhausted bytes read as zeros, so zeros appended are the same input).
    for data in _inputs(30):
        case = decode(data, "tosa-int").to_json()
        assert decode(data + bytes(64), "tosa-int").to_json() == case
        assert decode(data + b"\x5a" * 300, "tosa-int").to_json() == case or len(data) < 256


def test_empty_input_is_the_plain_case():
    case = decode(b"", "tosa-int")
    assert [n.op for n in case.nodes] == ["conv2d"]
    assert not case.quant.module_activations


def test_random_bytes_reach_every_registry_op():
    seen = set()
    rng = random.Random(7)
    for _ in range(300):
        seen |= {n.op for n in decode(rng.randbytes(256), "tosa-int-fp").nodes}
    assert set(OP_WEIGHTS) - seen == set()


def test_block_bitmaps_round_trip():
    for blocks in (set(), {0}, {7, 8, 9}, set(random.Random(3).sample(range(20000), 900))):
        assert edges.decode(edges.encode(blocks)) == blocks


def test_mutations_keep_a_prefix_or_start_afresh_and_stay_in_bounds():
    from fuzz.campaign.engines.guided_driver import SEED_LEN, mutate

    data = bytes(range(200))
    kinds = set()
    for seed in range(200):
        out = mutate(data, 300, seed, byte_mutation=lambda d, n: b"libfuzzer")
        assert out == mutate(data, 300, seed, byte_mutation=lambda d, n: b"libfuzzer")  # seeded
        assert len(out) <= 300
        if out == b"libfuzzer":
            kinds.add("bytes")
        elif len(out) == SEED_LEN and out[:1] != data[:1]:
            kinds.add("fresh")
        else:  # a kept prefix (at least the first byte), fresh draws after it up to SEED_LEN
            assert out[:1] == data[:1] and len(out) == SEED_LEN
            kinds.add("suffix")
    assert kinds == {"bytes", "fresh", "suffix"}
    assert len(mutate(b"", 64, 1)) == 64  # an empty input grows into a fresh one


def test_the_first_byte_names_the_target_and_the_rest_the_case():
    from fuzz.generate.bytecase import target_of

    targets = list(TARGETS)
    data = bytes(range(1, 120))
    assert {target_of(bytes([b]) + data, targets) for b in range(256)} == set(targets)
    assert target_of(b"", targets) == targets[0]
    # the target byte is not a generator draw: changing it leaves the graph alone
    graphs = {tuple(n.op for n in decode(bytes([b]) + data, "tosa-int").nodes) for b in range(8)}
    assert len(graphs) == 1
