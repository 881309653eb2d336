"""Models: a generator (and discriminator) plus its criteria, optimisers and schedules."""


def build_model(opt, device, distributed=False):
    """The model of a validated training config, its networks in ``train.memory_format``."""
    if opt["model"]["name"] == "FRVSR":
        from tecogan.models.frvsr_model import FRVSRModel
        model = FRVSRModel(opt, device, distributed)
    else:
        from tecogan.models.tecogan_model import TecoGANModel
        model = TecoGANModel(opt, device, distributed)
    model.set_memory_format(opt["train"]["memory_format"])
    return model
