"""TecoGAN: FRVSR's generator plus a (spatio-)temporal discriminator, VGG feature loss,
ping-pong and feature-matching losses, and an adaptive discriminator update
(docs/architecture.md, "Losses and one training step")."""

from dataclasses import dataclass

import torch

from tecogan.models.discriminator_inputs import s_input, st_input, triplet_flows
from tecogan.models.frvsr_model import FRVSRModel
from tecogan.models.losses import phase_jitter
from tecogan.models.lr_schedules import build_scheduler, load_scheduler_state
from tecogan.networks.discriminators import DISCRIMINATORS
from tecogan.networks.vgg import FeatureExtractor
from tecogan.utils.checkpoint import load_into, load_state_dict_file
from tecogan.utils.distributed import average_gradients, average_scalar
from tecogan.utils.errors import UserError


@dataclass
class Clips:
    """One iteration's clips (n, T, c, h, w), ping-pong extended when that loss is on: ``lr``,
    ``gt``, ``bi`` (the upsampled LR clip), ``t`` (the length before the extension) and ``flows``
    (the triplets' HR flows for STNet, None for SNet)."""

    lr: torch.Tensor
    gt: torch.Tensor
    bi: torch.Tensor
    t: int
    flows: torch.Tensor = None


class TecoGANModel(FRVSRModel):
    FEATURE_LOSSES = True

    def __init__(self, opt, device, distributed=False):
        super().__init__(opt, device, distributed)
        d = opt["model"]["discriminator"]
        ds = opt["dataset"]["train"] or {}
        crop = ds.get("crop_size") or ds.get("gt_crop_size")
        self.net_D = DISCRIMINATORS[d["name"]].from_options(d, crop).to(device)
        if self.net_D.input_kind == "triplets" and not self.net_G.estimates_flow:
            raise UserError(
                f"model.discriminator.name {d['name']} warps frames with the generator's flows, and "
                f"model.generator.name {opt['model']['generator']['name']} estimates none: use SNet"
            )
        if d.get("load_path"):
            load_into(
                self.net_D,
                load_state_dict_file(d["load_path"]),
                d["load_path"],
                describe_expected=f"{d['name']} discriminator for crop {crop}",
            )
        # D runs three times per iteration (real, fake for D, fake for G) before one backward,
        # which DistributedDataParallel does not allow: its gradients are averaged by hand.
        self.D = self.net_D
        tr = opt["train"]
        dcfg = tr["discriminator"]
        self.optim_D = self._adam(self.net_D.parameters(), dcfg)
        self.sched_D = build_scheduler(self.optim_D, dcfg.get("lr_schedule"))
        self.update_policy = dcfg["update_policy"]
        self.update_threshold = dcfg["update_threshold"]
        self.crop_border_ratio = dcfg["crop_border_ratio"]
        self.gan_crit, self.gan_w = self._crit("gan_crit")
        self.pp_crit, self.pp_w = self._crit("pingpong_crit")
        self.fm_crit, self.fm_w = self._crit("feature_matching_crit")
        self.feat_crit, self.feat_w = self._crit("feature_crit")
        self.net_F = None
        self.feat_jitter = bool((tr.get("feature_crit") or {}).get("phase_jitter"))
        if self.feat_crit is not None:
            fc = tr["feature_crit"]
            self.net_F = FeatureExtractor(
                fc.get("feature_layers"), fc.get("weights") or fc.get("vgg_weights"), fc["backbone"]
            ).to(device)
        if self.distill_feature_w and self.feat_crit is None:
            raise UserError(
                f"train.distill_crit.feature_weight: {self.distill_feature_w}, but train.feature_crit is not set; "
                f"add it (the network and criterion the term uses) or set the weight to 0"
            )
        self.n_upd_D = 0.0

    def networks(self):
        return [self.net_G, self.net_D]

    def schedulers(self):
        return [self.sched_G, self.sched_D]

    def current_lrs(self):
        return {"lr_G": self.optim_G.param_groups[0]["lr"], "lr_D": self.optim_D.param_groups[0]["lr"]}

    def state_dict(self):
        state = super().state_dict()
        state.update(
            net_D=self.net_D.state_dict(),
            optim_D=self.optim_D.state_dict(),
            sched_D=self.sched_D.state_dict(),
            n_upd_D=torch.tensor(self.n_upd_D),
        )
        return state

    def load_state_dict(self, state):
        changes = super().load_state_dict(state)
        self.net_D.load_state_dict(state["net_D"])
        self.optim_D.load_state_dict(state["optim_D"])
        self.n_upd_D = float(state["n_upd_D"])
        return changes + load_scheduler_state(self.sched_D, state["sched_D"], "discriminator")

    def checkpoints(self):
        return dict(super().checkpoints(), D=self.net_D.state_dict())

    def optimize(self, data):
        """One TecoGAN iteration: generator pass, discriminator step, generator step."""
        lr_data, gt_data = data["lr"], data["gt"]
        t = lr_data.shape[1]
        bi_data = self.upsample_clip(lr_data)
        if self.pp_crit is not None:  # ping-pong: frames 0..t-1 then t-2..0
            lr_data, gt_data, bi_data = (torch.cat([x, x.flip(1)[:, 1:]], dim=1) for x in (lr_data, gt_data, bi_data))

        self.net_G.train()
        self.net_D.train()
        self.optim_G.zero_grad(set_to_none=True)
        self.optim_D.zero_grad(set_to_none=True)
        clips = Clips(lr_data, gt_data, bi_data, t)
        with self.autocast():
            out = self._forward_sequence(lr_data)
            if self.net_D.input_kind == "triplets":
                clips.flows = self.triplet_flows(clips, out["hr_flow"])
        log, real_feats = self.discriminator_step(clips, out["hr_data"])
        log.update(self.generator_step(clips, out, real_feats))
        self.scaler.update()
        return log

    def triplet_flows(self, clips, hr_flow):
        """The HR flows STNet warps with: backward flows from the generator's pass; forward ones
        from its reversed half (ping-pong) or, without ping-pong, from the generator's ``hr_flow``."""
        n, length, c, h, w = clips.lr.shape
        t = length // 3 * 3
        flow_fw = None
        if self.pp_crit is None:
            lr_curr = clips.lr[:, 1:t:3].reshape(-1, c, h, w)
            lr_next = clips.lr[:, 2:t:3].reshape(-1, c, h, w)
            flow_fw = self.net_G.hr_flow(lr_curr, lr_next).view(n, t // 3, 2, h * self.scale, w * self.scale)
        return triplet_flows(hr_flow, t, flow_fw)

    def discriminator_input(self, data, clips):
        """The input of net_D for a clip of HR frames ``data`` (real or generated)."""
        if self.net_D.input_kind == "triplets":
            return st_input(data, clips.flows, clips.bi, self.crop_border_ratio, self.net_D.spatial_size)
        return s_input(data, clips.bi if self.net_D.use_cond else None)

    def upsample_clip(self, lr_data):
        """The generator's upsampler over a clip: (n, t, c, h, w) -> (n, t, c, s*h, s*w)."""
        n, t, c, h, w = lr_data.shape
        s = self.scale
        return self.net_G.upsample_func(lr_data.reshape(n * t, c, h, w)).view(n, t, c, s * h, s * w)

    def discriminator_step(self, clips, hr_data):
        """D on real and (detached) fake clips; updated unless the adaptive policy says D is
        ahead (distance >= threshold).  Returns (log, features of the real clip)."""
        log = {}
        self.net_D.requires_grad_(True)
        with self.autocast():
            real_logits, real_feats = self.D(self.discriminator_input(clips.gt, clips))
            fake_logits, _ = self.D(self.discriminator_input(hr_data.detach(), clips))
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        update_D = True
        if self.update_policy == "adaptive":
            distance = (
                torch.log(torch.sigmoid(real_logits) + 1e-8).mean().item()
                - torch.log(torch.sigmoid(fake_logits) + 1e-8).mean().item()
            )
            if self.distributed:  # every process must take the same decision (gradient all-reduce)
                distance = average_scalar(distance)
            update_D = distance < self.update_threshold
            log["distance"] = distance
        if update_D:
            self.n_upd_D += 1.0
            loss_D = self.gan_crit(real_logits, True) + self.gan_crit(fake_logits, False)
            self.scaler.scale(loss_D).backward()
            if self.distributed:
                average_gradients(self.net_D.parameters())
            self.note_grad_norm("D", self.net_D)
            self.scaler.step(self.optim_D)
            log["l_gan_D"] = loss_D.detach()
        else:
            log["l_gan_D"] = 0.0
        log["p_real_D"] = real_logits.mean().detach()
        log["p_fake_D"] = fake_logits.mean().detach()
        if self.update_policy == "adaptive":
            log["n_upd_D"] = self.n_upd_D
        return log, real_feats

    def feature_distance(self, feats, target_feats):
        """train.feature_crit summed over the feature layers; the target's side carries no gradient."""
        return sum(self.feat_crit(f.float(), t.detach().float()) for f, t in zip(feats, target_feats, strict=True))

    def generator_step(self, clips, out, real_feats):
        """Pixel, warping, feature, ping-pong, feature-matching and GAN terms; one G update."""
        lr_data, gt_data, t = clips.lr, clips.gt, clips.t
        hr_data = out["hr_data"].float()
        c, gt_h, gt_w = gt_data.shape[-3:]
        self.net_D.requires_grad_(False)
        loss_G, log = self.generator_losses(lr_data, gt_data, out)
        if self.feat_crit is not None:
            hr_in, gt_in = hr_data.reshape(-1, c, gt_h, gt_w), gt_data.reshape(-1, c, gt_h, gt_w)
            taught_in = out["hr_taught"].float().reshape(-1, c, gt_h, gt_w) if self.distill_feature_w else None
            if self.feat_jitter:  # the iteration's offset (the scheduler counts iterations, resumes exactly)
                step = self.sched_G.last_epoch
                if taught_in is not None:
                    _, taught_in = phase_jitter(hr_in, taught_in, step)
                hr_in, gt_in = phase_jitter(hr_in, gt_in, step)
            with self.autocast():
                hr_feats = self.net_F(hr_in)
                gt_feats = self.net_F(gt_in)
            l_feat = self.feat_w * self.feature_distance(hr_feats, gt_feats)
            loss_G = loss_G + l_feat
            log["l_feat_G"] = l_feat.detach()
            if taught_in is not None:  # the teacher's texture in feature space (train.distill_crit)
                with torch.no_grad(), self.autocast():
                    taught_feats = self.net_F(taught_in)
                l_feat_taught = self.distill_feature_w * self.feature_distance(hr_feats, taught_feats)
                loss_G = loss_G + l_feat_taught
                log["l_distill_feat_G"] = l_feat_taught.detach()
        if self.pp_crit is not None:
            l_pp = self.pp_w * self.pp_crit(hr_data[:, : t - 1], hr_data[:, t:].flip(1))
            loss_G = loss_G + l_pp
            log["l_pp_G"] = l_pp.detach()
        with self.autocast():
            fake_logits_G, fake_feats = self.D(self.discriminator_input(hr_data, clips))
        fake_logits_G = fake_logits_G.float()
        if self.fm_crit is not None:
            norms = self.opt["train"]["feature_matching_crit"]["layer_norm"]
            l_fm = self.fm_w * sum(
                self.fm_crit(f.float(), r.detach().float()) / norms[i]
                for i, (f, r) in enumerate(zip(fake_feats, real_feats, strict=False))
            )
            loss_G = loss_G + l_fm
            log["l_fm_G"] = l_fm.detach()
        l_gan = self.gan_w * self.gan_crit(fake_logits_G, True)
        loss_G = loss_G + l_gan
        log["l_gan_G"] = l_gan.detach()
        log["p_fake_G"] = fake_logits_G.mean().detach()
        self.scaler.scale(loss_G).backward()
        self.note_grad_norm("G", self.net_G)
        self.scaler.step(self.optim_G)
        self.net_D.requires_grad_(True)
        return log
