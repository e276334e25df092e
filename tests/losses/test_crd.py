"""CRD: embedding heads, two momentum memory banks indexed by batch position, NCE with a fixed Z."""

import math

import pytest
import torch
from torch import nn

from kdlab.errors import ConfigError
from kdlab.losses import LOSS_TERMS, TermSetup
from tests.losses.feature_terms import build, close, double_leaves, finite, leaves, step, value

OPTIONS = {"student": "s", "teacher": "t", "feat_dim": 8, "nce_k": 6, "nce_t": 0.2}


def features(n=4, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return ({"s": torch.randn(n, 3, 2, 2, generator=g) * scale},  # a map: flattened to 12
            {"t": torch.randn(n, 10, generator=g) * scale})


def recording(term):
    """Keep the bank rows each step draws (the term draws them from torch's generator)."""
    drawn, draw = [], term.draw
    term.draw = lambda position: drawn.append(draw(position)) or drawn[-1]
    return drawn


def test_hand_computation_of_the_nce_loss_and_z():
    # Two samples of a training split of M = 4, 2-d embeddings, K = 2 negatives, temperature 0.5.
    s, t = {"s": torch.zeros(2, 2)}, {"t": torch.zeros(2, 2)}
    term = build("crd", s, t, num_train=4, student="s", teacher="t", feat_dim=2, nce_k=2, nce_t=0.5)
    bank_s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]])
    bank_t = torch.tensor([[0.0, -1.0], [0.8, 0.6], [1.0, 0.0], [0.0, 1.0]])
    term.memory_student.copy_(bank_s)
    term.memory_teacher.copy_(bank_t)
    v_s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v_t = torch.tensor([[0.6, 0.8], [-1.0, 0.0]])
    rows = torch.tensor([[1, 0, 3], [2, 2, 1]])  # each sample's own row, then its negatives
    loss = term.contrast(v_s, v_t, rows)

    def side(v, bank):
        e = [[math.exp(sum(a * b for a, b in zip(v[i].tolist(), bank[j].tolist())) / 0.5) for j in rows[i].tolist()]
             for i in range(2)]
        z = 4 * sum(map(sum, e)) / 6  # M times the mean over the batch's 2 x 3 scores
        noise, eps = 2 / 4, 1e-7
        total = 0.0
        for i in range(2):
            p = [x / z for x in e[i]]
            total += math.log(p[0] / (p[0] + noise + eps)) + sum(math.log(noise / (q + noise + eps)) for q in p[1:])
        return -total / 2, z

    l_s, z_s = side(v_s, bank_t)  # the student's embeddings against the teacher's bank
    l_t, z_t = side(v_t, bank_s)
    assert loss.item() == pytest.approx(l_s + l_t, rel=1e-6)
    assert term.log_z.exp().tolist() == pytest.approx([z_s, z_t], rel=1e-6)
    # Z is kept: a second call with other embeddings uses the first batch's
    term.contrast(v_t, v_s, rows)
    assert term.log_z.exp().tolist() == pytest.approx([z_s, z_t], rel=1e-6)


def test_memory_update_is_the_momentum_formula_on_the_batch_rows_only():
    s, t = features(n=2)
    term = build("crd", s, t, num_train=6, nce_m=0.3, **OPTIONS)
    before_s, before_t = term.memory_student.clone(), term.memory_teacher.clone()
    position = torch.tensor([4, 1])
    with torch.no_grad():
        v_s = term.embed_student(s["s"].flatten(1))
        v_t = term.embed_teacher(t["t"])
        v_s, v_t = v_s / v_s.norm(dim=1, keepdim=True), v_t / v_t.norm(dim=1, keepdim=True)
    value(term, step(s, t, position))
    for bank, before, v in ((term.memory_student, before_s, v_s), (term.memory_teacher, before_t, v_t)):
        for i, row in enumerate(position.tolist()):
            mixed = 0.3 * before[row] + 0.7 * v[i]
            assert torch.allclose(bank[row], mixed / mixed.norm(), atol=1e-6)
            assert bank[row].norm().item() == pytest.approx(1.0, abs=1e-6)
        others = [r for r in range(6) if r not in position.tolist()]
        assert torch.equal(bank[others], before[others])


