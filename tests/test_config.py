"""Default configs (one source of truth for the CLI and the app) and the one-seed rule."""

from __future__ import annotations

import dataclasses

import pytest

from eos_core import config, names
from eos_core.cli._main import build_parser, config_from_args
from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.errors import ConfigError


def test_default_values():
    t, h, d, r = TrainConfig(), HeadConfig(), DataConfig(), RunConfig()
    assert (d.dataset, d.ratio, d.profile, d.max_per_class, d.seed) == ("digits", 50.0, "exp", None, 0)
    assert (t.model, t.loss, t.epochs, t.batch_size, t.lr, t.weight_decay, t.augment, t.seed) == (
        "auto", "ce", 30, None, 0.1, 2e-4, None, 0)
    assert (h.epochs, h.batch_size, h.lr, h.init_from_phase1, h.seed) == (10, 128, 0.1, False, 0)
    assert r.methods == list(names.METHODS) and r.k_neighbors == 10
    assert r.methods == ["none", "crt", "ros", "smote", "bsmote", "adasyn", "eos", "eos_published"]


def test_ids_come_from_names():
    assert config.METHODS is names.METHODS and config.LOSSES is names.LOSSES
    assert config.MODELS is names.MODELS and config.PROFILES is names.PROFILES


def test_augmentation_default_is_per_dataset():
    assert RunConfig().augment_enabled is False  # digits: off, so that phase 1 fits every class
    assert RunConfig(data=DataConfig(dataset="fashion-mnist")).augment_enabled is True
    assert RunConfig(train=TrainConfig(augment=True)).augment_enabled is True
    assert RunConfig(data=DataConfig(dataset="cifar10"), train=TrainConfig(augment=False)).augment_enabled is False


def test_with_seed_sets_every_seed_and_copies():
    base = RunConfig(methods=["eos"])
    cfg = base.with_seed(7)
    assert (cfg.data.seed, cfg.train.seed, cfg.head.seed, cfg.seed) == (7, 7, 7, 7)
    assert (base.data.seed, base.train.seed, base.head.seed) == (0, 0, 0)
    cfg.methods.append("ros")
    assert base.methods == ["eos"]
    assert dataclasses.replace(cfg.train, seed=0) == base.train


def test_round_trip_keeps_the_augment_default():
    cfg = RunConfig().with_seed(3)
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.train.augment is None


def test_cli_defaults_are_the_config_defaults():
    args = build_parser().parse_args(["run"])
    assert config_from_args(args) == RunConfig()
    args = build_parser().parse_args(["run", "--seed", "4", "--augment"])
    cfg = config_from_args(args)
    assert (cfg.data.seed, cfg.train.seed, cfg.head.seed, cfg.train.augment) == (4, 4, 4, True)
    assert config_from_args(args, 9).head.seed == 9


def test_unknown_method_is_rejected():
    with pytest.raises(ConfigError, match="Unknown method"):
        RunConfig(methods=["eos", "magic"]).validate()
