"""CLI subcommands; each module defines ``register(app)`` and imports heavy code lazily."""

COMMAND_MODULES = (
    "build",
    "validate",
    "eval",
    "generate",
    "export",
    "metrics",
    "tables",
    "reproduce",
    "submit",
    "leaderboard",
    "train",
    "weights",
    "ls",
)
