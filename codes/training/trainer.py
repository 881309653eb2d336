"""One training loop for FRVSR and TecoGAN.

Layout under ``<exp_dir>``: ``train/train.log``, ``train/ckpt/G_iter{N}.pth`` (plain generator
state dict, what test mode loads), ``D_iter{N}.pth`` (TecoGAN), ``state_iter{N}.pth``
(everything exact resume needs), ``test/metrics/<dataset>_avg.json`` (validation) and,
with ``test.save_res``, ``test/results/<dataset>/G_iter{N}/<seq>/``.

Exact resume: the data of iteration ``i`` depends only on (seed, epoch, position), the
sampler is re-created from (seed, epoch) and skips what was consumed, and the state holds
networks, optimisers, schedulers, counters, running averages and the RNG states.
"""
import glob
import logging
import os
import random
import re
import signal
import sys
import time
import warnings

import numpy as np
import torch

from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import atomic_torch_save

STATE_RE = re.compile(r"state_iter(\d+)\.pth$")


# ---------------------------------------------------------------- logging ----
def make_logger(log_path, is_main):
    logger = logging.getLogger("tecogan.train")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if is_main:
        fmt = logging.Formatter("%(asctime)s [%(levelname)s]: %(message)s", "%Y-%m-%d %H:%M:%S")
        fh = logging.FileHandler(log_path)
        fh.setFormatter(fmt)
        logger.addHandler(fh)
        if not os.environ.get("TECOGAN_LOG_FILE_ONLY"):
            sh = logging.StreamHandler(sys.stdout)
            sh.setFormatter(fmt)
            logger.addHandler(sh)
    else:
        logger.addHandler(logging.NullHandler())
    return logger


class RunningLog:
    """Exponential running averages of the logged values (``logger.decay``)."""

    def __init__(self, decay):
        self.decay, self.values = decay, {}

    def update(self, log):
        for k, v in log.items():
            old = self.values.get(k)
            self.values[k] = v if old is None else self.decay * old + (1 - self.decay) * v

    def format(self):
        return ", ".join(f"{k}: {v:.3e}" for k, v in self.values.items())


