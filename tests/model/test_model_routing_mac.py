from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from microdualnet.model.mac_loss import mac_loss
from microdualnet.model.routing import EntityRouter


def test_routing_weights_sum_to_one_and_fuse() -> None:
    router = EntityRouter(dim=16, num_entities=3, temperature=1.0, dropout=0.0).eval()
    x_st, x_ts = torch.randn(2, 5, 3, 16), torch.randn(2, 5, 3, 16)
    fused, alpha = router(x_st, x_ts)
    assert alpha.shape == (2, 5, 3, 2)
    assert torch.allclose(alpha.sum(-1), torch.ones(2, 5, 3))
    assert torch.allclose(fused, alpha[..., :1] * x_st + alpha[..., 1:] * x_ts)
    assert torch.equal(router.prior, torch.zeros(3, 2))


def test_routing_temperature_sharpens() -> None:
    torch.manual_seed(1)
    router = EntityRouter(dim=16, num_entities=2, temperature=1.0, dropout=0.0).eval()
    x_st, x_ts = torch.randn(4, 6, 2, 16), torch.randn(4, 6, 2, 16)
    soft = router.weights(x_st, x_ts)
    router.temperature = 0.1
    sharp = router.weights(x_st, x_ts)
    assert (sharp.amax(-1) >= soft.amax(-1) - 1e-6).all()
    assert sharp.amax(-1).mean() > soft.amax(-1).mean() + 0.05
    # Same preference order, only sharper.
    assert torch.equal(sharp.argmax(-1), soft.argmax(-1))


def test_routing_prior_shifts_weights() -> None:
    router = EntityRouter(dim=8, num_entities=2, temperature=1.0, dropout=0.0).eval()
    x = torch.randn(1, 3, 2, 8)
    before = router.weights(x, x)
    with torch.no_grad():
        router.prior[0] = torch.tensor([2.0, 0.0])
    after = router.weights(x, x)
    assert (after[:, :, 0, 0] > before[:, :, 0, 0]).all()
    assert torch.allclose(after[:, :, 1], before[:, :, 1])


def test_mac_lower_when_paths_agree_than_shuffled_in_time() -> None:
    g = torch.Generator().manual_seed(0)
    x_st = torch.randn(2, 8, 3, 32, generator=g)
    x_ts = x_st + 0.1 * torch.randn(2, 8, 3, 32, generator=g)
    conf = torch.ones(2, 8, 3)
    aligned = mac_loss(x_st, x_ts, conf)
    shuffled = mac_loss(x_st, x_ts[:, torch.randperm(8, generator=g)], conf)
    assert aligned < 0.1 < shuffled
    assert torch.isclose(mac_loss(x_st, x_st, conf), torch.tensor(0.0), atol=1e-4)


def test_mac_ignores_zero_confidence_entities() -> None:
    g = torch.Generator().manual_seed(0)
    x_st, x_ts = torch.randn(2, 6, 3, 16, generator=g), torch.randn(2, 6, 3, 16, generator=g)
    conf = torch.rand(2, 6, 3, generator=g)
    conf[:, :, 1] = 0
    base = mac_loss(x_st, x_ts, conf)
    scrambled = x_ts.clone()
    scrambled[:, :, 1] = torch.randn(2, 6, 16, generator=g)
    assert torch.isclose(mac_loss(x_st, scrambled, conf), base)
    # Equal to the loss computed on the visible entities alone.
    keep = [0, 2]
    assert torch.isclose(mac_loss(x_st[:, :, keep], x_ts[:, :, keep], conf[:, :, keep]), base)
    assert mac_loss(x_st, x_ts, torch.zeros(2, 6, 3)) == 0


