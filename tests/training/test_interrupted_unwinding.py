"""An interrupt that a TensorFlow context turns into its own error on the way out."""

from __future__ import annotations

import contextlib

import pytest

from toolkit.training.train import _interrupted


@contextlib.contextmanager
def _scope_that_fails_on_exit():
    """Like TensorFlow's distribution scope when SIGTERM lands in a step: its exit raises."""
    try:
        yield
    finally:
        raise RuntimeError(
            "Device scope nesting error: move call to tf.distribute.set_strategy() out of "
            "`with` scope."
        )


def _keras_reraise(function):
    """Keras' traceback filter re-raises what fit raised ``from None``."""
    try:
        function()
    except Exception as error:
        raise error.with_traceback(None) from None


def _interrupted_training():
    with _scope_that_fails_on_exit():
        raise KeyboardInterrupt  # the toolkit's SIGTERM handler raises this


def test_an_error_raised_while_an_interrupt_unwinds_is_the_interrupt():
    """In CI, SIGTERM to a multi-worker run exited 1 with TensorFlow's traceback instead of
    130 with its run marked interrupted: the scope's error hid the KeyboardInterrupt."""
    with pytest.raises(RuntimeError) as caught:
        _keras_reraise(_interrupted_training)
    assert _interrupted(caught.value)
    assert _interrupted(KeyboardInterrupt())


def test_an_error_of_its_own_is_not_an_interrupt():
    def failing():
        with _scope_that_fails_on_exit():
            raise ValueError("a real failure")

    with pytest.raises(RuntimeError) as caught:
        _keras_reraise(failing)
    assert not _interrupted(caught.value)
    assert not _interrupted(ValueError("x"))
