"""Criteria (CB, cosine, GAN, LSGAN, lattice, grid peak) and the LR schedules (values, state_dict round trip)."""

import copy
import math
import os

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from helpers import REPO, tree_hash

from tecogan.experiment import load_config
from tecogan.metrics.grid import block_score_frame, grid_score_frame
from tecogan.models.losses import (
    BlockEdgeLoss,
    GridPeakLoss,
    LatticeLoss,
    block_ranges,
    build_criterion,
    demesh,
    lattice_peaks,
    lattice_power,
    phase_jitter,
)
from tecogan.models.lr_schedules import build_scheduler
from tecogan.utils.errors import UserError


def test_charbonnier_mean_and_sum():
    x, y = torch.tensor([0.0, 1.0, 3.0]), torch.tensor([0.0, 0.0, 1.0])
    per = torch.sqrt((x - y) ** 2 + 1e-6)
    assert torch.allclose(build_criterion({"type": "CB", "reduction": "mean"})(x, y), per.mean())
    assert torch.allclose(build_criterion({"type": "CB", "reduction": "sum"})(x, y), per.sum())


def test_cosine_similarity_loss():
    x = torch.randn(2, 5, 3, 3, generator=torch.Generator().manual_seed(0))
    crit = build_criterion({"type": "CosineSimilarity", "reduction": "mean"})
    assert crit(x, x).abs().item() < 1e-6
    assert crit(x, -x).item() == pytest.approx(2.0, abs=1e-6)
    y = torch.randn_like(x)
    assert torch.allclose(crit(x, y), 1 - F.cosine_similarity(x, y, dim=1, eps=1e-8).mean())


def test_gan_and_lsgan():
    logits = torch.tensor([[-2.0, 0.5], [1.0, 3.0]])
    gan, ls = build_criterion({"type": "GAN", "reduction": "mean"}), build_criterion({"type": "LSGAN", "reduction": "mean"})
    assert torch.allclose(gan(logits, True), F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    assert torch.allclose(gan(logits, False), F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)))
    assert torch.allclose(ls(logits, True), ((logits - 1) ** 2).mean())
    assert torch.allclose(ls(logits, False), (logits**2).mean())


def test_absent_and_unknown_criterion():
    assert build_criterion(None) is None
    with pytest.raises(ValueError):
        build_criterion({"type": "Nope", "reduction": "mean"})


def _lrs(cfg, n, lr=1.0):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(opt, cfg)
    out = []
    for _ in range(n):  # stepped at the start of each iteration, as the trainer does
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out, opt, sched


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lattice_loss_sees_a_4x4_mesh_and_not_the_content():
    torch.manual_seed(0)
    smooth = F.interpolate(torch.rand(6, 3, 8, 12), size=(64, 96), mode="bicubic", align_corners=False)
    gt = smooth.reshape(2, 3, 3, 64, 96)  # (n, t, c, H, W): smooth content, as frames are
    mesh = torch.zeros(4, 4)
    mesh[0, 0], mesh[2, 1] = 0.02, -0.02
    tiled = (mesh - mesh.mean()).repeat(16, 24)
    crit = build_criterion({"type": "Lattice", "weight": 1.0, "reduction": "mean"})
    assert isinstance(crit, LatticeLoss)
    assert crit(gt, gt).item() == 0.0
    blurred = F.avg_pool2d(gt.reshape(-1, 3, 64, 96), 3, 1, 1, count_include_pad=False).reshape(gt.shape)
    with_mesh = gt + tiled
    # the mesh's own power, exactly: the centred pattern's mean square
    assert math.isclose(crit(with_mesh, gt).item(), ((mesh - mesh.mean()) ** 2).mean().item(), rel_tol=1e-4)
    assert crit(with_mesh, gt) > 20 * crit(blurred + 0.05, gt)  # blur and a brightness shift barely count
    assert crit(with_mesh, with_mesh).item() == 0.0  # a mesh that is really there costs nothing
    # frames not a multiple of 4 are cut (top-left kept); gradients reach the output
    x = with_mesh[..., :63, :95].clone().requires_grad_(True)
    crit(x, gt[..., :63, :95]).backward()
    assert x.grad.abs().sum() > 0 and x.grad[..., 60:, :].abs().sum() == 0


