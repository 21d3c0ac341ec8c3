"""Run lifecycle on top of a RunBackend: commands from panes and the CLI, and polling.

Core code: it knows the store and backends by protocol, never Textual. A launch records
its runs (and sweep) when the command runs, not when it is proposed, so a rejected
proposal leaves nothing behind; the run ids are fixed in the command's payload, so a
launch retried after a dropped link finds the same runs and never starts one twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from cockpit.bus import CommandError
from cockpit.models import (
    Command,
    EvalItem,
    HostKind,
    MetricPoint,
    Run,
    RunSpec,
    RunState,
    Sweep,
)
from cockpit.ports import BatchRunBackend, QueueView, RunBackend, RunStatus
from cockpit.scheduler import new_run_id
from cockpit.store import NotFoundError, Store
from cockpit.validate import ValidationError

# Called in a worker thread when a run has finished, to record its results.
ResultCollector = Callable[[Run], None]
# The files of a finished run that hold its results (see README, "Launching runs").
RESULT_FILES = ("metrics.jsonl", "eval_items.jsonl", "final_metrics.json", "provenance.json")


def run_to_payload(run: Run) -> dict[str, Any]:
    """A new run as a command payload holds it (JSON)."""
    return {
        "id": run.id,
        "spec": dataclasses.asdict(run.spec),
        "host": run.host,
        "attempt": run.attempt,
        "relaunch_of": run.relaunch_of,
        "provenance": run.provenance,
    }


def run_from_payload(data: Mapping[str, Any]) -> Run:
    return Run(
        id=str(data["id"]),
        spec=RunSpec(**data["spec"]),
        host=data.get("host"),
        attempt=int(data.get("attempt") or 1),
        relaunch_of=data.get("relaunch_of"),
        provenance=dict(data.get("provenance") or {}),
    )


def sweep_to_payload(sweep: Sweep) -> dict[str, Any]:
    return dataclasses.asdict(sweep)


def launch_payload(runs: Sequence[Run], sweep: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload of a run.launch command: new runs (ids fixed) and their sweep."""
    payload: dict[str, Any] = {"runs": [run_to_payload(r) for r in runs]}
    if sweep is not None:
        payload["sweep"] = dict(sweep)
    return payload


def latest_attempts(runs: Iterable[Run]) -> tuple[Run, ...]:
    """One run per chain of relaunches: the latest finished attempt, else the latest.

    A relaunched config is not two seeds: its attempts must not be averaged together.
    """
    runs = list(runs)
    by_id = {r.id: r for r in runs}

    def first(run: Run) -> str:
        seen = {run.id}
        while run.relaunch_of in by_id and run.relaunch_of not in seen:
            run = by_id[run.relaunch_of]
            seen.add(run.id)
        return run.id

    chains: dict[str, list[Run]] = {}
    for run in runs:
        chains.setdefault(first(run), []).append(run)
    keep = set()
    for chain in chains.values():
        finished = [r for r in chain if r.state.terminal]
        keep.add(max(finished or chain, key=lambda r: r.attempt).id)
    return tuple(r for r in runs if r.id in keep)


def _submitted(run: Run) -> bool:
    """Whether a host has been told about the run (its folder exists there)."""
    return run.remote_dir is not None


