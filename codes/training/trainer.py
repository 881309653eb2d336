"""One training loop for FRVSR and TecoGAN.

Layout under ``<exp_dir>``: ``train/train.log``, ``train/ckpt/G_iter{N}.pth`` (plain generator
state dict, what test mode loads), ``D_iter{N}.pth`` (TecoGAN), ``state_iter{N}.pth``
(everything exact resume needs), ``test/metrics/<dataset>_avg.json`` (validation) and,
with ``test.save_res``, ``test/results/<dataset>/G_iter{N}/<seq>/``.

Exact resume: the data of iteration ``i`` depends only on (seed, epoch, position), the
sampler is re-created from (seed, epoch) and skips what was consumed, and the state holds
networks, optimisers, schedulers, counters, running averages and the RNG states
(:mod:`tecogan.training.state` reads it back; the text log is :mod:`tecogan.training.train_log`).
"""

import os
import random
import signal
import time
import warnings

import numpy as np
import torch
from tqdm import tqdm

from tecogan import defaults
from tecogan.data.train_datasets import build_train_dataset
from tecogan.inference.options import InferenceOptions
from tecogan.inference.precision import check_precision
from tecogan.inference.upscaler import Upscaler
from tecogan.metrics.validation import build_metric_calculator, update_avg_json
from tecogan.models import build_model
from tecogan.networks import describe_generator
from tecogan.testing import check_test_sets, run_test_datasets, sequence_sets
from tecogan.training import tensorboard_log
from tecogan.training.sampler import ResumableSampler
from tecogan.training.state import find_latest_state, load_training_state, rng_state, set_rng_state
from tecogan.training.train_log import RunningLog, make_logger
from tecogan.utils.device import cpu_computes, device_from_gpu_id
from tecogan.utils.distributed import average_scalar, barrier, cleanup, init_from_env, peer_lost
from tecogan.utils.errors import UserError, one_line, warn
from tecogan.utils.fileio import atomic_torch_save
from tecogan.utils.tempfiles import remove_own_temps


class _StopFlag:
    def __init__(self):
        self.signal = None

    def __call__(self, signum, _frame):
        self.signal = signum


def _validation_precision(test_opt):
    """test.precision as validation runs it: auto (a check per validation of ever-changing
    weights) runs fp32."""
    return defaults.TEST_PRECISION if test_opt["precision"] == "auto" else test_opt["precision"]