def test_pooled_lattice_loss_keeps_the_common_mesh_and_drops_each_crops_texture():
    """pool: the meshes are averaged over the batch and the frames before the square, so the
    phase means of each crop's own texture (different in output and ground truth) cancel, and
    a mesh on every crop stays at its full power."""
    torch.manual_seed(0)
    gt = torch.rand(8, 10, 3, 32, 32)
    out = torch.rand(8, 10, 3, 32, 32)  # other texture: per-crop phase means that differ at random
    mesh = torch.zeros(4, 4)
    mesh[1, 1], mesh[3, 2] = 0.05, -0.05
    tiled = (mesh - mesh.mean()).repeat(8, 8)
    cfg = {"type": "Lattice", "weight": 1.0, "reduction": "mean"}
    plain, pooled = build_criterion(cfg), build_criterion({**cfg, "pool": True})
    assert not plain.pool and pooled.pool
    power = ((mesh - mesh.mean()) ** 2).mean().item()
    assert plain(out, gt) > 2 * power  # the texture's phase means swamp the mesh per crop
    assert pooled(out, gt) < plain(out, gt) / 10  # ... and mostly cancel when pooled
    assert math.isclose(pooled(gt + tiled, gt).item(), power, rel_tol=1e-4)  # the common mesh stays
    assert pooled(out + tiled, gt) > pooled(out, gt) + 0.5 * power
    per_frame = out.reshape(-1, 3, 32, 32)  # (n*t, c, H, W) pools the same
    assert math.isclose(pooled(per_frame, gt.reshape(-1, 3, 32, 32)).item(), pooled(out, gt).item(), rel_tol=1e-6)


