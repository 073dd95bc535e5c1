"""``export``: a run's model as a SavedModel, ONNX or LiteRT file for serving.

The exported model takes the raw inputs the run's model takes (the ``numeric`` matrix in
preprocessing.json's order, one string input per categorical column, images where the run has
them), does the preprocessing inside, and returns the named outputs of
``toolkit.serving.outputs``. It is built with Keras 3's ``ExportArchive``; ONNX and LiteRT are
converted from that SavedModel. Nothing half-written is left: the export is assembled beside
its destination and moved into place once checked.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from toolkit.errors import ToolkitError, checked_keywords, unknown_name
from toolkit.serving.formats import FORMATS, Format, check_installed, layer_of

# Where ``export`` writes without a path: inside the run directory.
DEFAULT_NAMES = {"saved_model": "saved_model", "onnx": "model.onnx", "litert": "model.tflite"}


def _probe_rows(signature: dict, spec, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """Three rows every model accepts: numbers around 0, each categorical's first category
    and an unseen one. ``columns``: the signature's names -> the model's inputs'."""
    vocabularies = {feature.name: feature.vocabulary for feature in spec.categorical}
    rows = {}
    for name, tensor_spec in signature.items():
        shape = (3, *tensor_spec.shape[1:])
        if tensor_spec.dtype.is_floating:
            column = np.linspace(-1.0, 1.0, 3).reshape((3,) + (1,) * (len(shape) - 1))
            rows[name] = np.broadcast_to(column, shape).astype(tensor_spec.dtype.as_numpy_dtype)
        elif tensor_spec.dtype.name == "string":
            vocabulary = vocabularies.get(columns[name]) or [""]
            values = [vocabulary[0], vocabulary[-1], "<never seen in training>"]
            rows[name] = np.asarray(values, dtype=object).reshape(shape)
        else:
            rows[name] = np.zeros(shape, dtype=tensor_spec.dtype.as_numpy_dtype)
    return rows


def _texts(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel()]


def _check(fmt: Format, path: Path, reference: Path, rows, plan, model) -> None:
    """The converted model runs in its own runtime and gives the SavedModel's outputs (for a
    stochastic endpoint: the same outputs, finite)."""
    from toolkit.serving.formats import FORMATS as formats

    try:
        got = fmt.run(path, rows)
    except Exception as error:  # the runtime's own error types (onnxruntime's Fail, ...)
        first = " ".join(str(error).split())[:300]
        node = re.search(r'Node, \("([^"]+)", (\w+)', first)
        if node:
            raise ToolkitError(
                f"--format {fmt.name} cannot express layer {layer_of(node.group(1), model)}: "
                f"its runtime has no kernel for the TensorFlow op {node.group(2)}"
            ) from None
        raise ToolkitError(
            f"--format {fmt.name}: the converted model does not run in its runtime: {first}"
        ) from None
    expected = formats["saved_model"].run(reference, rows)
    if set(got) != set(expected):
        raise ToolkitError(
            f"--format {fmt.name}: the converted model returns {sorted(got)}, not "
            f"{sorted(expected)}"
        )
    for name, value in expected.items():
        value, converted = np.asarray(value), np.asarray(got[name])
        if value.dtype.kind in "OSU":
            same = _texts(converted) == _texts(value)
        elif plan.stochastic:
            same = converted.shape == value.shape and bool(np.isfinite(converted).all())
        else:
            same = np.allclose(converted, value, rtol=1e-4, atol=1e-4)
        if not same:
            raise ToolkitError(
                f"--format {fmt.name}: the converted model's '{name}' differs from the "
                "SavedModel's on the same rows; the converter changed the model"
            )


