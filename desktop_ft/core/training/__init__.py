"""Training, split by concern: the job (:mod:`.job`), setting up a strategy
(:mod:`.strategy`, one function for CLI and window), the fit loop (:mod:`.fit`), the
frozen-prefix feature cache (:mod:`.feature_cache`), results (:mod:`.results`) and what
LoRA models share (:mod:`.peft`)."""

from desktop_ft.core.training.compile import compile_model
from desktop_ft.core.training.fit import fine_tune, prepare
from desktop_ft.core.training.job import (JOB_STRATEGIES, OPTIMIZERS, TrainJob,
                                          default_learning_rate, resolve_learning_rate)
from desktop_ft.core.training.results import TrainResult, metrics_from_probs
from desktop_ft.core.training.strategy import peft_strategy_of, prepare_model, prepare_strategy

__all__ = ["JOB_STRATEGIES", "OPTIMIZERS", "TrainJob", "TrainResult", "compile_model",
           "default_learning_rate", "fine_tune", "metrics_from_probs", "peft_strategy_of",
           "prepare", "prepare_model", "prepare_strategy", "resolve_learning_rate"]
