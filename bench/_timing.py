"""Timing helpers shared by the benchmarks."""

import time


def epoch_timer(seconds: list[float]):
    """A Keras callback that appends each epoch's seconds to ``seconds``."""
    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.t0)

    return Timer()
