"""Fields of one kind are checked by one definition: a block's activation or initializer gets
exactly the model-level message, and every optional section switches on and off alike."""

from __future__ import annotations

import pytest

from tests.helpers import tiny_config
from toolkit.config import names
from toolkit.config.loading import validate_config
from toolkit.errors import ConfigError


def _error(**model) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(tiny_config(model={"task": "regression", **model}))
    return str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "suggestion"),
    [("activation", "rleu", "relu"), ("initializer", "aut", "auto"), ("initializer", "he", None)],
)
def test_block_and_model_fields_share_one_check(field, value, suggestion):
    if suggestion is None:  # a valid alias passes at both levels
        config = validate_config(
            tiny_config(
                model={"task": "regression", field: value, "hidden": [{"units": 4, field: value}]}
            )
        )
        assert getattr(config.model, field) == getattr(config.model.hidden[0], field) == value
        return
    model_level = _error(**{field: value})
    block_level = _error(hidden=[{"units": 4, field: value}])
    assert model_level.startswith(f"config: model.{field}: unknown {field} '{value}'")
    assert block_level == model_level.replace(f"model.{field}:", f"model.hidden.0.{field}:")
    assert f"(did you mean '{suggestion}'?)" in model_level


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("bayesian", ("model", "bayesian")),
        ("early_stopping", ("callbacks", "early_stopping")),
        ("gradient_monitor", ("callbacks", "gradient_monitor")),
    ],
)
def test_optional_sections_switch_alike(section, path):
    def load(value):
        raw = tiny_config()
        raw[path[0]] = {**raw.get(path[0], {}), section: value}
        return getattr(getattr(validate_config(raw), path[0]), section)

    assert load(False) is None and load(None) is None
    on = load(True)
    assert on is not None and on == type(on)()  # true: the section with its defaults


def test_every_loss_name_passes_the_loss_check():
    for loss in names.ALL_LOSSES:
        task = next(t for t, allowed in names.LOSSES.items() if loss in allowed)
        head = "gaussian" if loss == "gaussian_nll" else "default"
        raw = tiny_config(task, model={"task": task, "head": head, "loss": loss})
        assert validate_config(raw).model.loss == loss
