"""Command modules: each adds its commands to ``certcheck.cli.app`` when imported.

``certcheck.cli`` imports every module listed in :data:`MODULES`, so a feature's
commands live beside it instead of in one growing file.
"""

MODULES: tuple[str, ...] = (
    "chain", "rules", "forecast", "miniprogram", "monitor", "report", "data",
)
