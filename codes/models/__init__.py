"""Models: a generator (and discriminator) plus its criteria, optimisers and schedules.

``MODELS`` is the table the YAML's ``model.name`` chooses from (the config reads its names).
"""

from tecogan.models.frvsr_model import FRVSRModel
from tecogan.models.tecogan_model import TecoGANModel

MODELS = {"FRVSR": FRVSRModel, "TecoGAN": TecoGANModel}


def build_model(opt, device, distributed=False):
    """The model of a validated training config, its networks in ``train.memory_format``."""
    model = MODELS[opt["model"]["name"]](opt, device, distributed)
    model.set_memory_format(opt["train"]["memory_format"])
    return model
