"""Networks: the FRVSR/TecoGAN generator, the discriminators and the VGG feature net."""
