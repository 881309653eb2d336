"""FRVSR: the frame-recurrent generator trained with pixel and warping losses."""

import contextlib
import copy

import torch
from torch.nn.parallel import DistributedDataParallel

from tecogan.models.losses import build_criterion, demesh, frame_changes
from tecogan.models.lr_schedules import build_scheduler, load_scheduler_state
from tecogan.networks import (
    build_generator,
    check_checkpoint_fits,
    generator_arch_from_config,
    generator_from_checkpoint,
    load_generator_weights,
)
from tecogan.ops import backward_warp, bd_downsample
from tecogan.ops.degradation import bd_kernel_radius, crop_border, gaussian_kernel
from tecogan.utils.errors import UserError

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class SequenceForward(torch.nn.Module):
    """Makes ``forward_sequence`` the ``forward`` (what DistributedDataParallel calls)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, lr_data):
        return self.net.forward_sequence(lr_data)


class FRVSRModel:
    """Holds the generator, its optimiser/schedule and criteria; ``train_step(batch)``."""

    FEATURE_LOSSES = False  # an ImageNet feature network (TecoGAN's train.feature_crit)

    def __init__(self, opt, device, distributed=False):
        self.opt, self.device, self.distributed = opt, device, distributed
        g = opt["model"]["generator"]
        self.scale = opt["scale"]
        deg = opt["dataset"]["degradation"]
        self.degradation = deg["type"]
        name, arch = generator_arch_from_config(opt)
        if g.get("load_path") and opt.get("train") is not None:  # before building: a wrong nb fails at once
            check_checkpoint_fits(g["load_path"], name, arch, across_degradations=True)
        self.net_G = build_generator(name, **arch).to(device)
        if (opt.get("train") or {}).get("warping_crit") and not self.net_G.estimates_flow:
            raise UserError(f"train.warping_crit: model.generator.name {name} estimates no flow to warp with; remove the section")
        if g.get("load_path") and opt.get("train") is not None:
            # a training start may cross BD/BI (fine-tuning a BD model on BI data): the learned
            # weights are the same; test mode stays strict about the degradation
            load_generator_weights(self.net_G, g["load_path"], name, across_degradations=True)
        # DistributedDataParallel is built at the first step, once the memory format is set: built
        # on NCHW weights that then turn NHWC, its first step's gradients differed from the later
        # steps', so a resumed distributed run was not the uninterrupted one bit for bit
        self.G = None
        # train.ema_decay: an exponential moving average of G's weights, updated after each
        # step (every process holds the same one: DDP keeps G's weights equal across them)
        self.ema_decay = (opt.get("train") or {}).get("ema_decay")
        self.net_G_ema, self.ema_note = None, None
        if self.ema_decay:
            self.net_G_ema = copy.deepcopy(self.net_G).eval().requires_grad_(False)
        if self.degradation == "BD":
            self.blur_kernel = torch.from_numpy(gaussian_kernel(deg["sigma"])).to(device)
            self.border = bd_kernel_radius(deg["sigma"])
        tr = opt["train"]
        self.precision = tr["precision"]
        self.amp_dtype = AUTOCAST_DTYPES[self.precision]
        # fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        self.optim_G = self._adam(self.net_G.parameters(), tr["generator"])
        self.sched_G = build_scheduler(self.optim_G, tr["generator"].get("lr_schedule"))
        self.pix_crit, self.pix_w = self._crit("pixel_crit")
        self.warp_crit, self.warp_w = self._crit("warping_crit")
        self.lattice_crit, self.lattice_w = self._crit("lattice_crit")
        self.grid_crit, self.grid_w = self._crit("grid_crit")
        self.block_crit, self.block_w = self._crit("block_crit")
        # set by the trainer on the iterations it logs: the gradient norms go to TensorBoard
        self.track_grad_norm, self.grad_norms = False, {}
        self.distill_crit, self.distill_w = self._crit("distill_crit")
        self.teacher = self._teacher(tr["distill_crit"]["teacher"], arch) if self.distill_crit is not None else None
        self.distill_flow_w = tr["distill_crit"]["flow_weight"] if self.distill_crit is not None else 0.0
        self.distill_temporal_w = tr["distill_crit"]["temporal_weight"] if self.distill_crit is not None else 0.0
        self.distill_demesh = self.distill_crit is not None and tr["distill_crit"]["demesh"]
        self.distill_feature_w = tr["distill_crit"]["feature_weight"] if self.distill_crit is not None else 0.0
        if self.distill_feature_w and not self.FEATURE_LOSSES:
            raise UserError(
                f"train.distill_crit.feature_weight: {self.distill_feature_w}, but a {opt['model']['name']} "
                f"model has no feature loss; set it to 0 (TecoGAN models with train.feature_crit take it)"
            )
        if self.distill_flow_w and not (self.net_G.estimates_flow and self.teacher.estimates_flow):
            raise UserError(
                f"train.distill_crit.flow_weight: {self.distill_flow_w}, but the trained generator or the "
                f"teacher estimates no flow; set it to 0"
            )

    def _teacher(self, path, arch):
        """The frozen generator of ``train.distill_crit.teacher`` (strict load, eval mode, no gradients);
        it must upsample as the trained one does (scale, BD/BI)."""
        teacher = generator_from_checkpoint(path)  # the generator its metadata names (published ones: FRNet)
        found = teacher.arch()
        if (found["scale"], found["degradation"]) != (arch["scale"], arch["degradation"]):
            raise UserError(
                f"{path}: train.distill_crit.teacher is a {found['degradation']} x{found['scale']} generator; "
                f"the trained one is {arch['degradation']} x{arch['scale']}"
            )
        teacher.requires_grad_(False)
        return teacher.to(self.device).eval()

    @staticmethod
    def _adam(params, cfg):
        return torch.optim.Adam(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), weight_decay=cfg["weight_decay"])

    def _crit(self, key):
        cfg = self.opt["train"].get(key)
        crit = build_criterion(cfg)
        return (crit.to(self.device) if crit is not None else None), (cfg["weight"] if cfg else 0.0)

    # ---- data -------------------------------------------------------------------------
    def prepare_batch(self, batch):
        """Dataset batch -> {'lr': (n,t,c,h,w), 'gt': (n,t,c,sh,sw)} on the device."""
        gt = batch["gt"].to(self.device, non_blocking=True)
        if self.degradation == "BD":
            lr = bd_downsample(gt, self.blur_kernel, self.scale)
            gt = crop_border(gt, self.border)
        else:
            lr = batch["lr"].to(self.device, non_blocking=True)
        return {"lr": lr, "gt": gt}

    def networks(self):
        """The trained networks (the generator; TecoGAN adds the discriminator)."""
        return [self.net_G]

    def generators(self):
        """{checkpoint tag: network} of what is validated and saved for test mode: G, and
        G_ema with ``train.ema_decay``."""
        nets = {"G": self.net_G}
        if self.net_G_ema is not None:
            nets["G_ema"] = self.net_G_ema
        return nets

    def set_memory_format(self, memory_format="channels_last"):
        """Run the networks in NHWC ('channels_last', faster on CPUs with oneDNN) or NCHW.
        Same numbers up to float32 summation order."""
        fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
        extra = ([self.net_G_ema] if self.net_G_ema is not None else []) + ([self.teacher] if self.teacher is not None else [])
        for net in self.networks() + extra:
            net.to(memory_format=fmt)

    @torch.no_grad()
    def note_grad_norm(self, name, net):
        """The L2 norm of ``net``'s gradients (unscaled under fp16), when ``track_grad_norm``."""
        if not self.track_grad_norm:
            return
        norms = [p.grad.detach().float().norm() for p in net.parameters() if p.grad is not None]
        if norms:
            scale = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
            self.grad_norms[name] = torch.linalg.vector_norm(torch.stack(norms)) / scale

    @torch.no_grad()
    def update_ema(self):
        """``ema = decay * ema + (1 - decay) * G`` for every floating parameter and buffer
        (other buffers are copied).  In place, float32, in a fixed order: resume stays exact."""
        if self.net_G_ema is None:
            return
        ema, live = self.net_G_ema.state_dict(), self.net_G.state_dict()
        for name, value in live.items():
            if value.is_floating_point():
                ema[name].mul_(self.ema_decay).add_(value.detach(), alpha=1.0 - self.ema_decay)
            else:
                ema[name].copy_(value)

    def autocast(self):
        """The forward passes' context: autocast to ``train.precision`` (a no-op for fp32).
        Losses and backward passes run outside it, on float32 values."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ---- schedules / state ------------------------------------------------------------
    def schedulers(self):
        return [self.sched_G]

    def current_lrs(self):
        return {"lr_G": self.optim_G.param_groups[0]["lr"]}

    def state_dict(self):
        state = {"net_G": self.net_G.state_dict(), "optim_G": self.optim_G.state_dict(), "sched_G": self.sched_G.state_dict()}
        if self.scaler.is_enabled():
            state["grad_scaler"] = self.scaler.state_dict()
        if self.net_G_ema is not None:
            state["net_G_ema"] = self.net_G_ema.state_dict()
        return state

    def load_state_dict(self, state):
        """Restores a training state; returns how the configured LR schedules differ from it.
        ``ema_note`` says when the EMA starts here because the saved state had none."""
        self.net_G.load_state_dict(state["net_G"])
        self.optim_G.load_state_dict(state["optim_G"])
        if self.scaler.is_enabled() and "grad_scaler" in state:
            self.scaler.load_state_dict(state["grad_scaler"])
        self.ema_note = None
        if self.net_G_ema is not None:
            if "net_G_ema" in state:
                self.net_G_ema.load_state_dict(state["net_G_ema"], strict=True)
            else:  # train.ema_decay added to a run saved without it: the average starts now
                self.net_G_ema.load_state_dict(state["net_G"], strict=True)
                self.ema_note = "the training state holds no EMA (train.ema_decay is new): it starts from the resumed G"
        return load_scheduler_state(self.sched_G, state["sched_G"], "generator")

    def checkpoints(self):
        """{'G': state_dict} saved as G_iter{N}.pth (and 'G_ema' as G_ema_iter{N}.pth)."""
        return {tag: net.state_dict() for tag, net in self.generators().items()}

    # ---- one iteration ----------------------------------------------------------------
    def generator_losses(self, lr_data, gt_data, out):
        """Pixel, warping, lattice and grid terms; returns (weighted sum, log dict)."""
        log = {}
        total = 0
        if self.pix_crit is not None:
            l_pix = self.pix_w * self.pix_crit(out["hr_data"].float(), gt_data)
            total = total + l_pix
            log["l_pix_G"] = l_pix.detach()
        if self.warp_crit is not None:
            lr_warp = backward_warp(out["lr_prev"], out["lr_flow"].float())
            l_warp = self.warp_w * self.warp_crit(lr_warp, out["lr_curr"])
            total = total + l_warp
            log["l_warp_G"] = l_warp.detach()
        if self.lattice_crit is not None:  # the 4x4 mesh a GAN draws (metrics/grid.py scores it)
            l_lattice = self.lattice_w * self.lattice_crit(out["hr_data"].float(), gt_data)
            total = total + l_lattice
            log["l_lattice_G"] = l_lattice.detach()
        if self.grid_crit is not None:  # the same mesh as a power ratio: as costly over texture as over flat walls
            l_grid = self.grid_w * self.grid_crit(out["hr_data"].float(), gt_data)
            total = total + l_grid
            log["l_grid_G"] = l_grid.detach()
        if self.block_crit is not None:  # blocks whose edges have every sign: no lattice peak, plain to the eye
            l_block = self.block_w * self.block_crit(out["hr_data"].float(), gt_data)
            total = total + l_block
            log["l_block_G"] = l_block.detach()
        if self.distill_crit is not None:  # toward the frozen teacher's output on the same clip
            with torch.no_grad(), self.autocast():
                taught = self.teacher.forward_sequence(lr_data)
            if self.distill_demesh:  # the teacher's texture without its mesh (losses.demesh)
                with torch.no_grad():
                    taught = {**taught, "hr_data": demesh(taught["hr_data"].float(), gt_data.float())}
            l_distill = self.distill_w * self.distill_crit(out["hr_data"].float(), taught["hr_data"].float())
            total = total + l_distill
            log["l_distill_G"] = l_distill.detach()
            out["hr_taught"] = taught["hr_data"]  # for the feature term (tecogan_model.py)
            if self.distill_flow_w:  # FNet toward the teacher's flow (LR pixels): steadier recurrence
                l_flow = self.distill_flow_w * self.distill_crit(out["lr_flow"].float(), taught["lr_flow"].float())
                total = total + l_flow
                log["l_distill_flow_G"] = l_flow.detach()
            if self.distill_temporal_w:  # consecutive outputs change as the teacher's do (tOF: less flicker)
                l_temporal = self.distill_temporal_w * self.distill_crit(
                    frame_changes(out["hr_data"].float()), frame_changes(taught["hr_data"].float())
                )
                total = total + l_temporal
                log["l_distill_temporal_G"] = l_temporal.detach()
        return total, log

    def train_step(self, batch):
        self.grad_norms = {}
        log = self.optimize(self.prepare_batch(batch))
        self.update_ema()
        return log

    def optimize(self, data):
        """One update from {'lr', 'gt'} tensors on the device; returns the log dict."""
        self.net_G.train()
        self.optim_G.zero_grad(set_to_none=True)
        with self.autocast():
            out = self._forward_sequence(data["lr"])
        loss, log = self.generator_losses(data["lr"], data["gt"], out)
        self.scaler.scale(loss).backward()
        self.note_grad_norm("G", self.net_G)
        self.scaler.step(self.optim_G)
        self.scaler.update()
        return log

    def _forward_sequence(self, lr):
        if self.distributed:
            if self.G is None:
                self.G = DistributedDataParallel(SequenceForward(self.net_G))
            return self.G(lr)
        return self.net_G.forward_sequence(lr)