def _check_suffix(fmt: Format, destination: Path) -> None:
    """The output's suffix must be the format's: ``model.txt`` would hold an ONNX file, or a
    SavedModel directory, under a name that says otherwise. A directory's name may still end
    in a version (``model.v2``, ``model-1.0``): a suffix with a digit is not a file type."""
    suffix = destination.suffix.lower()
    if suffix == fmt.suffix or (not fmt.suffix and any(c.isdigit() for c in suffix)):
        return
    allowed = ", ".join(
        f"{f.suffix} for {f.name}" if f.suffix else f"no suffix (a directory) for {f.name}"
        for f in FORMATS.values()
    )
    raise ToolkitError(
        f"--output {destination}: the suffix must match --format {fmt.name} "
        f"({f'got {destination.suffix!r}' if destination.suffix else 'it has none'}); "
        f"allowed: {allowed}"
    )


def _check_replaceable(fmt: Format, destination: Path) -> None:
    """An export replaces an earlier export, never something else: ``--output ~/project``
    for a SavedModel would otherwise delete that directory and everything in it."""
    if not destination.exists() and not destination.is_symlink():
        return
    if fmt.suffix:
        earlier = destination.is_file() and _holds_a_model(fmt, destination)
        kind = f"a model in {fmt.name} format"
    else:
        earlier = destination.is_dir() and (destination / "saved_model.pb").is_file()
        kind = "a SavedModel directory"
    if not earlier:
        raise ToolkitError(
            f"--output {destination} exists and is not {kind}; an export replaces only an "
            "earlier export: choose a new path or remove it"
        )


def _holds_a_model(fmt: Format, path: Path) -> bool:
    """Whether the file at ``path`` is a model of ``fmt`` (an earlier export), not a file
    that merely has its suffix: notes saved as ``model.onnx`` were overwritten."""
    if fmt.name == "litert":
        with path.open("rb") as handle:
            return handle.read(8)[4:] == b"TFL3"  # the FlatBuffer's file identifier
    if fmt.name == "onnx":
        import onnx

        try:
            return len(onnx.load(str(path), load_external_data=False).graph.node) > 0
        except Exception:  # anything unreadable as ONNX is not an export
            return False
    return True


def _replace(source: Path, destination: Path) -> None:
    """Move ``source`` to ``destination``, replacing what was there only once it is in place."""
    old = None
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{source.parent.name}")
        destination.rename(old)
    source.rename(destination)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


