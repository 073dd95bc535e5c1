"""The export formats: a SavedModel, ONNX (through tf2onnx) and LiteRT (TensorFlow's
converter). Each writes the serving SavedModel's endpoint into its own format and checks the
result in its own runtime on probe rows, so a conversion that silently changes the model is
an error, not a file."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import ToolkitError


@dataclass(frozen=True)
class Format:
    """``write(saved_model_dir, destination, model)`` converts; ``run(destination, rows)``
    runs the result in its runtime (for the check); ``extra`` is what pip installs it."""

    name: str
    suffix: str  # "" for a directory
    needs: tuple[str, ...]
    extra: str | None
    write: Callable[[Path, Path, Any], None]
    run: Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]


def check_installed(fmt: Format) -> None:
    """A one-line error naming the extra when a format's converter or runtime is missing."""
    import importlib.util

    missing = [module for module in fmt.needs if importlib.util.find_spec(module) is None]
    if missing:
        raise ToolkitError(
            f"--format {fmt.name} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'keras-toolkit[{fmt.extra}]'"
        )


def layer_of(op_name: str, model) -> str:
    """The model layer a TensorFlow op name belongs to (its name scope), e.g.
    ``serve/block0_dropout_1/stateless_dropout/...`` -> ``block0_dropout (MCDropout)``."""
    layers = {
        layer.name: type(layer).__name__ for layer in model._flatten_layers(include_self=False)
    }
    for part in op_name.split("/"):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                return f"{candidate} ({layers[candidate]})"
    return f"op {op_name}"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# ---------------------------------------------------------------- SavedModel


def _write_saved_model(saved_model: Path, destination: Path, model) -> None:
    import shutil

    shutil.copytree(saved_model, destination)


def _run_saved_model(path: Path, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    endpoint = tf.saved_model.load(str(path)).signatures["serving_default"]
    return {
        k: v.numpy() for k, v in endpoint(**{k: tf.constant(v) for k, v in rows.items()}).items()
    }


# ---------------------------------------------------------------- ONNX


def _write_onnx(saved_model: Path, destination: Path, model) -> None:
    """tf2onnx's conversion of the SavedModel's serving signature. Its saved-model route (what
    ``python -m tf2onnx.convert --saved-model`` runs) is the one that carries lookup tables
    (categorical columns) into ONNX; ``from_function`` loses them."""
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    from toolkit.serving.outputs import serving_names

    # tf2onnx logs what it cannot convert (and carries on): collect its errors instead of
    # printing them, with its progress lines.
    collect = _Collect()
    logger = logging.getLogger("tf2onnx")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers, logger.propagate = [collect], False
    logger.setLevel(logging.ERROR)
    try:
        graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
            str(saved_model),
            None,
            None,
            signatures=["serving_default"],
            return_initialized_tables=True,
            return_tensors_to_rename=True,
        )
        # tf2onnx names the inputs as TensorFlow does a signature's arguments, in lower case
        # ('region' for the column 'Region'): named as the signature's keys instead, as the
        # description lists them and the SavedModel and LiteRT take them.
        by_lower = {name.lower(): name for name in serving_names(model).values()}
        for tensor in inputs:
            if renames.get(tensor) in by_lower:
                renames[tensor] = by_lower[renames[tensor]]
        with tf.device("/cpu:0"):
            convert._convert_common(
                graph_def,
                name=destination.stem,
                input_names=inputs,
                output_names=outputs,
                initialized_tables=tables,
                tensors_to_rename=renames,
                output_path=str(destination),
            )
    except Exception as error:
        raise ToolkitError(_onnx_refusal(str(error), model)) from None
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
    for message in collect.messages:
        raise ToolkitError(_onnx_refusal(message, model))


def _onnx_refusal(message: str, model) -> str:
    """``onnx cannot express layer X (Class): tf2onnx has no conversion for op Y``."""
    match = re.search(r"op \[([^:\]]+): (\w+)\] is not supported", message) or re.search(
        r"convert node '([^']+)'.*?(\w+)\.version", message
    )
    if match:
        return (
            f"--format onnx cannot express layer {layer_of(match.group(1), model)}: tf2onnx "
            f"has no conversion for its TensorFlow op {match.group(2)}"
        )
    first = " ".join(message.split())[:300]
    return f"--format onnx: tf2onnx could not convert the model: {first}"


def _run_onnx(path: Path, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, rows), strict=True))


# ---------------------------------------------------------------- LiteRT


def _write_litert(saved_model: Path, destination: Path, model) -> None:
    """TensorFlow's converter, built-in ops only: a select-TF-ops model needs the Flex
    delegate, which LiteRT's standalone runtime (``ai_edge_litert``) does not carry."""
    import tensorflow as tf

    from toolkit.startup import native_stderr_silenced

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        # The converter's MLIR diagnostics (a hundred lines for one op it lacks) go to file
        # descriptor 2; what they say is in the exception, read below.
        with native_stderr_silenced():
            content = converter.convert()
    except Exception as error:
        text = str(error)
        op = re.search(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)
        where = re.search(r'fused\["[^"]*", "([^"@]+)@', text)
        if op:
            layer = layer_of(where.group(1), model) if where else "unknown layer"
            raise ToolkitError(
                f"--format litert cannot express layer {layer}: LiteRT has no built-in op for "
                f"its TensorFlow op {op.group(1)}"
            ) from None
        first = " ".join(text.split())[:300]
        raise ToolkitError(f"--format litert: the converter refused the model: {first}") from None
    destination.write_bytes(content)


def _interpreter(path: Path):
    """LiteRT's own interpreter when ``ai_edge_litert`` is installed, else TensorFlow's, on
    the built-in kernels only.

    The check is of the file's ops and numbers, which the built-in kernels run as written.
    The default XNNPACK delegate is a CPU accelerator of the serving machine's choosing, and
    applying it printed "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on stderr
    after every export: LiteRT's own logger ignores TF_CPP_MIN_LOG_LEVEL.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            return tf.lite.Interpreter(
                model_path=str(path),
                experimental_op_resolver_type=(
                    tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                ),
            )
    return Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def _run_litert(path: Path, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    runner = _interpreter(path).get_signature_runner("serving_default")
    feed = {k: v.astype(bytes) if v.dtype == object else v for k, v in rows.items()}
    return dict(runner(**feed))


FORMATS: dict[str, Format] = {
    "saved_model": Format("saved_model", "", (), None, _write_saved_model, _run_saved_model),
    "onnx": Format("onnx", ".onnx", ("tf2onnx", "onnxruntime"), "export", _write_onnx, _run_onnx),
    "litert": Format("litert", ".tflite", (), None, _write_litert, _run_litert),
}
