"""``python -m toolkit`` runs the CLI."""

from toolkit.cli import run

run()