@checked_keywords
def export(
    run_dir: str | Path,
    path: str | Path | None = None,
    *,
    format: str = "saved_model",
    mc_samples: int | None = None,
) -> Path:
    """Export the model of ``run_dir`` in ``format`` (``saved_model``, ``onnx``, ``litert``)
    to ``path`` (default: ``<run_dir>/export/saved_model``, ``model.onnx``, ``model.tflite``);
    returns the path written.

    MC-dropout and Bayesian models get an endpoint that runs ``mc_samples`` stochastic passes
    inside the graph (default: the config's ``prediction.mc_samples``) and returns their mean,
    ``std``, ``lower`` and ``upper``. A ``<path>.json`` beside the export lists its inputs,
    outputs and class labels.
    """
    from toolkit.api.run import Run, with_mc_samples

    fmt = FORMATS.get(format)
    if fmt is None:
        raise ToolkitError(unknown_name("export format", format, FORMATS))
    run = Run(run_dir)
    if not run.directory.model.exists():
        from toolkit.runs import no_model_message

        raise ToolkitError(no_model_message(run.directory))
    with_mc_samples(run.config, mc_samples)  # a count predict and evaluate take too
    destination = Path(path) if path is not None else run.path / "export" / DEFAULT_NAMES[fmt.name]
    _check_suffix(fmt, destination)
    if path is None:
        destination.parent.mkdir(exist_ok=True)
    if not destination.parent.is_dir():
        raise ToolkitError(f"export directory does not exist: {destination.parent}")
    check_installed(fmt)  # first: telling an earlier ONNX export apart needs onnx
    _check_replaceable(fmt, destination)
    model = run.model  # TensorFlow starts here
    if fmt.name == "litert" and _low_precision(model):
        model = _float32_copy(model)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=destination.parent))
    try:
        metadata = _build(model, run, fmt, staging, mc_samples)
        built = staging / "model"
        _replace(built, destination)
        from toolkit.runs import atomic_write_json

        atomic_write_json(destination.with_name(destination.name + ".json"), metadata)
    except Exception as error:
        from toolkit.runs import disk_full_message

        # TensorFlow and the converters name a file deep in the staging folder (or none):
        # the export being written is what the user asked for.
        message = disk_full_message(error)
        if message is None:
            raise
        reason = message.rsplit(": ", 1)[-1]  # no space left on device, or the quota
        raise ToolkitError(f"cannot write the {fmt.name} export {destination}: {reason}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _low_precision(model) -> bool:
    """Whether any layer computes in float16 or bfloat16 (``runtime.precision: mixed_*``)."""
    return any(
        getattr(layer, "dtype_policy", None) is not None
        and layer.dtype_policy.compute_dtype in ("float16", "bfloat16")
        for layer in model._flatten_layers(include_self=True)
    )


def _float32_copy(model):
    """``model`` rebuilt with every layer computing in float32, holding the same weights
    (a mixed-precision model keeps its variables in float32 already). LiteRT has no float16
    kernels: its converter failed on the first layer computing in float16."""
    import keras

    def in_float32(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
                return {**node, "config": {**node.get("config", {}), "name": "float32"}}
            return {key: in_float32(value) for key, value in node.items()}
        if isinstance(node, list):
            return [in_float32(value) for value in node]
        return node

    config = in_float32(keras.saving.serialize_keras_object(model))
    # Layers that a layer builds inside itself take the global policy, which a
    # mixed-precision run trained in this process may have left set.
    global_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = keras.saving.deserialize_keras_object(config, safe_mode=True)
    finally:
        keras.config.set_dtype_policy(global_policy)
    copy.set_weights(model.get_weights())
    return copy


def _build(model, run, fmt: Format, staging: Path, mc_samples: int | None) -> dict:
    """Write the export to ``staging/model``; return its description."""
    import keras

    import toolkit
    from toolkit.models.layers.sampling import portable_sampling
    from toolkit.models.layers.stochastic import set_stochastic
    from toolkit.serving.outputs import (
        Respell,
        ServingPlan,
        input_signature,
        respellings,
        serving_function,
        serving_names,
    )

    plan = ServingPlan.of(
        model, run.spec, run.config, mc_samples=mc_samples, calibration=run.calibration
    )
    signature = input_signature(model)
    columns = {name: key for key, name in serving_names(model).items()}
    vocabularies = {feature.name: feature.vocabulary for feature in run.spec.categorical}
    respell = {
        column: Respell(vocabularies[column], aliases)
        for column, aliases in respellings(run.spec).items()
    }
    saved_model = staging / "saved_model"
    set_stochastic(model, plan.stochastic)
    try:
        with portable_sampling():
            archive = keras.export.ExportArchive()
            archive.track(model)
            for layer in respell.values():
                archive.track(layer.lookup)
            archive.add_endpoint(
                "serve", serving_function(model, plan, respell), input_signature=[signature]
            )
            archive.write_out(str(saved_model), verbose=False)
    finally:
        set_stochastic(model, True)  # stochastic layers sample by default; restore that
    target = staging / "model"
    fmt.write(saved_model, target, model)
    if fmt.name != "saved_model":
        _check(fmt, target, saved_model, _probe_rows(signature, run.spec, columns), plan, model)
    return {
        "format": fmt.name,
        "run": str(run.path),
        "toolkit": toolkit.__version__,
        "endpoint": "serving_default",
        # An input renamed for the signature (a column ``my col``) names its column.
        "inputs": {
            name: {
                "dtype": spec.dtype.name,
                "shape": [None, *spec.shape[1:]],
                **({"column": columns[name]} if columns[name] != name else {}),
            }
            for name, spec in signature.items()
        },
        "outputs": plan.outputs(),
        "classes": list(plan.classes) or None,
        "mc_samples": plan.passes if plan.stochastic else None,
        "interval": plan.interval,
    }
