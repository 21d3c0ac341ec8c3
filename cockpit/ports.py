"""The protocols the core needs and the backends implement.

Core modules (runs, the registry, the GPU watch, the app's controllers) speak to the outside
world only through these; backends/ implements them and imports this module, never the
other way round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cockpit.models import (
    ChatMessage,
    Command,
    HostSnapshot,
    LlmBackend,
    LlmReply,
    Paper,
    Run,
    RunState,
)


@dataclass(frozen=True)
class RunStatus:
    state: RunState
    exit_code: int | None = None
    ended_at: float | None = None
    progress: float | None = None  # 0..1 where the backend can tell
    started_at: float | None = None
    gpu_ids: tuple[int, ...] | None = None  # None: the backend did not say
    detail: str | None = None  # why, in a few words (rejected, lost after a reboot ...)


@dataclass(frozen=True)
class QueueView:
    """A host's run queue as its queue runner sees it: waiting runs in start order."""

    host: str
    order: tuple[str, ...] = ()
    held: dict[str, str] = field(default_factory=dict)  # "gpu:N" / "cpu:RUN" -> run id


@dataclass(frozen=True)
class LogChunk:
    data: bytes
    next_offset: int
    eof: bool  # True when the run is over and nothing more will be written
    # The log's size in bytes when it was read; None where the backend cannot tell.
    size: int | None = None

    @property
    def start(self) -> int:
        """The byte this chunk was read from (before the last one ended: a restart)."""
        return self.next_offset - len(self.data)

    def truncated_before(self, offset: int) -> bool:
        """Whether the log is now shorter than `offset`, the byte this chunk was read from:
        it was truncated under the reader (a script reopening it with 'w', logrotate's
        copytruncate), so following it goes on from its first byte, as `tail -F` does."""
        return self.size is not None and self.size < offset


@runtime_checkable
class RunBackend(Protocol):
    """Where a run executes, and how the cockpit finds out what it is doing."""

    async def launch(self, run: Run) -> Run:
        """Start the run; return it with state, start time and handles (pid, job id) filled."""
        ...

    async def poll(self, run: Run) -> RunStatus: ...

    async def cancel(self, run: Run) -> RunStatus: ...

    async def read_log(self, run: Run, offset: int, max_bytes: int = 65536) -> LogChunk:
        """Bytes of the run's log from `offset`, so a reader resumes where it stopped."""
        ...

    def follow(self, run: Run, offset: int) -> AsyncIterator[LogChunk]:
        """The run's log from `offset` as it grows, over one stream; ends with the run."""
        ...


@runtime_checkable
class BatchRunBackend(RunBackend, Protocol):
    """A backend that does many runs per round trip to a host: a 64-run sweep is one
    submission per host, and a poll is one status command per host."""

    async def launch_many(self, runs: Sequence[Run]) -> list[Run]: ...

    async def poll_many(self, runs: Sequence[Run]) -> dict[str, RunStatus]: ...

    async def cancel_many(self, runs: Sequence[Run]) -> dict[str, RunStatus]: ...

    async def run_files(
        self, runs: Sequence[Run], names: Sequence[str]
    ) -> dict[str, dict[str, bytes]]:
        """Small files of each run's folder (metrics.jsonl ...), for its results."""
        ...

    async def queue(
        self, host: str, op: str = "list", run_id: str | None = None, position: int = 0
    ) -> QueueView:
        """The host's queue; op "move" puts run_id at position, "drop" cancels it."""
        ...


@runtime_checkable
class GpuSource(Protocol):
    """Anything that yields host snapshots: simulated, local NVML, or remote over SSH."""

    def stream(self) -> AsyncIterator[HostSnapshot]:
        """Yield a snapshot per host whenever one is sampled, until closed."""
        ...

    async def close(self) -> None: ...


class ByteReader(Protocol):
    """Random access to a file that may be huge and remote (a run's log over SFTP)."""

    def size(self) -> int: ...

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes from `offset`; fewer only at the end of the file."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class LogReaderBackend(Protocol):
    """A backend that can read a run's log anywhere in it (a seek), not only stream it:
    what huge logs need (the view reads the window on screen, `logs --tail` the end)."""

    async def open_log_reader(self, run: Run) -> ByteReader:
        """Random access to the run's log; close() it when done."""
        ...


class CommandHandler(Protocol):
    """A backend as the bus sees it: it carries out one command and returns a result."""

    async def handle(self, command: Command) -> dict[str, Any]: ...


# Called with each piece of an answer as it streams in, on the event loop.
DeltaSink = Callable[[str], None]


class LlmCallError(Exception):
    """The provider or the network refused or broke a call (one line, no key in it)."""

    def __init__(self, message: str, *, status_code: int | None = None, partial: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.partial = partial  # what had streamed in before it broke


@runtime_checkable
class LlmClient(Protocol):
    """A chat model behind any provider. Streams; prices calls from the provider's price map.

    The key is read from the backend's named environment variable at call time and never
    kept. Cancelling the awaiting task cancels the call in flight.
    """

    async def complete(
        self,
        backend: LlmBackend,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        on_delta: DeltaSink | None = None,
        timeout_s: float = 120.0,
    ) -> LlmReply: ...

    async def price(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for that many tokens, or None when the model is not in the price map."""
        ...

    async def count_tokens(self, model: str, text: str) -> int: ...


class LiteratureError(Exception):
    """A literature search failed after its retries (one line for the user)."""


@runtime_checkable
class LiteratureClient(Protocol):
    """Search for papers: Semantic Scholar or OpenAlex."""

    source: str

    async def search(self, query: str, limit: int = 10) -> list[Paper]:
        """Papers matching `query`, best first; [] when there are none."""
        ...
