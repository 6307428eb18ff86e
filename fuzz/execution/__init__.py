"""Where a case runs: warm workers that fork a child per case (worker), pools of them (local,
Ray), the interpreters of other executorch releases (envs), and the backend coverage the
workers measure (statements: backend_coverage; blocks for the guided engine: edges)."""