# ----------------------------------------------------------------- states ----
def rng_state():
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {"python": torch.tensor(py_state, dtype=torch.int64), "python_version": py_version,
            "python_gauss": py_gauss, "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
            "numpy_pos": int(np_pos), "numpy_has_gauss": int(np_has_gauss), "numpy_gauss": float(np_gauss),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state):
    random.setstate((state["python_version"], tuple(int(x) for x in state["python"].tolist()),
                     state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def find_latest_state(ckpt_dir):
    found = []
    for path in glob.glob(os.path.join(ckpt_dir, "state_iter*.pth")):
        m = STATE_RE.search(os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None


def load_training_state(path):
    from tecogan.utils.checkpoint import check_tensors, verify_checkpoint_file
    if not os.path.isfile(path):
        raise UserError(f"{path}: training state not found")
    verify_checkpoint_file(path)  # CRC of every entry: a damaged copy is not resumed silently
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a state, crafted pickle
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable training state ({first[:160]})")
    check_tensors(state, path)  # shapes fit their data, no NaN/Inf
    return state


# -------------------------------------------------------------- validation ---
def validate(model, opt, exp_dir, iteration, device, metric_calc, logger):
    from tecogan.config import test_datasets
    from tecogan.data.folder_dataset import PairedFolderDataset
    from tecogan.inference import infer_sequence
    from tecogan.metrics.validation import update_avg_json
    from tecogan.utils.fileio import write_image_rgb

    test_opt = opt["test"]
    json_dir = test_opt.get("json_dir") or os.path.join(exp_dir, "test", "metrics")
    res_dir = test_opt.get("res_dir") or os.path.join(exp_dir, "test", "results")
    tag = f"G_iter{iteration}"
    net = model.net_G
    was_training = net.training
    net.eval()
    try:
        for _key, ds in test_datasets(opt):
            dataset = PairedFolderDataset(ds["lr_seq_dir"], ds.get("gt_seq_dir"), opt["scale"],
                                          ds.get("filter_file"), read_gt=bool(ds.get("gt_seq_dir")))
            sequences = {}
            for i in range(len(dataset)):
                item = dataset[i]
                sr = np.stack(list(infer_sequence(net, item["lr"], test_opt["num_pad_front"],
                                                  test_opt["padding_mode"], device, channels_last=False)))
                if test_opt.get("save_res"):
                    for name, frame in zip(item["frame_names"], sr):
                        write_image_rgb(os.path.join(res_dir, ds["name"], tag, item["name"], name), frame)
                if item["gt"] is not None:
                    sequences[item["name"]] = (item["gt"], sr)
            if not sequences or metric_calc is None:
                continue
            avg = metric_calc.evaluate(sequences)
            for seq, values in metric_calc.per_sequence.items():
                logger.info(f"[{ds['name']}/{seq}] " + ", ".join(f"{k}: {v:.6f}" for k, v in values.items()))
            logger.info(f"[{ds['name']}] {tag} average: " + ", ".join(f"{k}: {v:.6f}" for k, v in avg.items()))
            if test_opt.get("save_json", True):
                update_avg_json(os.path.join(json_dir, f"{ds['name']}_avg.json"), tag, avg)
    finally:
        net.train(was_training)
        net.to(memory_format=torch.contiguous_format)


def build_metric_calculator(opt, device, logger):
    from tecogan.metrics.validation import ValidationMetrics
    config = dict(opt.get("metric") or {})
    if not config:
        return None
    try:
        return ValidationMetrics(config, device=device)
    except UserError as err:
        if "LPIPS" not in config or (config["LPIPS"] or {}).get("weights"):
            raise  # not about LPIPS, or an explicit weights file that is wrong: the user's to fix
        warn(f"validation LPIPS disabled: {err}")
        logger.info(f"validation LPIPS disabled: {err}")
        config.pop("LPIPS")
        return ValidationMetrics(config, device=device) if config else None


# -------------------------------------------------------------------- loop ---
class _StopFlag:
    def __init__(self):
        self.signal = None

    def __call__(self, signum, _frame):
        self.signal = signum


def train(opt, args):
    from tecogan.data.train_datasets import build_train_dataset
    from tecogan.models import build_model
    from tecogan.utils.distributed import average_scalar, barrier, cleanup, init_from_env
    from tecogan.training.sampler import ResumableSampler
    from tecogan.utils.device import device_from_gpu_id

    if opt.get("train") is None or (opt["dataset"].get("train") is None):
        raise UserError(f"{os.path.join(args.exp_dir, args.opt)}: train mode needs the train and dataset.train sections")
    rank, world, local_rank = init_from_env()
    is_main = rank == 0
    if world > 1:
        device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    else:
        device = device_from_gpu_id(args.gpu_id)

    exp_dir = args.exp_dir
    train_dir = os.path.join(exp_dir, "train")
    ckpt_dir = os.path.join(train_dir, "ckpt")
    os.makedirs(ckpt_dir, exist_ok=True)
    logger = make_logger(os.path.join(train_dir, "train.log"), is_main)
    if is_main:  # temporary files of a run killed while saving: never complete, drop them
        for stale in glob.glob(os.path.join(ckpt_dir, ".tmp_*")):
            os.remove(stale)

    seed = opt.get("manual_seed", 0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    state = None
    if args.resume:
        path = find_latest_state(ckpt_dir) if args.resume == "auto" else args.resume
        if path is None:
            raise UserError(f"{ckpt_dir}: --resume auto found no state_iter*.pth to resume from")
        state = load_training_state(path)

    dataset = build_train_dataset(opt)
    batch_size = opt["dataset"]["train"].get("batch_size", 4)
    sampler = ResumableSampler(len(dataset), seed=seed, rank=rank, world=world)
    batches_per_epoch = sampler.per_process() // batch_size
    if batches_per_epoch == 0:
        raise UserError(f"dataset.train: {len(dataset)} clips are fewer than batch_size {batch_size} x "
                        f"{world} process(es)")
    model = build_model(opt, device, distributed=world > 1)

    tr = opt["train"]
    iteration = tr.get("start_iter", 0)
    total_iter = tr["total_iter"]
    running = RunningLog(opt["logger"]["decay"])
    if state is not None:
        model.load_state_dict(state["model"])
        iteration = int(state["iter"])
        running.values = {k: float(v) for k, v in state["running_log"].items()}
        set_rng_state(state["rng"])
        was = state.get("sampler") or {}
        now = {"seed": seed, "world": world, "batch_size": batch_size, "batches_per_epoch": batches_per_epoch}
        changed = [f"{k} {was[k]} -> {v}" for k, v in now.items() if k in was and was[k] != v]
        if changed and is_main:
            msg = f"resuming with a different data setup ({', '.join(changed)}): the run continues but is not exact"
            warn(msg)
            logger.warning(msg)
        if is_main:
            logger.info(f"Resumed from {path} at iteration {iteration}")
    elif is_main:
        logger.info(f"Start training {opt['model']['name']} ({opt['dataset']['degradation']['type']}) "
                    f"on {device} x {world}: {len(dataset)} clips, batch {batch_size} per process, "
                    f"{batches_per_epoch} iterations per epoch")

    metric_calc = build_metric_calculator(opt, device, logger) if is_main else None
    log_freq, ckpt_freq = opt["logger"]["log_freq"], opt["logger"]["ckpt_freq"]
    test_freq = opt["test"]["test_freq"]

    def save(it):
        if is_main:
            for tag, sd in model.checkpoints().items():
                atomic_torch_save(sd, os.path.join(ckpt_dir, f"{tag}_iter{it}.pth"))
            atomic_torch_save({"iter": it, "epoch": it // batches_per_epoch,
                               "sampler": {"seed": seed, "world": world, "batch_size": batch_size,
                                           "batches_per_epoch": batches_per_epoch,
                                           "consumed_in_epoch": (it % batches_per_epoch) * batch_size},
                               "model": model.state_dict(), "rng": rng_state(),
                               "running_log": {k: torch.tensor(v, dtype=torch.float64)
                                               for k, v in running.values.items()}},
                              os.path.join(ckpt_dir, f"state_iter{it}.pth"))
            logger.info(f"Saved checkpoint and training state of iteration {it} in {ckpt_dir}")
        barrier()

    stop = _StopFlag()
    old_handlers = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    from tqdm import tqdm
    bar = tqdm(total=total_iter, initial=iteration, desc="train", unit="it", disable=None if is_main else True,
               dynamic_ncols=True)
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)`")
    start_time = time.time()
    try:
        stopping = False
        while iteration < total_iter and not stopping:
            epoch, done = divmod(iteration, batches_per_epoch)
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch, skip=done * batch_size)
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                num_workers=opt["dataset"]["train"].get("num_workers", 0),
                pin_memory=opt["dataset"]["train"].get("pin_memory", False) and device.type == "cuda",
                # its own generator: creating the loader must not draw from the global torch RNG,
                # which a resumed run restores mid-epoch (worker seeds follow seed and epoch)
                generator=torch.Generator().manual_seed(seed * 1000003 + epoch))
            for batch in loader:
                iteration += 1
                for sched in model.schedulers():  # the seed's version: step before the update
                    sched.step()
                log = model.train_step(batch)
                running.update(log)
                bar.update(1)
                if is_main and iteration % log_freq == 0:
                    lrs = " | ".join(f"{k}: {v:.3e}" for k, v in model.current_lrs().items())
                    logger.info(f"[epoch: {epoch} | iter: {iteration} | {lrs}] {running.format()}")
                if iteration % ckpt_freq == 0:
                    save(iteration)
                if is_main and iteration % test_freq == 0:
                    validate(model, opt, exp_dir, iteration, device, metric_calc, logger)
                # under torchrun a signal can reach the processes at different iterations:
                # they agree on stopping (any process) so that all stop at the same one
                stopping = stop.signal is not None
                if world > 1:
                    stopping = average_scalar(float(stopping)) > 0
                if iteration >= total_iter or stopping:
                    break
        if stopping:
            if is_main:
                logger.info(f"Stopped by signal {stop.signal or 'of another process'} at iteration {iteration}; "
                            "saving the training state")
            save(iteration)
        elif iteration % ckpt_freq != 0:
            save(iteration)
        if is_main:
            logger.info(f"Finished at iteration {iteration} ({time.time() - start_time:.1f} s)")
    except UserError as err:
        logger.error(str(err))
        raise
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        cleanup()
    return 128 + stop.signal if stop.signal else 0  # stopped by Ctrl-C/SIGTERM: state saved, status 130/143
