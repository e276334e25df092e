"""A run's identity, and what a run directory may be used for: a new run, a resume, the reuse of a
finished run, or training it anew.

A run's identity is everything that decides its result that kdlab can see: the resolved config
(its content hash, which holds the fingerprints of the objects given from Python), the digests of
the code behind it that is not kdlab's (kdlab.sources; recorded in run.json as `code`), and for a
student the identity of its teacher run (its config hash and the weight files it reads). kdlab's
own code is recorded (`code_version`) and, like torch's version, does not decide reuse: a run
made by another kdlab version is reused or resumed with a note saying so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from ..config import DATA_SETTINGS, ResolvedConfig, RunConfig, TeacherConfig, TermConfig
from ..errors import KdlabError, RunError
from ..io import code_version
from ..losses import LOSS_TERMS
from ..registry import REQUIRED
from .info import TeacherIdentity
from .lock import is_bookkeeping
from .rundir import RunDir, has_records

REUSE = ("if_same", "never")  # kdlab.fit(reuse=...) and --reuse
LOGGING_KEYS = ("loggers", "log_every_steps")  # record.*: not part of a run's identity
Reuse = Literal["if_same", "never"]


def teacher_identity(teacher: RunDir, cfg: TeacherConfig) -> TeacherIdentity | None:
    """The identity of the teacher run a student reads (None before that run has started: the
    student then fails to start anyway)."""
    if not teacher.info_path.is_file():
        return None
    if cfg.online:
        last = cfg.checkpoint if cfg.checkpoint != "final" else float("inf")
        files = [teacher.weights_path(e) for e in teacher.checkpoint_epochs() if e <= last]
    else:
        files = [teacher.final_weights if cfg.checkpoint == "final" else teacher.weights_path(cfg.checkpoint)]
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return TeacherIdentity(config_hash=teacher.info().config_hash, weights_sha256=digest.hexdigest()[:16])


@dataclass(frozen=True)
class Claim:
    """What to do with a run directory: train a `new` run, `resume` it, reuse it (`finished`), or
    train it `anew` (its records are cleared first); `note` says why, where the user should know."""

    status: Literal["new", "resume", "finished", "anew"]
    note: str | None = None


def claim(run: RunDir, cfg: ResolvedConfig, teacher: TeacherIdentity | None, reuse: Reuse = "if_same") -> Claim:
    """Decide, writing nothing, what `cfg` may do with `run`. Call it holding the run's lock.

    A directory that holds another config, or the same config distilled from a teacher that has
    changed since, is never touched: that is an error. A finished run is reused only when its
    identity is the same; when only the user's objects or code differ it is trained anew, and an
    interrupted one is not resumed (an error that says which piece changed)."""
    run.refuse_links()
    if not run.config_path.is_file():
        if has_records(run.root):
            raise RunError(f"{run.root} exists and is not a kdlab run directory; choose another name= or --out")
        return Claim("new")
    try:
        existing = run.config()
    except KdlabError:  # an unreadable config: not ours to overwrite
        raise RunError(f"{run.root} holds a config.yaml kdlab cannot read; choose another name= or --out") from None
    here, there = _flat(_without_objects(cfg)), _flat(_without_objects(with_new_defaults(existing)))
    diff = [k for k in sorted(set(here) | set(there)) if here.get(k) != there.get(k)]
    if diff:
        shown = ", ".join(f"{k}: {here.get(k)!r} here, {there.get(k)!r} there" for k in diff[:2])
        raise RunError(f"{run.root} already holds a run with a different config ({shown}); "
                       f"choose another name= or --out, or remove it")
    if not run.info_path.exists():
        if any(p.name != run.config_path.name for p in run.root.iterdir() if not is_bookkeeping(p)):
            raise RunError(f"{run.info_path} is missing but the run has records: they are damaged; remove "
                           f"{run.root} to redo the run")
        return Claim("anew")  # its start was interrupted after config.yaml, before anything else was written
    if reuse == "never":
        return Claim("anew", f"training {run.root} anew (reuse=never)")
    info = run.info()
    if info.teacher_identity is not None and teacher is not None and info.teacher_identity != teacher:
        raise RunError(f"{run.root} was distilled from {cfg.teacher.run} as it was before: the teacher has been "
                       f"retrained or changed since; remove {run.root} or choose another name= to distill again")
    unreadable = [piece for piece, digest in cfg.code.items() if digest is None]
    if unreadable:
        return Claim("anew", f"the source of {unreadable[0]} cannot be read (defined in an interactive session?), "
                             f"so {run.root} cannot be checked against it: training it anew")
    changed = _given_changes(existing, cfg) + _code_changes(info.code, cfg.code)
    if changed and run.finished:
        return Claim("anew", f"{changed[0]} changed since {run.root} was made: training it anew")
    if changed:
        raise RunError(f"{changed[0]} changed since {run.root} was started; restore it to resume, or start "
                       f"over with reuse='never' (--reuse never) or by removing {run.root}")
    note = None
    if info.code_version and info.code_version != code_version():
        note = f"{run.root} was made by kdlab {info.code_version}, this is kdlab {code_version()}"
    return Claim("finished" if run.finished else "resume", note)


def with_new_defaults(stored: RunConfig) -> RunConfig:
    """A stored config with the options its registered loss terms have gained since at their defaults:
    an option added to a term (with a default that keeps the old behaviour) is not another config."""
    terms = {}
    for name, term in stored.loss.terms.items():
        kind = stored.loss.term_type(name)
        if term.object is None and kind in LOSS_TERMS:
            defaults = {k: v for k, v in LOSS_TERMS.options(kind).items() if v is not REQUIRED}
            term = TermConfig(**{**defaults, **term.model_dump()})
        terms[name] = term
    return stored.model_copy(update={"loss": stored.loss.model_copy(update={"terms": terms})})


def _without_objects(cfg: RunConfig) -> dict:
    """What must match for a directory to be this run at all: the config with the sections that name
    given objects reduced to 'given' (the objects themselves are compared by _given_changes), and
    without the loggers, which change where numbers go, not what they are."""
    d = cfg.model_dump(mode="json")
    for key in LOGGING_KEYS:
        d["record"].pop(key, None)
    if d["model"].get("object"):
        d["model"] = "given"
    if d["data"].get("object"):
        d["data"] = {**{k: v for k, v in d["data"].items() if k in DATA_SETTINGS}, "name": "given"}
    for name, term in d["loss"]["terms"].items():
        if term.get("object"):
            d["loss"]["terms"][name] = {"weight": term["weight"], "term": "given"}
    if d.get("teacher") and d["teacher"].get("object"):
        d["teacher"]["object"] = "given"
    return d


def _given_changes(old: RunConfig, new: RunConfig) -> list[str]:
    """The given objects whose class or state differs (their fingerprints)."""
    found = []
    if (new.model.name, new.model.object) != (old.model.name, old.model.object):
        found.append(f"the initial state of model {new.model.name}")
    if (new.data.name, new.data.object) != (old.data.name, old.data.object):
        found.append(f"the content of dataset {new.data.name}")
    for name, term in new.loss.terms.items():
        if (term.term, term.object) != (old.loss.terms[name].term, old.loss.terms[name].object):
            found.append(f"the state of loss term {name} ({term.term})")
    if new.teacher is not None and old.teacher is not None and new.teacher.object != old.teacher.object:
        found.append("the teacher module")
    return found


def _code_changes(old: dict[str, str | None], new: dict[str, str | None]) -> list[str]:
    return [f"the code of {piece}" for piece in sorted(set(old) | set(new)) if old.get(piece) != new.get(piece)]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out
