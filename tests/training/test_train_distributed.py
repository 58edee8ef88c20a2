"""Data-parallel training (torchrun, 2 gloo CPU processes) against one process.

Why the comparison is fair: both runs step on the same global batches (RankShare splits
the single-process loader's batches), augmentation is drawn per clip from (seed, epoch,
clip index), and the parts that couple clips or draw from a process's RNG are switched off
in both runs alike: dropout (0), MAC's confidence weighting (its weighted mean is taken per
process) and BatchNorm's batch statistics (kept in inference mode: PyTorch synchronises
BatchNorm across processes on GPUs only). What remains (sharding, gradient averaging, the
LR schedule, clipping, SGD, resume on every rank, rank-0-only output) must then agree to
float tolerance.

Run as a script under torchrun, this file is the training process of the DDP run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from microdualnet.model.network import MicroDualNet
from microdualnet.training import loop
from microdualnet.training.distributed import (
    Ranks,
    RankShare,
    per_process_batch,
    ranks_from_env,
)
from microdualnet.training.loop import train
from pipeio.errors import InputError

NO_COUPLING = {"dropout": 0.0, "routing_dropout": 0.0, "classifier_dropout": 0.0,
               "mac_confidence_weighting": False}


def frozen_batchnorm_train():
    """A `MicroDualNet.train` that keeps every BatchNorm layer in inference mode."""
    plain_train = MicroDualNet.train

    def train(self, mode: bool = True):
        plain_train(self, mode)
        for m in self.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    return train


def _ddp_main(config_json: str, out: str) -> None:
    """Train for one epoch as if interrupted, then resume in a new process group (as
    train-ablation's runs follow each other under one torchrun); each rank then leaves its
    final weights in `out`/rank<r>.pt for the test to compare."""
    from microdualnet.training.config import parse_config

    MicroDualNet.train = frozen_batchnorm_train()
    models = []
    wrap = loop._wrap
    loop._wrap = lambda model, ranks, device: (models.append(model), wrap(model, ranks, device))[1]
    cfg = parse_config(json.loads(Path(config_json).read_text()))
    assert train(cfg, out, stop_after_epoch=1) == {"stopped_after_epoch": 1}
    train(cfg, out)
    torch.save(models[-1].state_dict(), Path(out) / f"rank{os.environ['RANK']}.pt")


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_rank_shares_make_up_the_single_process_batches(monkeypatch):
    class Indices(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 11

        def __getitem__(self, i: int) -> int:
            return i

    monkeypatch.setattr(loop, "collate", list)  # the clip indices as they are
    one = list(loop.make_loader(Indices(), 4, 0, True, 7))
    shares = [list(RankShare(11, 4, 7, Ranks(r, 2))) for r in range(2)]
    assert len(one) == len(shares[0]) == len(shares[1]) == 2
    # Its length is the number of whole global batches (11 // 4), not of per-rank shares.
    assert len(RankShare(11, 4, 7, Ranks(1, 2))) == 2
    assert [a + b for a, b in zip(*shares, strict=True)] == one


def test_a_global_batch_that_does_not_split_is_refused():
    assert per_process_batch(12, 4) == 3
    with pytest.raises(InputError, match=r"optim.batch_size=12 is not divisible by the 5 "):
        per_process_batch(12, 5)
    with pytest.raises(InputError, match=r"optim.batch_size=9 is not divisible by the 2 "):
        per_process_batch(9, 2)  # one clip left over


def test_ranks_are_read_from_torchruns_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert ranks_from_env() == Ranks(0, 1, 0) and not ranks_from_env().active
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert ranks_from_env() == Ranks(3, 4, 1) and not ranks_from_env().main
    assert Ranks(0, 2).main and not Ranks(1, 2).main  # rank 0 alone writes files
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(InputError, match=r"RANK=4, WORLD_SIZE=4: expected 0 <= RANK"):
        ranks_from_env()
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(InputError, match=r"WORLD_SIZE='four': expected an integer"):
        ranks_from_env()


def test_each_rank_weights_its_loss_by_its_share_of_the_readable_clips(make_config, tmp_path,
                                                                       monkeypatch):
    """DDP averages the ranks' gradients; a rank whose batch lost clips (unreadable) scales
    its loss by n * world / (readable clips of all ranks), so the average is the global mean.
    A step where some rank has no clip at all is skipped by every rank. (The torchrun test
    below has no unreadable clips, where every weight is 1.)"""
    from types import SimpleNamespace

    from microdualnet.model.losses import LossTerms
    from microdualnet.training.badclips import BadClips

    class Clips(SimpleNamespace):
        def __len__(self) -> int:
            return len(self.labels)

    # This rank's batches: 4 clips (the other rank read 3), 2 clips (other rank: 4),
    # 3 clips while the other rank read none (skipped), 4 and 4.
    batches = [Clips(labels=torch.zeros(n, dtype=torch.long), failures=[]) for n in (4, 2, 3, 4)]
    others = iter([(3, 0), (4, 0), (0, 1), (4, 0)])

    def sum_over_ranks(values, ranks, device):
        if len(values) == 2:  # per step: [readable clips, rank with none]
            other = next(others)
            return [values[0] + other[0], values[1] + other[1]]
        return list(values)  # the epoch's totals: this rank's alone will do

    model = torch.nn.Linear(1, 1)
    model.cfg = None
    net = SimpleNamespace(module=model, train=lambda: None)
    monkeypatch.setattr(loop, "_train_loader", lambda *args: batches)
    monkeypatch.setattr(loop.distributed, "sum_over_ranks", sum_over_ranks)
    monkeypatch.setattr(loop, "forward", lambda net, batch, *args: SimpleNamespace(
        logits=torch.zeros(len(batch), 3)))
    losses = iter([torch.tensor(2.0, requires_grad=True) * (i + 1) for i in range(3)])

    def compute_loss(out, labels, cfg):
        total = next(losses)
        return LossTerms(total, total, total.new_zeros(()))

    monkeypatch.setattr(loop, "compute_loss", compute_loss)
    scaled = []

    class Scaler:
        def scale(self, value):
            scaled.append(float(value.detach()))
            return value

        def unscale_(self, optimizer):
            pass

        def step(self, optimizer):
            pass

        def update(self):
            pass

        def get_scale(self):  # a disabled GradScaler's: no step is ever skipped
            return 1.0

    cfg = make_config(tmp_path)  # read, never loaded
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loop._train_epoch(net, SimpleNamespace(set_epoch=lambda epoch: None), optimizer, Scaler(),
                      cfg, 1, 4, 0, torch.device("cpu"), False, BadClips(0), Ranks(0, 2))
    assert scaled == pytest.approx([2.0 * 4 * 2 / 7, 4.0 * 2 * 2 / 6, 6.0 * 4 * 2 / 8])


def test_two_processes_give_the_weights_of_one(tiny_clips, make_config, tmp_path,
                                               monkeypatch):
    cfg = make_config(tiny_clips, optim={"epochs": 2},
                      model={"overrides": {**make_config(tiny_clips).model.overrides,
                                           **NO_COUPLING}})
    config_json = tmp_path / "config.json"
    config_json.write_text(json.dumps(cfg.model_dump(mode="json")))
    ddp = tmp_path / "ddp"
    run = _torchrun([__file__, str(config_json), str(ddp)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("epoch 1/2:") == 1  # rank 0 alone reports
    assert run.stderr.count("resuming after epoch 1") == 1

    monkeypatch.setattr(MicroDualNet, "train", frozen_batchnorm_train())
    one = tmp_path / "one"
    train(cfg, one)

    a = torch.load(one / "training" / "state.pt", weights_only=True)
    b = torch.load(ddp / "training" / "state.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert len(b["rank_rng"]) == 2
    ranks = [torch.load(ddp / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key, value in ranks[0].items():  # resumed on both ranks: they stay in step
        assert torch.equal(ranks[1][key], value), key
    log_a, log_b = ([json.loads(x) for x in (d / "training" / "log.jsonl").read_text().splitlines()]
                    for d in (one, ddp))
    assert [r["epoch"] for r in log_b] == [1, 2]
    for ra, rb in zip(log_a, log_b, strict=True):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-4)
        assert rb["val_top1"] == ra["val_top1"]
    ma, mb = (json.loads((d / "training" / "metrics.json").read_text()) for d in (one, ddp))
    assert mb["test"]["top1"] == ma["test"]["top1"]
    assert mb["test"]["f1_mean"] == pytest.approx(ma["test"]["f1_mean"], abs=1e-6)


if __name__ == "__main__":
    _ddp_main(*sys.argv[1:])
