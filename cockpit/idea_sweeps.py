"""The sweep an idea proposed (a `run.sweep` command), once a person has confirmed it.

The proposal holds the spec's TOML as the person last saw it; it is parsed and planned
only when confirmed, so nothing is recorded for a proposal that is rejected or never
confirmed. The idea is linked to its sweep and moves to `running` in the step where
the runs are recorded, before any host is asked; it moves to `done` when every run of its
sweeps has ended.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cockpit.ideas import move
from cockpit.models import Idea, IdeaStatus, Run
from cockpit.scheduler import LaunchPlan, plan_sweep
from cockpit.store import Store
from cockpit.sweep import parse_spec_text
from cockpit.validate import ValidationError


@dataclass(frozen=True)
class ProposalPlan:
    """What confirming a proposal launches, and the idea it is for (moved to running)."""

    launch: LaunchPlan
    idea: Idea


def plan_proposal(store: Store, payload: Mapping[str, Any]) -> ProposalPlan:
    """The runs of a proposed sweep, checked as `cockpit launch` checks a spec file.

    Raises ValidationError (one line naming the field) for a bad spec, NotFoundError for
    an idea deleted since. The idea's state is not checked: a person confirming the launch
    is the decision that it runs (`ideas propose --force` exists for ideas not approved)."""
    idea_name = payload.get("idea")
    spec_toml = payload.get("spec_toml")
    if not isinstance(idea_name, str) or not isinstance(spec_toml, str):
        raise ValidationError("run.sweep needs an idea and a spec_toml")
    idea = store.get_idea(idea_name)
    source = f"spec proposed for idea {idea_name}"
    spec = parse_spec_text(spec_toml, source)
    try:
        launch = plan_sweep(spec, store.list_hosts(), (), time.time())
    except ValidationError as exc:
        raise ValidationError(f"{source}: {exc}") from None
    return ProposalPlan(launch, idea)


def link_idea(store: Store, name: str, sweep: str) -> Idea:
    """The idea, running, with its new sweep among its links (stored). Read afresh: a
    person may have edited its notes since the proposal was planned."""
    idea = store.get_idea(name)
    sweeps = idea.sweeps if sweep in idea.sweeps else (*idea.sweeps, sweep)
    linked = dataclasses.replace(idea, status=IdeaStatus.RUNNING, sweeps=sweeps)
    store.save_idea(linked)
    return linked


def sweeps_ended(runs: Iterable[Run]) -> dict[str, bool]:
    """Sweep name -> whether every run of it has ended."""
    out: dict[str, bool] = {}
    for run in runs:
        if run.spec.sweep is not None:
            out[run.spec.sweep] = out.get(run.spec.sweep, True) and run.state.terminal
    return out


def finish_ideas(store: Store, ended: Sequence[Run]) -> list[Idea]:
    """Move to `done` each running idea whose sweeps have all ended, now that `ended`
    runs did; returns the ideas moved. A sweep with no runs is not an ended sweep."""
    touched = {r.spec.sweep for r in ended if r.spec.sweep is not None and r.state.terminal}
    if not touched:
        return []
    moved: list[Idea] = []
    ideas = [i for i in store.list_ideas() if i.status == IdeaStatus.RUNNING]
    for idea in ideas:
        if not touched.intersection(idea.sweeps):
            continue
        ended_by_sweep = sweeps_ended(r for s in idea.sweeps for r in store.list_runs(sweep=s))
        if all(ended_by_sweep.get(s, False) for s in idea.sweeps):
            done = move(idea, IdeaStatus.DONE)
            store.save_idea(done)
            moved.append(done)
    return moved