def test_mac_gradient_flows_to_both_paths() -> None:
    x_st = torch.randn(1, 4, 2, 8, requires_grad=True)
    x_ts = torch.randn(1, 4, 2, 8, requires_grad=True)
    mac_loss(x_st, x_ts, torch.ones(1, 4, 2)).backward()
    assert x_st.grad.abs().sum() > 0 and x_ts.grad.abs().sum() > 0


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_routing_divides_scores_plus_prior_by_the_temperature(temperature) -> None:
    """Eq. 13-14: alpha = softmax((R_i([X_ST; X_TS]) + b_i) / tau); the prior is scaled too."""
    g = torch.Generator().manual_seed(2)
    router = EntityRouter(dim=8, num_entities=3, temperature=temperature, dropout=0.0).eval()
    with torch.no_grad():
        router.prior.copy_(torch.tensor([[1.0, 0.0], [-0.5, 0.7], [0.0, 0.0]]))
    x_st, x_ts = torch.randn(2, 4, 3, 8, generator=g), torch.randn(2, 4, 3, 8, generator=g)
    with torch.no_grad():
        pair = torch.cat([x_st, x_ts], dim=-1)
        scores = torch.stack([router.nets[i](pair[:, :, i]) for i in range(3)], dim=2)
        alpha = router.weights(x_st, x_ts)
    assert torch.allclose(alpha, torch.softmax((scores + router.prior) / temperature, -1),
                          atol=1e-6)
    assert not torch.allclose(alpha, torch.softmax(scores / temperature + router.prior, -1),
                              atol=1e-3)
    # With the networks silenced, the prior alone decides: softmax(b_i / tau).
    with torch.no_grad():
        for net in router.nets:
            net[-1].weight.zero_()
            net[-1].bias.zero_()
        alpha = router.weights(x_st, x_ts)
    p = torch.sigmoid(torch.tensor(1.0 / temperature))  # softmax([1/tau, 0])[0]
    assert torch.allclose(alpha[..., 0, 0], p.expand(2, 4))
    assert torch.allclose(alpha[..., 2, :], torch.full((2, 4, 2), 0.5))


def test_routing_network_has_the_configured_dropout() -> None:
    """R_i is Linear-LayerNorm-ReLU-Dropout-Linear (Eq. 13): in training the dropout makes
    the weights vary from call to call, in eval they do not."""
    router = EntityRouter(dim=16, num_entities=2, temperature=1.0, dropout=0.5)
    x_st, x_ts = torch.randn(2, 4, 2, 16), torch.randn(2, 4, 2, 16)
    with torch.no_grad():
        router.train()
        assert not torch.allclose(router.weights(x_st, x_ts), router.weights(x_st, x_ts))
        router.eval()
        assert torch.equal(router.weights(x_st, x_ts), router.weights(x_st, x_ts))


def test_mac_by_hand_on_two_frames() -> None:
    """Eq. 16-17 worked out for one entity and two frames. The ST features (2, 0), (0, 1)
    and TS features (1, 0), (3, 4) normalise to similarities sim(z_ST_t, z_TS_j):
    t=0: [1, 0.6], t=1: [0, 0.8]. Each frame's ST feature must pick its own frame's TS
    feature among the clip's TS features: L_t = log(1 + exp((s_t,other - s_t,t) / tau)),
    so L_0 = log(1 + e^(-0.4 / tau)), L_1 = log(1 + e^(-0.8 / tau)); Eq. 17 weights them
    with c^t = 1 and 3."""
    x_st = torch.tensor([[2.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)
    x_ts = torch.tensor([[1.0, 0.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    conf = torch.tensor([1.0, 3.0]).view(1, 2, 1)
    for tau, loss in ((1.0, mac_loss(x_st, x_ts, conf, 1.0)), (0.07, mac_loss(x_st, x_ts, conf))):
        l0, l1 = math.log1p(math.exp(-0.4 / tau)), math.log1p(math.exp(-0.8 / tau))
        assert loss.item() == pytest.approx((1 * l0 + 3 * l1) / 4, rel=1e-4), tau
    # l2-normalised per feature vector: scaling any frame's feature leaves the loss alone.
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 3, 2, 4, generator=g), torch.randn(1, 3, 2, 4, generator=g)
    scale = 0.5 + 4 * torch.rand(2, 1, 3, 2, 1, generator=g)
    ones = torch.ones(1, 3, 2)
    assert torch.isclose(mac_loss(a * scale[0], b * scale[1], ones), mac_loss(a, b, ones))
    # Anchored on ST, not TS: the TS-anchored (transposed) loss is another number.
    ts_anchored = (math.log1p(math.exp(-1.0)) + 3 * math.log1p(math.exp(-0.2))) / 4
    assert mac_loss(x_st, x_ts, conf, 1.0).item() != pytest.approx(ts_anchored, rel=1e-3)


def test_each_routing_network_is_linear_layernorm_relu_dropout_linear() -> None:
    """Eq. 13's R_i: R^2D -> R^2, "Linear-LayerNorm-ReLU-Dropout-Linear", own weights per
    entity; hidden width D/2 (docs/model.md: 512 -> 128 -> 2 at D = 256)."""
    router = EntityRouter(dim=16, num_entities=3, temperature=1.0, dropout=0.2)
    assert len(router.nets) == 3
    assert len({id(p) for net in router.nets for p in net.parameters()}) == 3 * 6
    for net in router.nets:
        assert [type(m) for m in net] == [nn.Linear, nn.LayerNorm, nn.ReLU, nn.Dropout,
                                          nn.Linear]
        assert (net[0].in_features, net[0].out_features) == (32, 8)
        assert (net[4].in_features, net[4].out_features) == (8, 2)
        assert net[3].p == 0.2
