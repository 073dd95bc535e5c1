"""Export for serving: SavedModel, ONNX and LiteRT, uncertainty included."""

from toolkit.serving.exporter import export
from toolkit.serving.formats import FORMATS

__all__ = ["FORMATS", "export"]
