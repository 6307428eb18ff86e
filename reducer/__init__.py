"""Test-case reduction (issue 5): shrink a failing Case to a minimal one with the same signature.

Not built yet. The pieces it will stand on already exist: cases are data with per-tensor
seeds (removing a node leaves every other tensor bit-identical, see fuzz.generate.codegen), and
signatures are stable strings (fuzz.judge.signature).
"""
