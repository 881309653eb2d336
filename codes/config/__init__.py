"""The building blocks of every configuration: YAML read with bounds (:mod:`~tecogan.config.yaml_io`),
sections and keys checked against a schema (:mod:`~tecogan.config.schema`) and the bounds on
numbers that size work (:mod:`~tecogan.config.limits`).  They sit below the part tables
(networks, datasets, metrics, losses), which describe their own options with them; the experiment
built from those tables (``load_config``, ``SCHEMA``) is :mod:`tecogan.experiment`.

``tecogan.config.load_config`` and the other names of 1.2's ``tecogan.config`` module still work
until 1.4, with a DeprecationWarning.
"""

import importlib
import warnings


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    experiment = importlib.import_module("tecogan.experiment")  # above this package: looked up only here
    if not hasattr(experiment, name):
        raise AttributeError(f"module 'tecogan.config' has no attribute {name!r}")
    warnings.warn(
        f"tecogan.config.{name} moved to tecogan.experiment.{name} in tecogan 1.3; the old name works until 1.4",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(experiment, name)
