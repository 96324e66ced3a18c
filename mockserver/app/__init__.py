"""The composed, user-facing server: the wire server with the control API mounted on it.

This layer sits above wire and control, so neither imports the other (pyproject's layers contract).
"""
