"""Generation: the case format (case, recipes), the op registry (ops/: one class per op, its
shape rule, sampler and emission), the model it renders to (codegen), and what makes cases
(generator, patterns, the regimes they aim at, bytes -> case, Hypothesis strategies).
Never imports the lowering: specifying an op never touches running it."""
