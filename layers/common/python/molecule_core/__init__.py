"""molecule_core: the domain of the Molecule control plane, shared by every Lambda function.

Nothing here imports `functions`, `local` or `agent` (tests/unit/test_architecture.py enforces it).
"""
