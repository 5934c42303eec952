"""Training objectives on toy problems with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from flashmotion.schedules import add_noise, flow_target
from flashmotion.training import losses as L
from flashmotion.training.config import GANConfig


def test_flow_matching_loss_of_the_exact_denoiser_is_the_known_minimum():
    # data x0 ~ N(0, s^2), x_t = (1 - t) x0 + t eps. Given x_t, v = eps - x0 is Gaussian with
    # E[v | x_t] = k x_t, k = (t - (1 - t) s^2) / ((1 - t)^2 s^2 + t^2), and the minimum of
    # E (v_pred - v)^2 is Var(v | x_t) = (1 + s^2) - (t - (1 - t) s^2)^2 / ((1 - t)^2 s^2 + t^2).
    g = torch.Generator().manual_seed(0)
    s, t, n = 0.7, 0.4, 400_000
    x0 = s * torch.randn(n, generator=g, dtype=torch.float64)
    eps = torch.randn(n, generator=g, dtype=torch.float64)
    x_t = add_noise(x0, eps, t)
    var = (1 - t) ** 2 * s**2 + t**2
    k = (t - (1 - t) * s**2) / var
    minimum = (1 + s**2) - (t - (1 - t) * s**2) ** 2 / var
    exact = L.flow_matching_loss(k * x_t, eps, x0)
    assert abs(float(exact) - minimum) < 0.01 * minimum  # Monte Carlo: 0.3% std at n = 4e5
    for wrong in (0.9 * k, 1.1 * k):
        assert float(L.flow_matching_loss(wrong * x_t, eps, x0)) > float(exact)
    assert torch.allclose(flow_target(x0, eps), eps - x0)


def test_flow_matching_loss_ignores_the_pasted_first_frame():
    v = torch.zeros(2, 3, 4, 2, 2)
    noise, x0 = torch.zeros_like(v), torch.zeros_like(v)
    v[:, :, 0] = 100.0
    assert float(L.flow_matching_loss(v, noise, x0)) == 0.0


def _gauss_x0(mu: float, sd: float, x_t: torch.Tensor, t: float) -> torch.Tensor:
    """E[x0 | x_t] for x0 ~ N(mu, sd^2), x_t = (1 - t) x0 + t eps (Tweedie, exact)."""
    var = (1 - t) ** 2 * sd**2 + t**2
    return mu + (1 - t) * sd**2 / var * (x_t - (1 - t) * mu)


def test_dmd_moves_a_gaussian_generator_to_the_real_gaussian():
    # generator x = a z + b; real data N(2, 0.5^2); real and fake x0 predictions exact.
    mu_r, sd_r = 2.0, 0.5
    a = torch.tensor(1.5, requires_grad=True)
    b = torch.tensor(-1.0, requires_grad=True)
    opt = torch.optim.SGD([a, b], lr=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        z = torch.randn(4096, generator=g)
        x = a * z + b
        t = float(torch.empty(()).uniform_(0.1, 0.9, generator=g))
        x_t = add_noise(x.detach(), torch.randn(4096, generator=g), t)
        real = _gauss_x0(mu_r, sd_r, x_t, t)
        fake = _gauss_x0(float(b), abs(float(a)), x_t, t)
        loss = L.dmd_loss(x.view(1, -1), real.view(1, -1), fake.view(1, -1))  # d/db = mean gradient
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(float(b) - mu_r) < 1e-3  # measured: b = 2.000000, a = 0.500000 after 400 steps
    assert abs(abs(float(a)) - sd_r) < 1e-3


def test_dmd_gradient_is_the_normalised_score_difference():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    real = torch.tensor([[0.0, 2.0, 2.0, 4.0]])
    fake = torch.tensor([[2.0, 2.0, 3.0, 3.0]])
    L.dmd_loss(x, real, fake).backward()
    norm = (x.detach() - real).abs().mean()  # 0.5
    assert torch.allclose(x.grad, (fake - real) / norm / x.numel())


def test_gan_losses_are_minimised_by_the_log_density_ratio():
    # real N(1, 1), fake N(-1, 1): the optimal logit is log p_real/p_fake = 2x; any other
    # logit gives a larger discriminator loss.
    g = torch.Generator().manual_seed(0)
    real = 1 + torch.randn(200_000, generator=g)
    fake = -1 + torch.randn(200_000, generator=g)
    best = float(L.gan_discriminator_loss(2 * real, 2 * fake))
    for scale in (1.0, 3.0):
        assert float(L.gan_discriminator_loss(scale * real, scale * fake)) > best
    assert best < 2 * math.log(2)
    assert float(L.gan_generator_loss(torch.zeros(3))) == pytest.approx(math.log(2))


def test_attention_discriminator_head_separates_two_distributions():
    from flashmotion.training.discriminator import AttentionHead

    torch.manual_seed(0)
    dim = 16
    head = AttentionHead(dim, 2, ("ss", "tc", "vc"))
    out = torch.nn.Linear(dim, 1)
    opt = torch.optim.Adam(list(head.parameters()) + list(out.parameters()), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    shift = torch.zeros(dim)
    shift[:4] = 0.6

    def batch(n, offset):
        video = torch.randn(n, 12, dim, generator=g) + offset
        return video, torch.randn(n, 3, dim, generator=g), torch.randn(n, 2, dim, generator=g), torch.randn(n, 5, dim, generator=g)

    for _ in range(150):
        real, fake = batch(32, shift), batch(32, -shift)
        loss = L.gan_discriminator_loss(out(head(*real))[:, 0], out(head(*fake))[:, 0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, fake = batch(256, shift), batch(256, -shift)
        acc = ((out(head(*real)) > 0).float().mean() + (out(head(*fake)) < 0).float().mean()) / 2
    assert float(acc) > 0.95


@pytest.mark.parametrize(
    "kind,step,expected",
    [("linear", 0, 0.0), ("linear", 400, 0.1), ("decreasing", 400, 0.9), ("fixed", 999, 1.0)],
)
def test_diffusion_scale_schedules(kind, step, expected):
    cfg = GANConfig(lambda_schedule=kind, lambda_rate=0.25e-3)
    assert L.diffusion_scale(step, cfg) == pytest.approx(expected)
    capped = GANConfig(lambda_schedule="linear", lambda_rate=0.25e-3, lambda_max=0.05)
    assert L.diffusion_scale(10_000, capped) == 0.05


def test_discriminator_warmup_delays_the_adapter_and_its_lambda():
    cfg = GANConfig(adapter_every=5, disc_warmup=12, lambda_rate=0.25e-3)
    assert [s for s in range(30) if L.adapter_updates_at(s, cfg)] == [12, 17, 22, 27]
    assert L.diffusion_scale(12, cfg) == 0.0 and L.diffusion_scale(412, cfg) == pytest.approx(0.1)
    no_gan = GANConfig(adapter_every=5, disc_warmup=12, gan_loss=False)  # no discriminator to warm up
    assert [s for s in range(12) if L.adapter_updates_at(s, no_gan)] == [0, 5, 10]


def test_learning_rate_schedule_warms_up_then_decays_to_zero():
    from flashmotion.training.loop import scheduled_lr

    assert scheduled_lr(1.0, 0, 100, warmup=10) == pytest.approx(0.1)
    assert scheduled_lr(1.0, 50, 100, warmup=10) == 1.0  # constant after warm-up
    assert scheduled_lr(1.0, 9, 100, warmup=10, decay="cosine") == pytest.approx(1.0)
    assert scheduled_lr(1.0, 55, 100, warmup=10, decay="cosine") == pytest.approx(0.5)  # half way through the decay
    assert scheduled_lr(1.0, 100, 100, warmup=10, decay="cosine") == pytest.approx(0.0, abs=1e-12)


def test_reconstruction_loss_weights_object_pixels():
    x = torch.zeros(1, 3, 1, 2, 2)
    rec = x.clone()
    rec[..., 0, 0] = 0.5  # an error of 0.5 on one of four pixels, all channels
    assert float(L.reconstruction_loss(rec, x)) == pytest.approx((0.5 + 0.25) / 4)
    fg = torch.zeros(1, 1, 1, 2, 2)
    fg[..., 0, 0] = 1.0
    # the erroneous pixel is the object: weight 1 + 10 there, 1 elsewhere, normalised to mean 1
    assert float(L.reconstruction_loss(rec, x, 1 + 10 * fg)) == pytest.approx(11 * 0.75 / 14)
    # the error on the background instead: weight 1 of 14
    assert float(L.reconstruction_loss(rec, x, 1 + 10 * fg.flip(-1))) == pytest.approx(0.75 / 14)


def test_still_latent_loss_known_value_and_scale_invariance():
    """Two still clips, one channel, 3 latent frames: clip 0 moves 0 -> 1 -> 1, clip 1 stays at 2.
    Squared changes from frame 0: 1, 1, 0, 0 (mean 0.5); channel variance (unbiased) of
    0, 1, 1, 2, 2, 2 is 2/3; so the loss is 0.75, the same at any scale, and 0 for held latents."""
    from flashmotion.training.losses import still_latent_loss

    mu = torch.tensor([[0.0, 1.0, 1.0], [2.0, 2.0, 2.0]]).view(2, 1, 3, 1, 1)
    assert still_latent_loss(mu).item() == pytest.approx(0.75, abs=1e-7)
    assert still_latent_loss(3.0 * mu).item() == pytest.approx(0.75, abs=1e-7)
    held = torch.randn(2, 4, 1, 3, 3).expand(2, 4, 5, 3, 3)
    assert still_latent_loss(held).item() == 0.0
