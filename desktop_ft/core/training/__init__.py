"""Training, split by concern: the job (:mod:`.job`), setting up a strategy
(:mod:`.strategy`, one function for CLI and window), the fit loop (:mod:`.fit`), the
frozen-prefix feature cache (:mod:`.feature_cache`), results (:mod:`.results`), metrics
beyond accuracy (:mod:`.metrics`) and what LoRA models share (:mod:`.peft`)."""

from desktop_ft.core.training.compile import compile_model
from desktop_ft.core.training.fit import fine_tune, prepare
from desktop_ft.core.training.job import (JOB_STRATEGIES, OPTIMIZERS, TrainJob,
                                          default_learning_rate, resolve_learning_rate)
from desktop_ft.core.training.metrics import (best_f1_thresholds, multi_label_metrics,
                                              single_label_metrics)
from desktop_ft.core.training.results import TrainResult
from desktop_ft.core.training.strategy import peft_strategy_of, prepare_model, prepare_strategy

__all__ = ["JOB_STRATEGIES", "OPTIMIZERS", "TrainJob", "TrainResult", "best_f1_thresholds",
           "compile_model", "default_learning_rate", "fine_tune", "multi_label_metrics",
           "peft_strategy_of", "prepare", "prepare_model", "prepare_strategy",
           "resolve_learning_rate", "single_label_metrics"]
