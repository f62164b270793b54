"""Run configuration: plain nested dataclasses, read from YAML, overridden by flags, saved per run.

Precedence is defaults < YAML file < command-line flags. Each field is declared once
(``fields.setting``): its default, the flags that set it, its choices and its range check.
``schema`` holds the sections, ``files`` reads and writes them, ``checks`` validates a run's.
"""

from segcompress.config.checks import validate_config
from segcompress.config.fields import Check, config_fields, flag, setting
from segcompress.config.files import (
    RESUME_FREE_KEYS,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    recipe_changes,
    save_config,
)
from segcompress.config.schema import (
    DATASET_KEYS,
    FORMAT_NAMES,
    KD_TERMS,
    LOGIT_TERMS,
    MASK_KINDS,
    AugmentConfig,
    DataConfig,
    DistillConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)

__all__ = [
    "DATASET_KEYS",
    "FORMAT_NAMES",
    "KD_TERMS",
    "LOGIT_TERMS",
    "MASK_KINDS",
    "RESUME_FREE_KEYS",
    "AugmentConfig",
    "Check",
    "DataConfig",
    "DistillConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "config_fields",
    "config_from_dict",
    "config_to_dict",
    "flag",
    "load_config",
    "recipe_changes",
    "save_config",
    "setting",
    "validate_config",
]