class RunCommandHandler:
    """Carries out run.* commands and keeps the store in step.

    The backend is chosen from the kind of the run's host (demo, local, ssh, slurm), so one
    handler serves every host; a kind with no backend yet fails the command in one line.
    """

    def __init__(
        self,
        store: Store,
        backends: Mapping[HostKind, RunBackend],
        collect: ResultCollector | None = None,
    ) -> None:
        self.store = store
        self.backends = dict(backends)
        # A runtime-checkable Protocol's isinstance is slow (~0.2 ms): asked once per
        # backend here, not once per run per poll (500 runs made it most of a poll's CPU).
        self._batch_kinds = frozenset(
            kind for kind, backend in self.backends.items() if isinstance(backend, BatchRunBackend)
        )
        self._collect = collect

    def _backend(self, run: Run, kinds: Mapping[str, HostKind]) -> RunBackend:
        if not run.host:
            raise CommandError(f"run {run.id} has no host")
        kind = kinds.get(run.host)
        if kind is None:
            raise CommandError(f"run {run.id}: no host named {run.host!r}")
        backend = self.backends.get(kind)
        if backend is None:
            raise CommandError(f"run {run.id}: {kind} hosts cannot run anything yet")
        return backend

    async def _host_kinds(self) -> dict[str, HostKind]:
        return {h.name: h.kind for h in await asyncio.to_thread(self.store.list_hosts)}

    async def backend_for(self, run: Run) -> RunBackend:
        return self._backend(run, await self._host_kinds())

    async def handle(self, command: Command) -> dict[str, Any]:
        payload = command.payload
        if command.kind == "run.launch" and "runs" in payload:
            return await self._launch_new(payload)
        if command.kind == "run.sweep":
            return await self._launch_proposal(payload)
        if command.kind == "run.queue":
            return await self._queue(payload)
        if command.kind == "run.cancel" and "run_ids" in payload:
            return await self._cancel_many(payload["run_ids"])
        run_id = payload.get("run_id")
        if not isinstance(run_id, str):
            raise CommandError(f"{command.kind} needs a run_id")
        run = await asyncio.to_thread(self.store.get_run, run_id)
        if command.kind == "run.cancel":
            return await self._cancel_many([run.id])
        if command.kind == "run.relaunch" and isinstance(
            await self.backend_for(run), BatchRunBackend
        ):
            return await self._relaunch(run)
        if command.kind in ("run.launch", "run.relaunch"):
            return await self._launch(run)
        raise CommandError(f"unknown run command {command.kind!r}")

    # -- launching -------------------------------------------------------------------------

    async def _launch_new(
        self, payload: Mapping[str, Any], also_record: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Record the runs (and sweep) of a launch, then start them. also_record: more to
        write with them (an idea's link), before any host is asked."""
        runs = [run_from_payload(r) for r in payload["runs"]]
        sweep = payload.get("sweep")

        def record() -> list[Run]:
            if sweep is not None:
                self.store.upsert_sweep(Sweep(**sweep))
            self.store.insert_new_runs(runs)
            if also_record is not None:
                also_record()
            return [self.store.get_run(r.id) for r in runs]

        recorded = await asyncio.to_thread(record)
        todo = [r for r in recorded if r.state is RunState.QUEUED and not _submitted(r)]
        await self.submit(todo)
        states = {r.id: str(r.state) for r in await asyncio.to_thread(self._reload, runs)}
        return {"run_ids": [r.id for r in runs], "states": states}

    async def _launch_proposal(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A sweep an idea proposed, confirmed by a person: launched as `cockpit launch`
        launches a spec, and linked to its idea, which moves to running."""
        try:
            from cockpit.idea_sweeps import link_idea, plan_proposal  # ideas load when used

            plan = await asyncio.to_thread(plan_proposal, self.store, payload)
        except (ValidationError, NotFoundError) as exc:
            raise CommandError(str(exc)) from None
        sweep = plan.launch.sweep
        assert sweep is not None  # a spec always plans a sweep
        result = await self._launch_new(
            launch_payload(plan.launch.runs, sweep_to_payload(sweep)),
            lambda: link_idea(self.store, plan.idea.name, sweep.name),
        )
        return {**result, "sweep": sweep.name, "idea": plan.idea.name}

    def _reload(self, runs: Iterable[Run]) -> list[Run]:
        return [self.store.get_run(r.id) for r in runs]

    async def submit(self, runs: Sequence[Run], *, quiet: bool = False) -> list[Run]:
        """Hand recorded runs to their hosts' backends, one batch per backend.

        A host that cannot be reached leaves its runs queued and unsubmitted; the poller
        submits them again (the host agent ignores a run it already has). quiet: do not
        raise for that (the poller), else one line naming the hosts.
        """
        kinds = await self._host_kinds()
        by_backend: dict[int, tuple[RunBackend, list[Run]]] = {}
        for run in runs:
            backend = self._backend(run, kinds)
            by_backend.setdefault(id(backend), (backend, []))[1].append(run)
        launched: list[Run] = []
        errors: list[str] = []
        for backend, group in by_backend.values():
            try:
                if isinstance(backend, BatchRunBackend):
                    launched.extend(await backend.launch_many(group))
                else:
                    for run in group:
                        launched.append(await backend.launch(dataclasses.replace(run)))
            except Exception as exc:  # one unreachable host must not lose the others
                errors.append(str(exc) or type(exc).__name__)
        for run in launched:
            await asyncio.to_thread(self.store.upsert_run, run)
        if errors and not quiet:
            raise CommandError(
                "; ".join(errors) + " (runs not submitted stay queued and are retried)"
            )
        return launched

    async def _launch(self, run: Run) -> dict[str, Any]:
        if not run.state.terminal and run.state is not RunState.QUEUED:
            raise CommandError(f"run {run.id} is {run.state}; cancel it first")
        fresh = dataclasses.replace(run, exit_code=None, ended_at=None)
        launched = await (await self.backend_for(run)).launch(fresh)
        await asyncio.to_thread(self.store.upsert_run, launched)
        return {"run_id": run.id, "state": str(launched.state)}

    async def _relaunch(self, old: Run) -> dict[str, Any]:
        """A new attempt with its own id, linked to the old run, which stays as it was."""
        if not old.state.terminal:
            raise CommandError(f"run {old.id} is {old.state}; cancel it first")
        keep = {k: v for k, v in old.provenance.items() if k in ("higher_is_better",)}
        new = Run(
            id=new_run_id(old.spec.name),
            spec=old.spec,
            host=old.host,
            attempt=old.attempt + 1,
            relaunch_of=old.id,
            provenance=keep,
        )
        await asyncio.to_thread(self.store.insert_new_runs, [new])
        await self.submit([new])
        current = await asyncio.to_thread(self.store.get_run, new.id)
        return {
            "run_id": new.id,
            "relaunch_of": old.id,
            "run_ids": [new.id],
            "state": str(current.state),
        }

    # -- cancelling and the queue ----------------------------------------------------------

    async def _cancel_many(self, run_ids: Sequence[str]) -> dict[str, Any]:
        runs = [await asyncio.to_thread(self.store.get_run, rid) for rid in run_ids]
        hosts = {h.name: h for h in await asyncio.to_thread(self.store.list_hosts)}
        for run in runs:
            if run.state.terminal:
                raise CommandError(f"run {run.id} already {run.state}")
            host = hosts.get(run.host or "")
            if host is not None and host.read_only:
                raise CommandError(f"run {run.id}: host {host.name} is read-only")
        kinds = {name: h.kind for name, h in hosts.items()}
        statuses: dict[str, RunStatus] = {}
        pending = [r for r in runs if not _submitted(r) and r.state is RunState.QUEUED]
        for run in pending:  # never reached its host: nothing to stop there
            statuses[run.id] = RunStatus(RunState.CANCELLED, ended_at=time.time())
        live = [r for r in runs if r not in pending]
        for backend, group in self._group(live, kinds):
            if isinstance(backend, BatchRunBackend):
                statuses.update(await backend.cancel_many(group))
            else:
                for run in group:
                    statuses[run.id] = await backend.cancel(run)
        for run_id, status in statuses.items():
            await asyncio.to_thread(self._record_status, run_id, status)
        await asyncio.to_thread(lambda: finish_idea_sweeps(self.store, self._reload(runs)))
        return {"run_ids": list(run_ids), "states": {k: str(v.state) for k, v in statuses.items()}}

    def _group(
        self, runs: Sequence[Run], kinds: Mapping[str, HostKind]
    ) -> list[tuple[RunBackend, list[Run]]]:
        groups: dict[int, tuple[RunBackend, list[Run]]] = {}
        for run in runs:
            backend = self._backend(run, kinds)
            groups.setdefault(id(backend), (backend, []))[1].append(run)
        return list(groups.values())

    async def queue_view(self, host: str) -> QueueView:
        kinds = await self._host_kinds()
        backend = self.backends.get(kinds.get(host)) if host in kinds else None  # type: ignore[arg-type]
        if not isinstance(backend, BatchRunBackend):
            return QueueView(host)
        return await backend.queue(host)

    async def _queue(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        host = str(payload.get("host") or "")
        kinds = await self._host_kinds()
        backend = self.backends.get(kinds[host]) if host in kinds else None
        if not isinstance(backend, BatchRunBackend):
            raise CommandError(f"host {host!r} has no run queue")
        op = str(payload.get("op", "list"))
        if op not in ("list", "move", "drop"):
            raise CommandError(f"unknown queue operation {op!r}")
        view = await backend.queue(
            host, op, payload.get("run_id"), int(payload.get("position") or 0)
        )
        return {"host": host, "order": list(view.order)}

    # -- polling ---------------------------------------------------------------------------

    def _record_status(self, run_id: str, status: RunStatus) -> None:
        self.store.set_run_state(
            run_id,
            status.state,
            exit_code=status.exit_code,
            started_at=status.started_at,
            ended_at=status.ended_at,
            gpu_ids=status.gpu_ids,
        )

    async def poll_active(self) -> list[Run]:
        """Ask the backends about every unfinished run (one batch per backend); return
        those whose state changed. Submits runs a dropped link left unsubmitted, and
        records the results of runs that ended."""
        runs = await asyncio.to_thread(self.store.list_unsettled_runs)
        kinds = await self._host_kinds()
        live: list[tuple[RunBackend, Run]] = []
        unsubmitted: list[Run] = []
        for run in runs:
            kind = kinds.get(run.host or "")
            backend = self.backends.get(kind) if kind is not None else None
            if backend is None or run.state.terminal:
                continue  # its host's kind has no backend in this cockpit: nothing to ask
            if run.state is RunState.QUEUED and kind not in self._batch_kinds:
                continue  # the demo's queue is the demo's: it starts nothing by itself
            if run.state is RunState.QUEUED and not _submitted(run):
                unsubmitted.append(run)
                continue
            live.append((backend, run))
        if unsubmitted:
            await self.submit(unsubmitted, quiet=True)
        statuses: dict[str, RunStatus] = {}
        groups: dict[int, tuple[RunBackend, list[Run]]] = {}
        for backend, run in live:
            groups.setdefault(id(backend), (backend, []))[1].append(run)
        for backend, group in groups.values():
            if isinstance(backend, BatchRunBackend):
                statuses.update(await backend.poll_many(group))
            else:
                for run in group:
                    statuses[run.id] = await backend.poll(run)
        changed: list[Run] = []
        for _, run in live:
            status = statuses[run.id]
            moved = status.state is not run.state or (
                status.gpu_ids is not None and tuple(status.gpu_ids) != run.gpu_ids
            )
            if not moved:
                continue
            updated = dataclasses.replace(
                run,
                state=status.state,
                exit_code=status.exit_code,
                ended_at=status.ended_at,
                started_at=status.started_at or run.started_at,
                gpu_ids=status.gpu_ids if status.gpu_ids is not None else run.gpu_ids,
            )
            if status.state is RunState.SUCCEEDED and self._collect is not None:
                await asyncio.to_thread(self._collect, updated)
            changed.append(updated)
        # Results are stored before the end is: whoever waits for a run to succeed (an
        # agent polling `runs --json`, the triage) then finds its metrics already there.
        moved = {r.id: r for r in changed}
        await self.collect_results(kinds, [moved.get(r.id, r) for r in runs])
        for run in changed:
            await asyncio.to_thread(self._record_status, run.id, statuses[run.id])
        if any(r.state.terminal for r in changed):
            await asyncio.to_thread(finish_idea_sweeps, self.store, changed)
        return changed

    async def collect_results(
        self, kinds: Mapping[str, HostKind] | None = None, runs: Sequence[Run] | None = None
    ) -> int:
        """Record metrics of runs that ended on a batch backend and were not collected yet
        (their host may have been down when they ended). Returns how many runs.

        runs: the runs as the caller just read them (the poller reads the unsettled ones),
        saving a second read."""
        kinds = kinds if kinds is not None else await self._host_kinds()
        if runs is None:
            runs = await asyncio.to_thread(self.store.list_runs)
        todo = [
            r
            for r in runs
            if r.state.terminal
            and r.state is not RunState.LOST
            and r.results_at is None
            and _submitted(r)
            and kinds.get(r.host or "") in self._batch_kinds
        ]
        done = 0
        for backend, group in self._group(todo, kinds):
            assert isinstance(backend, BatchRunBackend)
            try:
                files = await backend.run_files(group, RESULT_FILES)
            except Exception:  # the host is down: try again at the next poll
                continue
            for run in group:
                await asyncio.to_thread(record_results, self.store, run, files.get(run.id, {}))
                done += 1
        return done


# -- results of a finished run ------------------------------------------------------------


def _json_objects(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line that is a JSON object; a line that is not (a
    crash mid-write) is skipped, not fatal."""
    for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield lineno, record


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_metrics_jsonl(data: bytes, run_id: str) -> list[MetricPoint]:
    """metrics.jsonl: one JSON object per line, `step` and metric name -> number."""
    points: list[MetricPoint] = []
    for lineno, record in _json_objects(data):
        step = record.get("step", lineno)
        if not _number(step):
            continue
        for name, value in record.items():
            if name != "step" and _number(value):
                points.append(MetricPoint(run_id, int(step), str(name), float(value)))
    return points


def parse_eval_items_jsonl(data: bytes, run_id: str) -> list[EvalItem]:
    items: list[EvalItem] = []
    for _, record in _json_objects(data):
        item = record.get("doc_id", record.get("item_id"))
        score = record.get("score", record.get("acc"))
        if item is not None and _number(score):
            items.append(EvalItem(run_id, str(record.get("task", "eval")), str(item), float(score)))
    return items


def record_results(store: Store, run: Run, files: Mapping[str, bytes]) -> None:
    """A finished run's metrics, final metrics, per-item scores and provenance, stored."""
    points = parse_metrics_jsonl(files.get("metrics.jsonl", b""), run.id)
    final = files.get("final_metrics.json")
    if final:
        try:
            values = json.loads(final)
        except ValueError:
            values = {}
        if isinstance(values, dict):
            # Final values go after the last logged step, so they are what "final" reads.
            step = max((p.step for p in points), default=-1) + 1
            points += [
                MetricPoint(run.id, step, str(k), float(v)) for k, v in values.items() if _number(v)
            ]
    store.add_metrics(points)
    store.add_eval_items(parse_eval_items_jsonl(files.get("eval_items.jsonl", b""), run.id))
    prov_bytes = files.get("provenance.json")
    if prov_bytes:
        try:
            prov = json.loads(prov_bytes)
        except ValueError:
            prov = None
        if isinstance(prov, dict):
            try:
                current = store.get_run(run.id)
            except NotFoundError:
                return
            # What the cockpit recorded at launch (directions) wins over the host's file.
            store.upsert_run(
                dataclasses.replace(current, provenance={**prov, **current.provenance})
            )
    store.mark_results_collected(run.id, time.time())


def finish_idea_sweeps(store: Store, runs: Sequence[Run]) -> None:
    """Move ideas whose sweeps have all ended to done (the ideas load only when needed)."""
    from cockpit.idea_sweeps import finish_ideas

    finish_ideas(store, runs)
