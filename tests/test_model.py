"""The fused model against step-by-step references written here, the post's equation, and gradcheck."""

import numpy as np
import pytest
import torch

from charlm.model import CharRNN, ModelConfig

V, H, L, B, T = 7, 5, 2, 3, 6


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def naive_forward(model: CharRNN, idx: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """A plain numpy loop over time and layers with the model's weights, written from the cell equations."""
    cfg = model.config
    w = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    x = np.eye(cfg.vocab_size)[idx] if not cfg.embedding_size else w["embedding.weight"][idx]  # (B, T, E)
    finals = []
    for layer in range(cfg.num_layers):
        w_ih, w_hh = w[f"rnn.weight_ih_l{layer}"], w[f"rnn.weight_hh_l{layer}"]
        b_ih, b_hh = w[f"rnn.bias_ih_l{layer}"], w[f"rnn.bias_hh_l{layer}"]
        h = np.zeros((idx.shape[0], cfg.rnn_size))
        c = np.zeros_like(h)
        outputs = []
        for t in range(idx.shape[1]):
            gx, gh = x[:, t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
            if cfg.model == "rnn":
                h = np.tanh(gx + gh)
            elif cfg.model == "gru":
                r = sigmoid(gx[:, :H] + gh[:, :H])
                z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
                n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
                h = (1 - z) * n + z * h
            else:
                g = gx + gh
                i, f, gg, o = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
                c = f * c + i * gg
                h = o * np.tanh(c)
            outputs.append(h)
        x = np.stack(outputs, axis=1)
        finals.append(h)
    logits = x @ w["head.weight"].T + w["head.bias"]
    return logits, finals


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("embedding_size", [0, 4])
def test_fused_matches_naive_loop(cell, embedding_size):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(V, cell, H, L, embedding_size=embedding_size)).double().eval()
    idx = torch.randint(0, V, (B, T))
    logits, _, state = model(idx)
    ref_logits, ref_finals = naive_forward(model, idx.numpy())
    np.testing.assert_allclose(logits.detach().numpy(), ref_logits, atol=1e-10)
    final_h = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(final_h.detach().numpy(), np.stack(ref_finals), atol=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_float32_kernels_match_the_naive_loop(cell):
    """Training runs the fused kernels in float32 (on a CPU oneDNN's, not the float64 path above): they too must
    compute the cell equations, to float32 rounding."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(V, cell, H, L, embedding_size=4)).eval()
    idx = torch.randint(0, V, (B, 3 * T))
    logits, _, state = model(idx)
    assert logits.dtype == torch.float32
    ref_logits, ref_finals = naive_forward(model, idx.numpy())
    np.testing.assert_allclose(logits.detach().numpy(), ref_logits, atol=2e-5)
    final_h = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(final_h.detach().numpy(), np.stack(ref_finals), atol=2e-5)


def test_vanilla_rnn_is_the_posts_equation():
    """The post's step: h = tanh(W_hh h + W_xh x), y = W_hy h, with x one-hot; biases zeroed to match it."""
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(4, "rnn", 3, 1)).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.zero_()
    W_xh = model.rnn.weight_ih_l0.detach().numpy()
    W_hh = model.rnn.weight_hh_l0.detach().numpy()
    W_hy = model.head.weight.detach().numpy()
    h = np.zeros(3)
    state = None
    for ch in [0, 1, 2, 2]:  # "hell" over the vocabulary h, e, l, o
        x = np.eye(4)[ch]
        h = np.tanh(W_hh @ h + W_xh @ x)
        y = W_hy @ h
        logits, state = model.step(torch.tensor([ch]), state)
        np.testing.assert_allclose(logits[0].detach().numpy(), y, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_gradcheck_float64_through_time(cell):
    """gradcheck of the loss with respect to the initial state: the gradient crosses every step and layer."""
    torch.manual_seed(3)
    model = CharRNN(ModelConfig(V, cell, 4, 2, embedding_size=3)).double()
    idx, targets = torch.randint(0, V, (2, 4)), torch.randint(0, V, (2, 4))
    init = model.init_state(2)
    init = tuple(s.double().normal_() for s in init) if cell == "lstm" else (init.double().normal_(),)
    inputs = tuple(s.requires_grad_(True) for s in init)

    def loss_of(*state):
        return model(idx, state if cell == "lstm" else state[0], targets)[1]

    assert torch.autograd.gradcheck(loss_of, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_weight_gradients_match_finite_differences(cell):
    """Central differences in float64 on sampled entries of every parameter tensor of the fused model.

    (torch.autograd.gradcheck cannot swap the weights of the fused kernel, which keeps its own flat view.)
    """
    torch.manual_seed(6)
    model = CharRNN(ModelConfig(V, cell, 4, 2, embedding_size=3)).double()
    idx, targets = torch.randint(0, V, (2, 5)), torch.randint(0, V, (2, 5))
    model.zero_grad()
    model(idx, None, targets)[1].backward()
    gen = torch.Generator().manual_seed(0)
    eps = 1e-6
    for name, param in model.named_parameters():
        flat, grad = param.data.view(-1), param.grad.view(-1)
        for k in torch.randint(0, flat.numel(), (3,), generator=gen).tolist():
            original = flat[k].item()
            with torch.no_grad():
                flat[k] = original + eps
                up = model(idx, None, targets)[1].item()
                flat[k] = original - eps
                down = model(idx, None, targets)[1].item()
                flat[k] = original
            assert (up - down) / (2 * eps) == pytest.approx(grad[k].item(), abs=1e-7), name


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_state_carried_across_halves_equals_one_pass(cell):
    torch.manual_seed(4)
    model = CharRNN(ModelConfig(V, cell, H, L)).eval()
    idx = torch.randint(0, V, (B, 2 * T))
    full, _, full_state = model(idx)
    first, _, state = model(idx[:, :T])
    second, _, state = model(idx[:, T:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    for a, b in zip(state if cell == "lstm" else (state,), full_state if cell == "lstm" else (full_state,)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_step_api_and_activations_match_forward(cell):
    torch.manual_seed(5)
    model = CharRNN(ModelConfig(V, cell, H, L, embedding_size=4)).eval()
    idx = torch.randint(0, V, (B, T))
    logits, _, final = model(idx)
    state, stepped = None, []
    for t in range(T):
        step_logits, state = model.step(idx[:, t], state)
        stepped.append(step_logits)
    torch.testing.assert_close(torch.stack(stepped, dim=1), logits)
    acts = model.activations(idx)
    assert len(acts.hidden) == L and acts.hidden[0].shape == (B, T, H)
    assert (acts.cell is not None) == (cell == "lstm")
    torch.testing.assert_close(acts.logits, logits, atol=1e-5, rtol=1e-5)
    final_h = final[0] if cell == "lstm" else final
    torch.testing.assert_close(acts.hidden[-1][:, -1], final_h[-1], atol=1e-5, rtol=1e-5)
    if cell == "lstm":
        torch.testing.assert_close(acts.cell[0][:, -1], final[1][0], atol=1e-5, rtol=1e-5)


def test_loss_is_mean_cross_entropy_in_nats():
    model = CharRNN(ModelConfig(V, "lstm", H, 1))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    idx = torch.randint(0, V, (B, T))
    _, loss, _ = model(idx, targets=idx)
    assert loss.item() == pytest.approx(np.log(V))  # uniform prediction costs ln(V) nats
