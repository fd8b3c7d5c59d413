"""Workflow configs: loading with the schema's defaults, every cross-field check, and the typed run plan.

- :mod:`s1flow.config.loading` - YAML in, validated against ``config/schema.yaml``, defaults filled;
- :mod:`s1flow.config.sweeps` - what one model runs in its sweep (:class:`ModelSweep`);
- :mod:`s1flow.config.plan` - the whole run (:func:`run_plan`): sources, eval sets, models, sweeps.
"""

from s1flow.config.loading import load_config, read_yaml, validated
from s1flow.config.plan import (
                                 BASE,
                                 CONTROL_MODEL_NAMES,
                                 EvalModel,
                                 EvalSet,
                                 RunPlan,
                                 Source,
                                 load_plan,
                                 run_plan,
                                 teacher_dataset_set,
)
from s1flow.config.sweeps import ConditionalSpec, ModelSweep, ablation_setting, open_setting

__all__ = ["BASE", "CONTROL_MODEL_NAMES", "ConditionalSpec", "EvalModel", "EvalSet", "ModelSweep", "RunPlan",
           "Source", "ablation_setting", "load_config", "load_plan", "open_setting", "read_yaml", "run_plan",
           "teacher_dataset_set", "validated"]
