"""Training: compile pieces, runtime set-up, callbacks and the ``train`` entry point."""
