"""Known cases replayed: the corpus CI replays (corpus) and runs across executorch releases,
with bisection (matrix)."""
