"""ONNX from TensorFlow through tf2onnx, with three fixes for tf2onnx 1.17.

* **Captured constants.** ``tf2onnx.convert.from_function`` (what Keras's
  ``export(format="onnx")`` calls) takes every non-resource input of the concrete function
  as a graph input, and a concrete function's inputs include its captured tensors. Tensors
  a layer holds as plain constants rather than variables are captured that way:
  ``Normalization``'s mean and variance (inside EfficientNetV2) and keras-hub's
  ``PositionEmbedding`` position ids (ViT, DeiT). Freezing turns them into constants, but
  the ONNX file still declares them as required inputs with no value, so onnxruntime
  refuses to run it ("Required inputs ([…normalization/Sub/y:0, …]) are missing").
  Here only the function's own arguments are inputs; everything captured is frozen in.
* **Grouped convolutions.** Keras's TensorFlow backend runs them (keras-hub MobileNet's
  depthwise ``Conv2D(groups=…)``) through an XLA-compiled function, a call tf2onnx cannot
  convert; while tracing for tf2onnx they are plain ``Conv2D`` ops
  (``compat.plain_tf_grouped_convolutions``). The patch swaps a Keras module function for
  the trace's duration: the window runs one model task at a time, so nothing else traces
  meanwhile.
* **Erfc.** tf2onnx has no handler for TensorFlow's ``Erfc`` (exact GELU, in DistilBERT,
  RoBERTa, XLM-RoBERTa and DeBERTa-v3): it is converted as 1 − Erf(x).
"""

from __future__ import annotations

from pathlib import Path

from desktop_ft.core import compat


def write_onnx_tf(wrapper, path: Path) -> None:
    """``wrapper`` (a Keras model on TensorFlow) as ONNX at ``path``: inputs named as the
    model's inputs with a dynamic batch axis, the output named ``probs``."""
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    _patch_tf2onnx()
    names = [t.name.split(":")[0] for t in wrapper.inputs]
    specs = [tf.TensorSpec(t.shape, t.dtype, name=n) for t, n in zip(wrapper.inputs, names)]

    @tf.function
    def serve(*xs):
        return {"probs": wrapper(list(xs) if len(xs) > 1 else xs[0], training=False)}

    with compat.plain_tf_grouped_convolutions():
        concrete = serve.get_concrete_function(*specs)
    # The arguments come first in a concrete function's inputs, its captures after them.
    inputs = [t.name for t in concrete.inputs[:len(specs)]]
    outputs = [t.name for t in tf.nest.flatten(concrete.outputs)]
    rename = dict(zip(inputs, names))
    rename.update({concrete.structured_outputs["probs"].name: "probs"})
    with tf.device("/cpu:0"):
        frozen = tf_loader.from_function(concrete, inputs, outputs)
        convert.from_graph_def(frozen, name="raw_input_to_probs", input_names=inputs,
                               output_names=outputs, tensors_to_rename=rename,
                               output_path=str(path))


def _patch_tf2onnx() -> None:
    global _PATCHED
    if _PATCHED:
        return
    compat.patch_tf2onnx_for_numpy2()
    _register_erfc()
    _PATCHED = True


_PATCHED = False


def _register_erfc() -> None:
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            erf = ctx.make_node("Erf", [node.input[0]])
            one = ctx.make_const(utils.make_name("one"), np.array(1, dtype))
            shape, dt = ctx.get_shape(node.output[0]), ctx.get_dtype(node.output[0])
            ctx.remove_node(node.name)
            ctx.make_node("Sub", [one.output[0], erf.output[0]], outputs=node.output,
                          name=node.name, shapes=[shape], dtypes=[dt])
