"""Test kit: the objects the API server hands out (Nodes, workloads, the article's
Deployment), built as JSON, for the tests and the benchmarks alike. It imports neither
(import-linter keeps it so); both import it."""