def test_negatives_are_drawn_from_torchs_generator_and_the_bank_starts_as_the_reference():
    s, t = features(n=3)
    torch.manual_seed(5)
    term = build("crd", s, t, num_train=50, **OPTIONS)
    bound = 1 / math.sqrt(8 / 3)
    for bank in (term.memory_student, term.memory_teacher):
        assert bank.shape == (50, 8) and bank.abs().max() <= bound and bank.abs().max() > 0.9 * bound
    assert torch.isnan(term.log_z).all()
    position = torch.tensor([7, 0, 49])
    torch.manual_seed(1)
    a = term.draw(position)
    torch.manual_seed(1)
    assert torch.equal(term.draw(position), a)
    assert a.shape == (3, 7) and torch.equal(a[:, 0], position) and a.min() >= 0 and a.max() < 50


def crd_from_paper(s, t, rows, params, banks, num_train, nce_t):
    """Float64: v = W f + b, l2-normalised; P(j) = exp(v . bank[j] / tau) / Z with Z = M * mean over the
    batch's scores; NCE: -1/B sum_i [log P(i) / (P(i) + K/M + eps) + sum_j log (K/M) / (P(j) + K/M + eps)]."""
    def embed(x, name):
        v = x.flatten(1) @ params[f"{name}.weight"].T + params[f"{name}.bias"]
        return v / torch.sqrt((v ** 2).sum(1, keepdim=True))

    total = 0.0
    k = rows.shape[1] - 1
    noise = k / num_train
    for v, bank in ((embed(s, "embed_student"), banks["teacher"]), (embed(t, "embed_teacher"), banks["student"])):
        e = torch.exp(torch.einsum("bkd,bd->bk", bank[rows], v) / nce_t)
        p = e / (num_train * e.detach().mean())
        nce = torch.log(p[:, 0] / (p[:, 0] + noise + 1e-7)).sum() + torch.log(noise / (p[:, 1:] + noise + 1e-7)).sum()
        total = total - nce / len(s)
    return total


@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_value_and_gradient_match_the_paper_in_float64(dtype, rel):
    s, t = features(n=5)
    term = build("crd", s, t, num_train=9, **OPTIONS).to(dtype)
    s, t = {k: v.to(dtype) for k, v in s.items()}, {k: v.to(dtype) for k, v in t.items()}
    drawn = recording(term)
    params = double_leaves(term)
    banks = {"student": term.memory_student.double().clone(), "teacher": term.memory_teacher.double().clone()}
    fs = leaves(s)
    position = torch.tensor([3, 8, 0, 5, 1])
    loss = value(term, step(fs, t, position))
    loss.backward()
    ds = fs["s"].detach().double().requires_grad_()
    ref = crd_from_paper(ds, t["t"].double(), drawn[0], params, banks, 9, 0.2)
    ref.backward()
    close(loss, ref, rel)
    close(fs["s"].grad, ds.grad, rel)
    for name, p in term.named_parameters():
        close(p.grad, params[name].grad, rel)


@pytest.mark.parametrize("case", ["huge", "zero", "one"])
def test_extreme_inputs_give_finite_values_and_gradients(case):
    s, t = features(n=1 if case == "one" else 4, scale={"huge": 1e30, "zero": 0.0}.get(case, 1.0))
    term = build("crd", s, t, **OPTIONS)
    if case == "zero":  # zero features and zero biases: all-zero embeddings, the reference's 0/0
        with torch.no_grad():
            term.embed_student.bias.zero_(), term.embed_teacher.bias.zero_()
    fs = leaves(s)
    for _ in range(2):  # the second step reads rows the first wrote
        loss = value(term, step(fs, t))
        loss.backward()
        assert finite(loss, *fs.values(), *term.parameters())
    assert torch.isfinite(term.memory_student).all() and torch.isfinite(term.log_z).all()


