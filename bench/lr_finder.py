"""How long the learning-rate range test takes head-only (the head trains on cached
features): narrow VGG16 at 32 px on 60 coloured-shape images, batch 8, the default sweep
(1e-7 → 10, 100 steps). Timed after one short warm-up sweep (Keras import, first trace).

    python bench/lr_finder.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import keras

    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob
    from desktop_ft.core.training.lr_finder import find_learning_rate
    from tests.conftest import write_image_folder
    from tests.core.image_presets import narrow_vgg16

    keras.applications.VGG16 = narrow_vgg16     # the tests' few-channel VGG16
    folder = Path(tempfile.mkdtemp()) / "shapes"
    write_image_folder(folder, per_class=20)
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data=str(folder),
                   strategy="head", batch_size=8)
    find_learning_rate(job, sweep=(1e-7, 10, 10))
    start = time.perf_counter()
    found = find_learning_rate(job)
    took = time.perf_counter() - start
    print(f"{took:.2f} s for {len(found['curve'])} steps (cached after "
          f"{found['cached']}; model load, scan and features included); suggestion "
          f"{found['suggestion']:.3g} ({found['rule']})")


if __name__ == "__main__":
    main()
