"""Model builders: one path from the ``model:`` section to a compiled-ready ``keras.Model``."""