def test_a_tiny_temperature_stays_finite():
    s, t = features()
    term = build("crd", s, t, **{**OPTIONS, "nce_t": 1e-3})  # exp(1 / 1e-3) overflows float32
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    assert finite(loss, *fs.values())


def test_reads_the_embedding_by_default_one_feature_each():
    class Net(nn.Module):
        feature_paths = {"stages": ["a", "b"], "embedding": ["e"]}

    term = LOSS_TERMS.build("crd", {})
    assert (term.feat_dim, term.nce_k, term.nce_t, term.nce_m) == (128, 16384, 0.07, 0.5)  # the reference's
    term.bind(Net(), Net())
    assert term.student_features == ("e",) and term.teacher_features == ("e",)
    term = LOSS_TERMS.build("crd", {"student": "@stages"})
    term.bind(Net(), Net())
    with pytest.raises(ConfigError, match="crd reads one student feature; 'student' gives 2"):
        term.setup(None)
    with pytest.raises(ConfigError, match="option 'nce_m'"):
        LOSS_TERMS.build("crd", {"nce_m": 1.5})


def test_under_bf16_autocast_it_computes_in_float32():
    s, t = features()
    results = []
    for autocast in (False, True):
        torch.manual_seed(7)  # the same heads, banks and negatives
        term = build("crd", s, t, **OPTIONS)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            results.append(value(term, step({k: v.to(torch.bfloat16) for k, v in s.items()},
                                            {k: v.to(torch.bfloat16) for k, v in t.items()})))
        assert results[-1].dtype == torch.float32 and term.memory_student.dtype == torch.float32
    assert results[1].item() == pytest.approx(results[0].item(), rel=1e-6)  # bf16 features, float32 arithmetic


def test_refused_under_torchrun(monkeypatch):
    s, t = features()
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    with pytest.raises(ConfigError, match="crd keeps its memory banks per process: under torchrun \\(2 processes\\)"):
        build("crd", s, t, **OPTIONS)


def test_negatives_of_other_classes_are_uniform_over_those_rows():
    """The references' CIFAR100InstanceSample (mode exact): K negatives per sample from the rows of the
    other classes, with replacement, each equally likely; `any` draws from every row."""
    s, t = features(n=3)
    term = build("crd", s, t, num_train=12, **{**OPTIONS, "nce_k": 3000})  # labels: row % 3
    position = torch.tensor([0, 4, 11])
    torch.manual_seed(0)
    rows = term.draw(position)
    assert torch.equal(rows[:, 0], position)
    for i, p in enumerate(position.tolist()):
        negatives = rows[i, 1:]
        assert bool(((negatives % 3) != p % 3).all())  # never the positive's class
        counts = torch.bincount(negatives, minlength=12)[torch.arange(12) % 3 != p % 3]
        assert len(counts) == 8 and counts.min() > 3000 / 8 * 0.75 and counts.max() < 3000 / 8 * 1.25
    anywhere = build("crd", s, t, num_train=12, **{**OPTIONS, "nce_k": 3000, "negatives": "any"})
    drawn = anywhere.draw(position)[:, 1:]
    assert bool(((drawn % 3) == (position[:, None] % 3)).any()) and set(drawn.flatten().tolist()) == set(range(12))


def test_other_class_negatives_need_labels_of_two_classes():
    s, t = features(n=3)
    term = LOSS_TERMS.build("crd", OPTIONS)
    with pytest.raises(ConfigError, match="needs the training labels"):
        term.setup(TermSetup(s, t, num_train=6, num_classes=3))
    with pytest.raises(ConfigError, match="at least two classes"):
        LOSS_TERMS.build("crd", OPTIONS).setup(TermSetup(s, t, num_train=6, num_classes=3,
                                                        train_labels=torch.zeros(6, dtype=torch.long)))
    LOSS_TERMS.build("crd", {**OPTIONS, "negatives": "any"}).setup(TermSetup(s, t, num_train=6, num_classes=3))