def test_lattice_peaks_are_the_grid_score_terms():
    """On a float grey frame the loss's peaks average to the metric's score (the metric rounds
    to uint8 grey first, so a frame whose grey is exact integers gives the same value)."""
    torch.manual_seed(0)
    grey = torch.randint(0, 256, (1, 40, 52)).double()
    rgb = grey.expand(3, -1, -1) / 255  # equal channels: grey is the value itself
    expect = grid_score_frame(grey[0].numpy().astype("uint8"))
    assert lattice_peaks(rgb, floor=0).shape == (15,)
    assert math.isclose(lattice_peaks(rgb, floor=0).mean().item(), expect, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(lattice_peaks(grey / 255, floor=0).mean().item(), expect, rel_tol=1e-9, abs_tol=1e-9)
    with pytest.raises(UserError, match="frames of 2 channels"):
        lattice_peaks(torch.rand(2, 40, 52))


def test_grid_peak_loss_sees_a_faint_mesh_over_texture_and_not_the_texture():
    """A mesh far fainter than the texture's own phase means: the squared phase-mean loss
    hardly sees it, the power-ratio loss does; texture that differs costs little, the ground
    truth's own peaks nothing, and gradients reach the output."""
    torch.manual_seed(0)
    texture = F.interpolate(torch.rand(8, 3, 64, 64), size=(128, 128), mode="bicubic", align_corners=False)
    other = F.interpolate(torch.rand(8, 3, 64, 64), size=(128, 128), mode="bicubic", align_corners=False)
    mesh = torch.zeros(4, 4)
    mesh[0, 0], mesh[2, 1] = 0.004, -0.004  # about one grey level
    tiled = (mesh - mesh.mean()).repeat(32, 32)
    crit = build_criterion({"type": "GridPeak", "weight": 1.0, "reduction": "mean"})
    assert isinstance(crit, GridPeakLoss)
    assert crit(texture, texture).item() == 0.0
    lattice = build_criterion({"type": "Lattice", "weight": 1.0, "reduction": "mean"})
    assert lattice(texture + tiled, texture) < lattice(other, texture) / 10  # the mesh drowns in texture ...
    assert crit(texture + tiled, texture) > 2 * crit(other, texture)  # ... but stands out as a peak
    assert crit(texture + tiled, texture + tiled).item() == 0.0  # peaks the ground truth has cost nothing
    total = build_criterion({"type": "GridPeak", "weight": 1.0, "reduction": "sum"})(texture + tiled, texture)
    assert math.isclose(total.item(), crit(texture + tiled, texture).item() * 8 * 15, rel_tol=1e-5)
    x = (texture + tiled).clone().requires_grad_(True)
    crit(x, texture).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    flat = torch.full((2, 3, 16, 16), 0.5)
    assert torch.isfinite(crit(flat, flat)) and crit(flat, flat).item() == 0.0  # a flat frame: the floor keeps it finite
    with pytest.raises(UserError, match="smaller than two 4x4 periods"):
        crit(torch.rand(1, 3, 7, 40), torch.rand(1, 3, 7, 40))


def test_grid_peak_pooled_over_time_sees_a_mesh_that_stays_while_texture_moves():
    """pool_time: each clip averaged over its frames before the peaks; a mesh fixed to the pixel
    lattice under texture that pans stands out far more than frame by frame."""
    torch.manual_seed(0)
    wide = F.interpolate(torch.rand(2, 3, 64, 96), size=(128, 192), mode="bicubic", align_corners=False)
    clip = torch.stack([wide[..., 5 * i : 5 * i + 128] for i in range(8)], dim=1)  # (2, 8, 3, 128, 128): panning
    mesh = torch.zeros(4, 4)
    mesh[1, 0], mesh[3, 3] = 0.003, -0.003
    tiled = (mesh - mesh.mean()).repeat(32, 32)
    cfg = {"type": "GridPeak", "reduction": "mean"}
    per_frame, pooled = build_criterion(cfg), build_criterion({**cfg, "pool_time": True})
    assert pooled.pool_time and not per_frame.pool_time
    assert pooled(clip + tiled, clip) > 1.4 * per_frame(clip + tiled, clip)  # log10 ratios: 1.6 against 1.0
    assert pooled(clip, clip).item() == 0.0
    with pytest.raises(UserError, match="pool_time needs"):
        pooled(clip[:, 0], clip[:, 0])


def test_grid_crit_in_the_schema(tmp_path):
    """train.grid_crit takes the peak criteria only: GridPeak loads with its defaults, a
    lattice type there is one error naming the key and the choices."""
    cfg = yaml.safe_load((REPO / "experiments_BD" / "FRVSR_footage" / "001" / "train.yml").read_text())
    cfg["train"]["grid_crit"] = {"type": "GridPeak", "weight": 2.0}
    path = tmp_path / "train.yml"
    path.write_text(yaml.safe_dump(cfg))
    assert load_config(str(path))["train"]["grid_crit"] == {
        "type": "GridPeak",
        "weight": 2.0,
        "reduction": "mean",
        "pool_time": False,
        "ring_grad": True,
        "keep_rings": False,
    }
    cfg["train"]["grid_crit"]["ring_grad"] = "no"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match=r"train.grid_crit.ring_grad"):
        load_config(str(path))
    cfg["train"]["grid_crit"]["ring_grad"] = False
    cfg["train"]["grid_crit"]["type"] = "Lattice"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match=r"train.grid_crit.type: .*GridPeak"):
        load_config(str(path))


