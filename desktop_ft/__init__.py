"""desktop_ft: transfer learning and fine-tuning with Keras, in a window or from a terminal."""

__version__ = "0.1.0"
