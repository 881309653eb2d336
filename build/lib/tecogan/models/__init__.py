"""Models: a generator (and discriminator) plus its criteria, optimisers and schedules."""


def build_model(opt, device, distributed=False):
    if opt["model"]["name"] == "FRVSR":
        from tecogan.models.frvsr_model import FRVSRModel
        return FRVSRModel(opt, device, distributed)
    from tecogan.models.tecogan_model import TecoGANModel
    return TecoGANModel(opt, device, distributed)