def test_grid_peak_without_ring_gradient_only_lowers_the_peaks():
    """With ring_grad false the loss's value is the same, but its gradient is made of the
    lattice frequencies alone (through the window): a step along it moves no power two bins
    beside them.  With the ring's gradient it does."""
    torch.manual_seed(0)
    n = 32
    gt = torch.rand(1, 3, n, n, dtype=torch.float64)
    mesh = torch.zeros(1, 1, n, n, dtype=torch.float64)
    mesh[..., ::4, ::4] = 0.5  # a period-4 pattern far above the ground truth's
    out = (gt * 0.5 + mesh).requires_grad_()
    window = torch.outer(*(torch.hann_window(n, periodic=False, dtype=torch.float64),) * 2)
    inside = (slice(4, n - 8), slice(4, n - 8))  # away from the window's zeros

    def lattice_part(flag):
        """How far the gradient (per grey level, window divided out) is from period 4."""
        loss = GridPeakLoss(ring_grad=flag)
        (grad,) = torch.autograd.grad(loss(out, gt), out)
        grey = grad[0, 0] / 0.299  # the red channel's share of the grey gradient
        sines = (grey - grey[0, 0]) / window.clamp_min(1e-12)  # the mean removal adds a constant
        body = sines[inside]
        shifted = sines[8 : n - 4, 8 : n - 4]  # the same pixels four rows and columns on
        return loss(out, gt).item(), (body - shifted).abs().max().item() / body.abs().max().item()

    value_with, off_with = lattice_part(True)
    value_without, off_without = lattice_part(False)
    assert math.isclose(value_with, value_without, rel_tol=1e-12) and value_with > 0
    assert off_without < 1e-4 < 0.01 < off_with


def test_grid_peak_keep_rings_charges_texture_smoothed_away():
    """keep_rings adds what the output lacks beside the lattice frequencies: nothing for the
    ground truth itself, a positive cost for the same texture blurred (whose mesh-free ratio
    the plain loss does not charge more for)."""
    torch.manual_seed(0)
    gt = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    blurred = torch.nn.functional.avg_pool2d(gt, 3, stride=1, padding=1, count_include_pad=False)
    plain, keep = GridPeakLoss(), GridPeakLoss(keep_rings=True)
    assert keep(gt, gt).item() == 0.0
    _, rings_gt = lattice_power(gt)
    _, rings_blurred = lattice_power(blurred)
    lost = torch.relu(torch.log10(rings_gt) - torch.log10(rings_blurred)).mean().item()
    assert lost > 0.3  # a 3x3 box takes most of the power near period 4
    assert math.isclose(keep(blurred, gt).item(), plain(blurred, gt).item() + lost, rel_tol=1e-9)


def test_demesh_takes_the_mesh_out_and_keeps_the_rest():
    """demesh: the ground truth is its own fixed point; a mesh over texture loses its grid score
    (to about the texture's) while every bin off the lattice neighbourhoods is left exactly as it
    was; sides not multiples of 4 are one line."""
    torch.manual_seed(0)
    texture = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 64, 64, dtype=torch.float64), 3, 1, 1)
    mesh = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
    mesh[..., ::4, ::4], mesh[..., 1::4, 2::4] = 0.03, -0.02
    meshed = texture + mesh
    assert torch.allclose(demesh(texture, texture), texture, atol=1e-12, rtol=0)
    clean = demesh(meshed, texture)

    def score(frame):
        return grid_score_frame((frame.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8))

    assert score(meshed[0]) > score(texture[0]) + 0.5 and score(clean[0]) < score(texture[0]) + 0.2
    untouched = torch.ones(64, 64, dtype=torch.bool)
    for y0 in range(0, 64, 16):
        for x0 in range(0, 64, 16):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    untouched[(y0 + dy) % 64, (x0 + dx) % 64] = False
    before, after = torch.fft.fft2(meshed), torch.fft.fft2(clean)
    assert torch.allclose(before[..., untouched], after[..., untouched], atol=1e-9)
    assert (after.abs() <= before.abs() + 1e-9).all()  # power is only ever lowered
    with pytest.raises(UserError, match=r"demesh: frames of 30x32"):
        demesh(torch.rand(1, 3, 32, 30), torch.rand(1, 3, 32, 30))