class Trainer:
    """The training loop of every model: setup, exact resume, epochs, checkpoints, validation.

    ``Trainer(opt, exp_dir, gpu_id, resume).run()``; ``opt`` is a validated config.
    """

    def __init__(self, opt, exp_dir, gpu_id=-1, resume=None):

        self.opt, self.exp_dir = opt, exp_dir
        self.rank, self.world, local_rank = init_from_env()
        self.is_main = self.rank == 0
        self.device = self._device(gpu_id, local_rank)
        self.ckpt_dir = os.path.join(exp_dir, "train", "ckpt")
        os.makedirs(self.ckpt_dir, exist_ok=True)
        self.logger = make_logger(os.path.join(exp_dir, "train", "train.log"), self.is_main)
        self._skips_reported = set()  # optional validation sets that are missing, logged once
        if self.is_main:  # temporary files of a run killed while saving: never complete, drop them
            remove_own_temps(self.ckpt_dir)
        self.seed = opt["manual_seed"]
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        state, state_path = self._read_resume_state(resume)

        ds = opt["dataset"]["train"]
        self.dataset = build_train_dataset(opt)
        self.batch_size = ds["batch_size"]
        self.sampler = ResumableSampler(len(self.dataset), seed=self.seed, rank=self.rank, world=self.world)
        self.batches_per_epoch = self.sampler.per_process() // self.batch_size
        if self.batches_per_epoch == 0:
            raise UserError(
                f"dataset.train: {len(self.dataset)} clips are fewer than batch_size {self.batch_size} x {self.world} process(es)"
            )
        self.model = build_model(opt, self.device, distributed=self.world > 1)
        if self.is_main:
            self._check_precision(opt["train"]["precision"])
        self.iteration = opt["train"]["start_iter"]
        self.running = RunningLog(opt["logger"]["decay"])
        self.metric_calc = build_metric_calculator(opt, self.device, self.logger) if self.is_main else None
        if self.is_main:
            check_test_sets(opt, report=self._report_skip)  # a broken validation set: now, not at the first validation
            self._check_validation_precision(opt)
        if state is not None:
            self._resume(state, state_path)
        elif self.is_main:
            self.logger.info(
                f"Start training {opt['model']['name']} ({opt['dataset']['degradation']['type']}) "
                f"on {self.device} x {self.world}: {len(self.dataset)} clips, batch "
                f"{self.batch_size} per process, {self.batches_per_epoch} iterations per epoch"
            )
        self.tb = tensorboard_log.open_log(
            opt, os.path.join(exp_dir, "train", "tensorboard"), self.iteration, resumed=state is not None, is_main=self.is_main
        )

    # ---- setup ---------------------------------------------------------------------
    def _device(self, gpu_id, local_rank):
        if self.world > 1:
            device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
            if device.type == "cuda":
                torch.cuda.set_device(device)
            return device
        return device_from_gpu_id(gpu_id)

    def _check_validation_precision(self, opt):
        """test.precision as validation runs it (torch; auto runs fp32): one line now, naming the
        key, not an error after test_freq iterations of work."""
        asked = opt["test"]["precision"]
        try:
            check_precision(_validation_precision(opt["test"]), self.device, defaults.BACKEND)
        except UserError as err:
            raise UserError(
                f"{self.exp_dir}: test.precision: {asked}: validation during training runs through torch, where {one_line(err)}"
            ) from None

    def _check_precision(self, precision):
        """A low precision the CPU can only emulate works, but slowly: say so once."""
        if self.device.type != "cpu" or precision == "fp32" or cpu_computes(precision) is not False:
            return
        hardware = "AMX or AVX512-BF16" if precision == "bf16" else "AMX-FP16"
        msg = (
            f"train.precision: {precision} on a CPU without {hardware} (or with oneDNN limited below it) "
            f"is emulated and several times slower than fp32; set train.precision: fp32"
        )
        warn(msg)
        self.logger.warning(msg)

    def _read_resume_state(self, resume):
        if not resume:
            return None, None
        path = find_latest_state(self.ckpt_dir) if resume == "auto" else resume
        if path is None:
            raise UserError(
                f"{self.ckpt_dir}: --resume auto found no state_iter*.pth to resume from (nothing was saved: "
                "run without --resume to start afresh)"
            )
        return load_training_state(path), path

    def _sampler_setup(self):
        return {
            "seed": self.seed,
            "world": self.world,
            "batch_size": self.batch_size,
            "batches_per_epoch": self.batches_per_epoch,
        }

    # ---- resume / save -------------------------------------------------------------
    def _resume(self, state, path):
        try:
            schedule_changes = self.model.load_state_dict(state["model"])
        except (RuntimeError, KeyError, ValueError) as err:  # the YAML's networks changed since it was saved
            saved = describe_generator((state.get("model") or {}).get("net_G") or {}, path)
            why = f"its generator is a {saved}" if saved else one_line(err)[:200]
            raise UserError(
                f"{path}: does not fit this experiment's networks ({why}); resume with the YAML it was saved with"
            ) from None
        self.iteration = int(state["iter"])
        total = self.opt["train"]["total_iter"]
        if self.iteration >= total and self.is_main:
            warn(f"{path}: saved at iteration {self.iteration}, already train.total_iter {total}: nothing to train (raise it)")
        self.running.values = {k: float(v) for k, v in state["running_log"].items()}
        set_rng_state(state["rng"])
        was = state.get("sampler") or {}
        changed = [f"{k} {was[k]} -> {v}" for k, v in self._sampler_setup().items() if k in was and was[k] != v]
        if changed and self.is_main:
            msg = f"resuming with a different data setup ({', '.join(changed)}): the run continues but is not exact"
            warn(msg)
            self.logger.warning(msg)
        if schedule_changes and self.is_main:
            msg = (
                f"resuming with a different learning-rate schedule than the saved one "
                f"({'; '.join(schedule_changes)}): the YAML's is followed from iteration {self.iteration}"
            )
            warn(msg)
            self.logger.warning(msg)
        if self.is_main:
            note = f" ({self.model.ema_note})" if self.model.ema_note else ""
            self.logger.info(f"Resumed from {path} at iteration {self.iteration}{note}")

    def save(self):
        """G/D checkpoints (what test mode loads) and the full training state of this iteration."""
        it = self.iteration
        if self.is_main:
            for tag, sd in self.model.checkpoints().items():
                atomic_torch_save(sd, os.path.join(self.ckpt_dir, f"{tag}_iter{it}.pth"))
            sampler = dict(self._sampler_setup(), consumed_in_epoch=(it % self.batches_per_epoch) * self.batch_size)
            atomic_torch_save(
                {
                    "iter": it,
                    "epoch": it // self.batches_per_epoch,
                    "sampler": sampler,
                    "model": self.model.state_dict(),
                    "rng": rng_state(),
                    "running_log": {k: torch.tensor(v, dtype=torch.float64) for k, v in self.running.floats().items()},
                },
                os.path.join(self.ckpt_dir, f"state_iter{it}.pth"),
            )
            self.logger.info(f"Saved checkpoint and training state of iteration {it} in {self.ckpt_dir}")
            self.tb.flush()
        barrier()

    # ---- validation ----------------------------------------------------------------
    def _report_skip(self, line):
        """A skipped optional validation set: logged at the first validation only."""
        if line not in self._skips_reported:
            self._skips_reported.add(line)
            self.logger.info(line)

    def validate(self):
        """Super-resolve every test* set with G (and its EMA); log, store and return {tag: {set: averages}}."""
        test_opt = self.opt["test"]
        sets = [ts for _, ts in sequence_sets(self.opt, report=self._report_skip)]
        results = {}
        for kind, net in self.model.generators().items():
            tag = f"{kind}_iter{self.iteration}"
            samples = {} if self.tb.active else None
            scores = self._validate_net(net, sets, tag, samples)
            results[tag] = {name: avg for name, (avg, _) in scores.items()}
            self.tb.validation(self.iteration, kind, results[tag], samples)
            for name, (avg, per_sequence) in scores.items():
                for seq, values in per_sequence.items():
                    label = "" if kind == "G" else f"{kind}: "
                    self.logger.info(f"[{name}/{seq}] {label}" + ", ".join(f"{k}: {v:.6f}" for k, v in values.items()))
                self.logger.info(f"[{name}] {tag} average: " + ", ".join(f"{k}: {v:.6f}" for k, v in avg.items()))
                if test_opt["save_json"]:
                    update_avg_json(os.path.join(test_opt["json_dir"], f"{name}_avg.json"), tag, avg)
        return results

    def _validate_net(self, net, sets, tag, samples=None):
        test_opt = self.opt["test"]
        was_training = net.training
        memory_format = self.opt["train"]["memory_format"]
        try:
            precision = _validation_precision(test_opt)
            upscaler = Upscaler(
                net,
                InferenceOptions(
                    num_pad_front=test_opt["num_pad_front"],
                    padding_mode=test_opt["padding_mode"],
                    device=str(self.device),
                    channels_last=memory_format == "channels_last",
                    precision=precision,
                ),
                report=None,
            )
            return run_test_datasets(
                upscaler,
                sets,
                test_opt["res_dir"],
                tag,
                save_res=test_opt["save_res"],
                metrics=self.metric_calc,
                report=lambda line: None,
                progress=False,
                samples=samples,
            )
        finally:
            # the training kernels depend on the memory format: keep it, or resume would not be exact
            net.train(was_training)
            self.model.set_memory_format(memory_format)

    # ---- epochs --------------------------------------------------------------------
    def _loader(self, epoch):
        ds = self.opt["dataset"]["train"]
        done = self.iteration - epoch * self.batches_per_epoch
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip=done * self.batch_size)
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            drop_last=True,
            num_workers=ds["num_workers"],
            pin_memory=ds["pin_memory"] and self.device.type == "cuda",
            # its own generator: creating the loader must not draw from the global torch RNG,
            # which a resumed run restores mid-epoch (worker seeds follow seed and epoch)
            generator=torch.Generator().manual_seed(self.seed * 1000003 + epoch),
        )

    def run_epoch(self, epoch, stop, bar):
        """Iterate the rest of ``epoch``; returns True when a stop signal ended it early."""
        opt = self.opt
        log_freq, ckpt_freq = opt["logger"]["log_freq"], opt["logger"]["ckpt_freq"]
        test_freq, total_iter = opt["test"]["test_freq"], opt["train"]["total_iter"]
        for batch in self._loader(epoch):
            self.iteration += 1
            for sched in self.model.schedulers():  # the seed's version: step before the update
                sched.step()
            self.model.track_grad_norm = self.tb.active and self.iteration % log_freq == 0
            self.running.update(self.model.train_step(batch))
            bar.update(1)
            if self.is_main and self.iteration % log_freq == 0:
                lrs = " | ".join(f"{k}: {v:.3e}" for k, v in self.model.current_lrs().items())
                self.logger.info(f"[epoch: {epoch} | iter: {self.iteration} | {lrs}] {self.running.format()}")
                self.tb.scalars(self.iteration, self.running.floats(), self.model.current_lrs(), self.model.grad_norms)
            if self.iteration % ckpt_freq == 0:
                self.save()
            if self.is_main and self.iteration % test_freq == 0:
                try:
                    self.validate()
                except UserError:  # validation data changed under the run: the iterations are kept
                    if self.world == 1 and self.iteration % ckpt_freq != 0:
                        self.save()
                        kept = f"the training state of iteration {self.iteration} is saved (--resume auto continues from it)"
                        warn(kept)
                        self.logger.info(kept)
                    raise
            # under torchrun a signal can reach the processes at different iterations:
            # they agree on stopping (any process) so that all stop at the same one
            stopping = stop.signal is not None
            if self.world > 1:
                stopping = average_scalar(float(stopping)) > 0
            if stopping:
                return True
            if self.iteration >= total_iter:
                break
        return False

    def run(self):

        total_iter = self.opt["train"]["total_iter"]
        stop = _StopFlag()
        old_handlers = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(
            total=total_iter,
            initial=self.iteration,
            desc="train",
            unit="it",
            disable=None if self.is_main else True,
            dynamic_ncols=True,
        )
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)`")
        start_time = time.time()
        try:
            stopped = False
            while self.iteration < total_iter and not stopped:
                stopped = self.run_epoch(self.iteration // self.batches_per_epoch, stop, bar)
            if stopped:
                if self.is_main:
                    self.logger.info(
                        f"Stopped by signal {stop.signal or 'of another process'} at iteration "
                        f"{self.iteration}; saving the training state"
                    )
                self.save()
            elif self.iteration % self.opt["logger"]["ckpt_freq"] != 0:
                self.save()
            if self.is_main:
                self.logger.info(f"Finished at iteration {self.iteration} ({time.time() - start_time:.1f} s)")
        except UserError as err:
            self.logger.error(str(err))
            raise
        except RuntimeError as err:  # under torchrun: another process died in a collective operation
            lost = peer_lost(err) if self.world > 1 else None
            if lost is None:
                raise
            latest = find_latest_state(self.ckpt_dir)
            msg = (
                f"another process of this {self.world}-process run stopped at iteration {self.iteration} "
                f"({type(err).__name__}: ...{lost}...); "
                + (f"the newest saved state is {latest}: " if latest else "no state was saved yet: ")
                + "--resume auto continues from it"
            )
            self.logger.error(msg)
            raise UserError(msg) from None
        finally:
            bar.close()
            self.tb.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
            cleanup()
        return 128 + stop.signal if stop.signal else 0  # stopped by Ctrl-C/SIGTERM: state saved, status 130/143


def train(opt, args):
    """``main.py --mode train``: the experiment's training, resumed when ``args.resume``."""
    if opt.get("train") is None or opt["dataset"].get("train") is None:
        raise UserError(f"{os.path.join(args.exp_dir, args.opt)}: train mode needs the train and dataset.train sections")
    return Trainer(opt, args.exp_dir, args.gpu_id, args.resume).run()
