"""Helpers for the tests of the feature-pair terms (at, nst, sp, pkt, rkd, kdsvd): a term on given
lists of student and teacher features outside the training loop, the comparison of its value and
gradient with a float64 re-implementation, and the extreme inputs every term must survive."""

from __future__ import annotations

import torch

from kdlab.losses import LOSS_TERMS, StepOutputs, TermSetup


def term_on(name: str, student: list[torch.Tensor], teacher: list[torch.Tensor], **options):
    """The registered term reading features named s0, s1, ... and t0, t1, ..., set up on them."""
    s_paths, t_paths = [f"s{i}" for i in range(len(student))], [f"t{i}" for i in range(len(teacher))]
    term = LOSS_TERMS.build(name, {"student": s_paths, "teacher": t_paths, **options})
    term.bind(None, None)
    term.setup(TermSetup(dict(zip(s_paths, student)), dict(zip(t_paths, teacher)), num_train=16, num_classes=3))
    return term


def evaluate(term, student: list[torch.Tensor], teacher: list[torch.Tensor]):
    """(loss, extra numbers) of one step on the features."""
    n = student[0].shape[0]
    out = StepOutputs(torch.zeros(n, 3), {"label": torch.zeros(n, dtype=torch.long)}, torch.zeros(n, 3),
                      {f"s{i}": f for i, f in enumerate(student)}, {f"t{i}": f for i, f in enumerate(teacher)})
    result = term(out)
    return result if isinstance(result, tuple) else (result, {})


def value(name: str, student, teacher, **options) -> torch.Tensor:
    return evaluate(term_on(name, student, teacher, **options), student, teacher)[0]


def matches_reimplementation(name: str, reimplementation, student, teacher, tol: float = 1e-5, **options):
    """The term's value and its gradient in the student's features equal those of `reimplementation`
    (float64, torch.autograd for both) within tol of their scale."""
    student = [f.double() for f in student]
    teacher = [f.double() for f in teacher]
    ours = [f.clone().requires_grad_() for f in student]
    theirs = [f.clone().requires_grad_() for f in student]
    loss = value(name, ours, teacher, **options)
    expected = reimplementation(theirs, teacher)
    grads = torch.autograd.grad(loss, ours)
    expected_grads = torch.autograd.grad(expected, theirs)
    assert abs(loss.item() - expected.item()) <= tol * max(abs(expected.item()), 1.0), (loss.item(), expected.item())
    for g, e in zip(grads, expected_grads):
        scale = max(e.abs().max().item(), 1e-12)
        torch.testing.assert_close(g, e, rtol=tol, atol=tol * scale)
    return loss.item()


def finite_value_and_gradient(name: str, student, teacher, **options) -> float:
    """The term's value, asserting it and its gradient in the student's features finite."""
    student = [f.clone().requires_grad_() for f in student]
    loss = value(name, student, teacher, **options)
    loss.backward()
    assert torch.isfinite(loss), loss
    for f in student:
        assert f.grad is not None and torch.isfinite(f.grad).all(), f.grad
    return loss.item()


def extreme_inputs(shapes_s: list[tuple[int, ...]], shapes_t: list[tuple[int, ...]], batch_of_one: bool = True):
    """(label, student features, teacher features) in float32: huge, all zero, mixed, a batch of 1."""
    gen = torch.Generator().manual_seed(0)

    def draw(shapes, scale=1.0, n=None):
        return [torch.randn((n or s[0], *s[1:]), generator=gen) * scale for s in shapes]

    def zeros(shapes):
        return [torch.zeros(s) for s in shapes]

    cases = [
        ("huge", draw(shapes_s, 1e30), draw(shapes_t, 1e30)),
        ("huge student, tiny teacher", draw(shapes_s, 1e30), draw(shapes_t, 1e-30)),
        ("all zero", zeros(shapes_s), zeros(shapes_t)),
        ("zero student", zeros(shapes_s), draw(shapes_t)),
        ("zero teacher", draw(shapes_s), zeros(shapes_t)),
        ("relu-like, one dead sample", [f.relu() * (torch.arange(f.shape[0]) > 0).view(-1, *[1] * (f.dim() - 1))
                                        for f in draw(shapes_s)], [f.relu() for f in draw(shapes_t)]),
        ("duplicated samples", [f[:1].expand_as(f).clone() for f in draw(shapes_s)], draw(shapes_t)),
    ]
    if batch_of_one:
        cases.append(("batch of 1", draw(shapes_s, n=1), draw(shapes_t, n=1)))
    return cases