def test_block_edges_see_blocks_of_any_sign():
    """The block score (metric) and the BlockEdge loss's terms agree; 4x4 blocks of random
    grey levels (no lattice peak to speak of) score far above their own texture, which the
    loss then charges; the ground truth against itself costs nothing; one line for bad frames."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (64, 96)).astype(np.float64), (0, 0), 1.0)
    blocks = np.kron(rng.integers(0, 256, (16, 24)), np.ones((4, 4)))  # every block its own level
    blocky = np.clip(0.5 * texture + 0.5 * blocks, 0, 255).astype(np.uint8)
    smooth = np.clip(texture, 0, 255).astype(np.uint8)
    assert block_score_frame(smooth) < 0.1 < 0.5 < block_score_frame(blocky)
    assert grid_score_frame(blocky) < 0.5  # the lattice peaks hardly see them
    as_tensor = torch.from_numpy(np.stack([blocky, smooth])).double()[:, None] / 255
    terms = block_ranges(as_tensor)
    assert terms[0].item() == pytest.approx(block_score_frame(blocky), abs=1e-6)
    loss = BlockEdgeLoss()
    x = as_tensor[:1].clone().requires_grad_()
    value = loss(x, as_tensor[1:])
    value.backward()
    assert value.item() == pytest.approx(terms[0].item() - terms[1].item()) and x.grad.abs().sum() > 0
    assert loss(as_tensor, as_tensor).item() == 0.0
    with pytest.raises(UserError, match=r"BlockEdge: frames of 2 channels"):
        loss(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16))


def test_fixed_and_multistep():
    assert _lrs({"type": "FixedLR"}, 5)[0] == [1.0] * 5
    assert _lrs(None, 3)[0] == [1.0] * 3
    lrs = _lrs({"type": "MultiStepLR", "milestones": [2, 4], "gamma": 0.5}, 5)[0]
    assert lrs == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cosine_restart():
    cfg = {"type": "CosineAnnealingLR_Restart", "periods": [4, 4], "restarts": [4], "restart_weights": [0.5], "eta_min": 0.0}
    lrs = _lrs(cfg, 8)[0]
    expect = (
        [(1 + math.cos(math.pi * i / 4)) / 2 for i in range(1, 4)]
        + [0.5]
        + [0.5 * (1 + math.cos(math.pi * i / 4)) / 2 for i in range(1, 4)]
        + [0.0]
    )
    assert lrs[:7] == pytest.approx(expect[:7])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "MultiStepLR", "milestones": [3], "gamma": 0.1},
        {"type": "CosineAnnealingLR_Restart", "periods": [5], "eta_min": 1e-3},
    ],
)
def test_schedule_state_round_trip(cfg):
    straight, _, _ = _lrs(cfg, 6)
    first, _, sched = _lrs(cfg, 3)
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_scheduler(opt2, cfg)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = first[-1]  # the optimiser state carries the current lr
    rest = []
    for _ in range(3):
        sched2.step()
        rest.append(opt2.param_groups[0]["lr"])
    assert first + rest == pytest.approx(straight)


def test_feature_loss_with_the_bundled_alexnet(golden):
    """TecoGAN's feature loss on the AlexNet backbone that ships with the repository."""
    import numpy as np
    from golden_steps import make_opt, run_step

    from tecogan.networks.vgg import BUNDLED_ALEXNET, FeatureExtractor

    net = FeatureExtractor(backbone="alexnet")
    bundled = torch.load(BUNDLED_ALEXNET, weights_only=True)
    assert torch.equal(net.features[3].weight, bundled["features.3.weight"])
    feats = net(torch.rand(2, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [64, 192, 384, 256, 256]
    opt = make_opt("tecogan_default")
    opt["train"]["feature_crit"] = {"type": "CosineSimilarity", "weight": 0.2, "backbone": "alexnet"}
    log, _, _ = run_step(golden, "tecogan_default", opt=opt)
    assert 0 < float(log["l_feat_G"]) < 0.2 * 5 * 2 and np.isfinite(float(log["l_pix_G"]))  # 5 layers, 1 - cos <= 2


COSINE = {"type": "CosineAnnealingLR_Restart", "periods": [4, 4]}


def _train_yaml(tmp_path, schedule):
    cfg = yaml.safe_load((REPO / "experiments_BD" / "FRVSR_footage" / "001" / "train.yml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["train"]["generator"]["lr_schedule"] = schedule
    path = tmp_path / "train.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    "extra,needle",
    [
        ({"restarts": [4], "restart_weights": [-5.0]}, "restart_weights: expected a list of numbers >= 0"),
        ({"restarts": [4], "restart_weights": [float("nan")]}, "restart_weights: expected a list of numbers >= 0"),
        ({"restarts": [4], "restart_weights": [True]}, "restart_weights: expected a list of numbers >= 0"),
        ({"restarts": [4], "restart_weights": [0.5, 1.0]}, "restart_weights: 2 numbers for 1 restart; expected one"),
        ({"restarts": [8, 4]}, "restarts: expected a list of increasing iteration numbers"),
        ({"restarts": [0]}, "restarts: expected a list of increasing iteration numbers (1.."),
        ({"periods": [4, 0]}, "periods: expected a list of iteration numbers (1.."),
        ({"periods": [-4]}, "periods: expected a list of iteration numbers (1.."),
    ],
)
def test_lr_schedule_lists_are_checked(tmp_path, extra, needle):
    path = _train_yaml(tmp_path, {**COSINE, **extra})
    before = tree_hash(path)
    with pytest.raises(UserError) as info:
        load_config(str(path))
    assert f"train.yml: train.generator.lr_schedule.{needle}" in str(info.value)
    assert tree_hash(path) == before


def test_lr_schedule_with_sound_restarts_loads(tmp_path):
    cfg = load_config(str(_train_yaml(tmp_path, {**COSINE, "restarts": [4], "restart_weights": [0.5]})))
    assert cfg["train"]["generator"]["lr_schedule"]["restart_weights"] == [0.5]


def test_phase_jitter_visits_every_offset_and_cuts_both_alike():
    """feature_crit.phase_jitter: output and ground truth cut by 3 rows and columns at the
    iteration's offset; 16 iterations visit the 16 offsets of the 4x4 lattice once each."""
    x = torch.arange(2 * 3 * 12 * 16, dtype=torch.float32).reshape(2, 3, 12, 16)
    y = -x
    seen = set()
    for step in range(16):
        a, b = phase_jitter(x, y, step)
        assert a.shape == b.shape == (2, 3, 9, 13)
        assert torch.equal(b, -a)  # the same cut of both
        dy, dx = divmod(int(a[0, 0, 0, 0].item()), 16)
        assert torch.equal(a, x[..., dy : dy + 9, dx : dx + 13])
        seen.add((dy, dx))
    assert seen == {(dy, dx) for dy in range(4) for dx in range(4)}
    assert torch.equal(phase_jitter(x, y, 21)[0], phase_jitter(x, y, 5)[0])  # a function of the step alone


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step()`:UserWarning")
@pytest.mark.parametrize("jitter", [False, True])
def test_tecogan_feature_loss_cuts_at_the_iterations_offset(monkeypatch, jitter):
    """With feature_crit.phase_jitter the AlexNet feature loss sees output and ground truth cut
    at offset (step % 4, step // 4 % 4), the step being the generator scheduler's iteration;
    without it, the whole crops."""
    import golden_steps

    import tecogan.models.tecogan_model as tecogan_model

    calls = []

    def spy(x, y, step, period=4):
        calls.append(step)
        return phase_jitter(x, y, step, period)

    monkeypatch.setattr(tecogan_model, "phase_jitter", spy)
    opt = golden_steps.make_opt("tecogan_default")
    weights = os.path.join(REPO, "pretrained_models", "alexnet_imagenet_features.pth")
    opt["train"]["feature_crit"] = {
        "type": "CosineSimilarity",
        "weight": 0.2,
        "backbone": "alexnet",
        "weights": weights,
        "phase_jitter": jitter,
    }
    model, _ = golden_steps.build_model("tecogan_default", opt=opt)
    seen = []
    forward = model.net_F.forward
    model.net_F.forward = lambda x: seen.append(tuple(x.shape[-2:])) or forward(x)
    gt = torch.nn.functional.interpolate(torch.rand(4, 3, 9, 9), size=72, mode="bicubic", align_corners=False)
    data = model.prepare_batch({"gt": gt.clamp(0, 1).reshape(1, 4, 3, 72, 72)})
    for _ in range(2):
        for s in model.schedulers():  # the trainer steps them at the start of each iteration
            s.step()
        model.optimize(data)
    size = seen[0][0]
    assert seen == [(size, size)] * 4  # output and ground truth alike, each step
    if jitter:
        assert calls == [1, 2] and size == 64 - 3
    else:
        assert calls == [] and size == 64


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("change", ["lr", "milestones"])
def test_a_multistep_schedule_changed_on_resume_is_followed(change):
    """MultiStepLR multiplies the optimiser's current rate and never reads base_lrs: a YAML whose
    lr or milestones changed between sessions must still give the YAML's rates (the log says so)."""
    from tecogan.models.lr_schedules import load_scheduler_state

    old = {"type": "MultiStepLR", "milestones": [4], "gamma": 0.1}
    new = dict(old, milestones=[8]) if change == "milestones" else old
    base = 2.0 if change == "lr" else 1.0
    _, _, sched = _lrs(old, 5)  # saved at position 5: past the old milestone, rate 0.1
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)  # the optimiser state: the saved rate
    sched2 = build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base), new)
    sched2.optimizer.param_groups[0]["lr"] = opt2.param_groups[0]["lr"]
    changes = load_scheduler_state(sched2, sched.state_dict(), "generator")
    assert changes and any(k in changes[0] for k in ("base_lrs", "milestones"))
    rates = []
    for _ in range(4):  # positions 6..9
        sched2.step()
        rates.append(sched2.optimizer.param_groups[0]["lr"])
    want = [base * 0.1] * 4 if change == "lr" else [1.0, 1.0, 0.1, 0.1]
    assert rates == pytest.approx(want)


def test_training_step_adds_the_lattice_and_grid_terms(tmp_path):
    """A tiny TecoGAN step with train.lattice_crit and train.grid_crit: each term is its weight
    times its criterion on the step's output, logged as l_lattice_G and l_grid_G."""
    from test_training_trainer import write_opt

    from tecogan.experiment import validate_config
    from tecogan.models import build_model

    def extra(opt):
        opt["train"]["lattice_crit"] = {"type": "Lattice", "weight": 100.0}
        opt["train"]["grid_crit"] = {"type": "GridPeak", "weight": 0.5}

    write_opt(tmp_path / "exp", tmp_path, model="TecoGAN", extra=extra)
    opt = validate_config(yaml.safe_load((tmp_path / "exp" / "train.yml").read_text()))
    torch.manual_seed(0)
    model = build_model(opt, torch.device("cpu"))
    out = {"hr_data": torch.rand(2, 3, 3, 32, 32)}
    gt = torch.rand(2, 3, 3, 32, 32)
    warping = model.warp_crit
    model.warp_crit = None  # the warping term needs the flow of a real forward pass
    _, log = model.generator_losses(None, gt, out)
    model.warp_crit = warping
    assert math.isclose(log["l_grid_G"].item(), 0.5 * GridPeakLoss()(out["hr_data"], gt).item(), rel_tol=1e-6)
    assert math.isclose(log["l_lattice_G"].item(), 100.0 * LatticeLoss()(out["hr_data"], gt).item(), rel_tol=1e-6)
    assert log["l_grid_G"].item() > 0
    model.train_step({"gt": torch.rand(2, 3, 3, 40, 40)})  # a whole step runs with both terms
