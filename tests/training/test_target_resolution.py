"""A regression target near a large offset (5e7 +- a few units) is rounded by float32, which
the model computes in: the run completes with a warning naming the step and what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd

import toolkit
from tests.helpers import tiny_config


def _trained(tmp_path, offset: float):
    rng = np.random.default_rng(1)
    x = rng.normal(size=120)
    frame = pd.DataFrame({"x": x, "target": offset + 3.0 * x + rng.normal(size=120)})
    frame.to_csv(tmp_path / f"offset-{offset:g}.csv", index=False)
    config = tiny_config(data={"source": str(tmp_path / f"offset-{offset:g}.csv")})
    config["data"].pop("synthetic")
    return toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)


def test_a_target_float32_cannot_resolve_is_named_in_the_runs_warnings(tmp_path):
    run = _trained(tmp_path, 5e7)
    assert run.status == "completed"
    # float32's neighbours of 5e7 are 4 apart, more than a std of this target (about 3.2)
    assert np.float32(5e7 + 1.9) == np.float32(5e7)
    named = [w for w in run.warnings if w.startswith("target 'target' has mean 5e+07")]
    assert len(named) == 1 and "resolved only to steps of 4 " in named[0]
    assert "subtract a constant near its mean" in named[0]

    assert not any("resolved only" in w for w in _trained(tmp_path, 5e3).warnings)
