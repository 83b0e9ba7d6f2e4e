"""Phase-1 models: the embed/head contract, shapes, normalisation, ResNet-32 size, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from eos_core.errors import ConfigError
from eos_core.phase1 import ResNet32, SmallCNN, build_model

CASES = [  # (channels, image size, model name)
    (1, 8, "small_cnn"),
    (1, 28, "small_cnn"),
    (3, 32, "small_cnn"),
    (3, 32, "resnet32"),
]


def _model(c: int, size: int, name: str, num_classes: int = 7) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, in_channels=c, num_classes=num_classes, image_size=size).eval()


@pytest.mark.parametrize("c,size,name", CASES)
def test_forward_is_exactly_head_of_embed_and_shapes(c, size, name):
    model = _model(c, size, name)
    x = torch.rand(5, c, size, size)
    with torch.no_grad():
        emb = model.embed(x)
        logits = model(x)
        assert emb.shape == (5, model.embed_dim)
        assert logits.shape == (5, 7)
        assert torch.equal(model.head(emb), logits)
    assert isinstance(model.head, nn.Linear)
    assert (model.head.in_features, model.head.out_features) == (model.embed_dim, 7)
    assert emb.dtype == torch.float32 and bool((emb >= 0).all())  # features follow a ReLU


def test_embedding_dims():
    assert ResNet32().embed_dim == 64
    assert SmallCNN(1, 10, 28).embed_dim == 64
    assert SmallCNN(1, 10, 8, embed_dim=32).embed_dim == 32
    with torch.no_grad():
        assert ResNet32(3, 10).eval().embed(torch.rand(2, 3, 32, 32)).shape == (2, 64)


def test_resnet32_parameter_count_is_the_known_figure():
    # He et al. (2016), Table 6: ResNet-32 has 0.46M parameters; with option-A shortcuts and a
    # 10-class head the exact count is 464,154 (as in the LDAM-DRW / akamaster implementations)
    n = sum(p.numel() for p in ResNet32(3, 10).parameters())
    assert n == 464_154
    assert round(n / 1e6, 2) == 0.46


def test_resnet32_structure():
    model = ResNet32(3, 10)
    assert len(model.layers) == 15  # 3 stages x 5 basic blocks
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31  # stem + 2 per block; option-A shortcuts have no parameters
    assert sorted({m.out_channels for m in convs}) == [16, 32, 64]


@pytest.mark.parametrize(
    "c,size,expected",
    [(3, 32, ResNet32), (3, 64, ResNet32), (3, 28, SmallCNN), (1, 32, SmallCNN), (1, 28, SmallCNN), (1, 8, SmallCNN)],
)
def test_build_model_auto_choice(c, size, expected):
    # On a GPU "auto" follows the image shape; on a CPU it is always the small CNN (resolve_model).
    assert type(build_model("auto", in_channels=c, num_classes=10, image_size=size, device="cuda")) is expected
    assert type(build_model("auto", in_channels=c, num_classes=10, image_size=size)) is SmallCNN


@pytest.mark.parametrize("device,expected", [("cpu", "small_cnn"), ("cuda", "resnet32"), ("mps", "resnet32"),
                                             (torch.device("cuda", 1), "resnet32")])
def test_resolve_model_auto_is_resnet32_only_on_a_gpu(device, expected):
    from eos_core.phase1 import resolve_model

    assert resolve_model("auto", device=device, in_channels=3, image_size=32) == expected
    assert resolve_model("auto", device=device, in_channels=1, image_size=32) == "small_cnn"
    assert resolve_model("resnet32", device="cpu", in_channels=1, image_size=8) == "resnet32"  # asked for: kept


def test_build_model_names_and_errors():
    assert type(build_model("resnet32", in_channels=1, num_classes=3, image_size=28)) is ResNet32
    assert type(build_model("small_cnn", in_channels=3, num_classes=3, image_size=32)) is SmallCNN
    with pytest.raises(ConfigError):
        build_model("vgg", in_channels=1, num_classes=10, image_size=28)
    with pytest.raises(ConfigError):
        build_model("auto", in_channels=1, num_classes=0, image_size=28)


@pytest.mark.parametrize("name", ["small_cnn", "resnet32"])
def test_normalisation_buffers_are_applied(name):
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.5]
    plain = _model(3, 32, name)
    normed = build_model(name, in_channels=3, num_classes=7, image_size=32, mean=mean, std=std).eval()
    state = {k: v for k, v in plain.state_dict().items() if k not in ("mean", "std")}
    normed.load_state_dict(state, strict=False)
    assert torch.equal(plain.mean, torch.zeros(1, 3, 1, 1)) and torch.equal(plain.std, torch.ones(1, 3, 1, 1))
    assert torch.allclose(normed.mean.flatten(), torch.tensor(mean))
    assert {"mean", "std"} <= set(normed.state_dict())  # saved with the weights
    x = torch.rand(4, 3, 32, 32)
    manual = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(normed(x), plain(manual), rtol=1e-5, atol=1e-5)


def test_scalar_stats_broadcast_and_bad_stats_rejected():
    m = SmallCNN(3, 2, 8, mean=0.5, std=0.25)
    assert torch.equal(m.mean.flatten(), torch.full((3,), 0.5))
    with pytest.raises(ConfigError):
        SmallCNN(3, 2, 8, mean=[0.1, 0.2])
    with pytest.raises(ConfigError):
        SmallCNN(1, 2, 8, std=0.0)
    with pytest.raises(ConfigError):
        ResNet32(3, 10, std=[1.0, -1.0, 1.0])


@pytest.mark.parametrize("name", ["small_cnn", "resnet32"])
def test_classic_memory_format_gives_the_same_outputs(name):
    model = _model(3, 32, name)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model.to(memory_format=torch.contiguous_format)
        torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-5)


def test_small_cnn_pooling_adapts_to_image_size():
    def pools(size: int) -> int:
        return sum(isinstance(m, nn.MaxPool2d) for m in SmallCNN(1, 10, size).modules())

    assert pools(8) == 1  # 8 -> 4
    assert pools(28) == 2  # 28 -> 14 -> 7
    big = SmallCNN(3, 10, 64)
    assert big.conv[0].stride == (2, 2)
    with torch.no_grad():
        assert big.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_small_cnn_learns_digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.from_numpy((x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8))
    y = torch.from_numpy(y.astype(np.int64))
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    train, test = perm[:1200], perm[1200:]
    torch.manual_seed(0)
    model = build_model("auto", in_channels=1, num_classes=10, image_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=2e-4)
    for _ in range(8):
        model.train()
        order = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(order), 64):
            b = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(x[test]).argmax(1)
    recall = [(pred[y[test] == c] == c).float().mean().item() for c in range(10)]
    assert float(np.mean(recall)) > 0.9  # chance is 0.1
