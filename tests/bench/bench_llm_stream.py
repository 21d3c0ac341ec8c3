"""Benchmark: the overhead the cockpit adds between a streamed LLM chunk arriving and it
being painted, against the loopback OpenAI-compatible server (tests/llm_server.py).

Run by hand (pytest does not collect it):

    /work/main/.venv/bin/python tests/bench/bench_llm_stream.py [--chunks 300]

Ours: the Ideas pane in a Textual app (headless, 80x24); litellm streams a reply through
LitellmClient -> MeteredLlm -> LlmCommandHandler's progress -> IdeasController ->
IdeasPane.stream_text, and the same into the answer panel of A in Runs/Results
(widgets/llm_answer.AnswerScreen.append, which redraws the whole answer so far). Baseline,
in the same run: litellm's own stream written straight
into a bare Textual Log. For each chunk, the time from litellm yielding it (measured in the
client's on_delta / the baseline loop) to the next refresh of the screen after it was
written (call_after_refresh). Target: ours adds < 50 ms to the baseline's p99 (Textual's
own paint cadence and the machine's load are in both); the ratio is printed.
Exit 0 when the target is met.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Log  # noqa: E402

from backends.llm import LitellmClient  # noqa: E402
from cockpit.bus import CommandBus  # noqa: E402
from cockpit.ideas import wire_llm  # noqa: E402
from cockpit.llm_jobs import JobProgress  # noqa: E402
from cockpit.models import LlmBackend  # noqa: E402
from cockpit.registry import CommandRegistry, llm_target  # noqa: E402
from cockpit.store import Store  # noqa: E402
from tests.llm_server import ChatServer, Reply, _Handler, _Server  # noqa: E402
from widgets.ideas import IdeasPane  # noqa: E402
from widgets.llm_answer import AnswerScreen  # noqa: E402


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


class Bench(App[None]):
    def __init__(self, ours: bool) -> None:
        super().__init__()
        self.ours = ours

    def compose(self) -> ComposeResult:
        # Built here: the pane's table measures its columns against the running app.
        self.pane = IdeasPane()
        self.log_widget = Log()
        yield self.pane if self.ours else self.log_widget


async def run(
    chat: ChatServer, chunks: int, ours: bool, db: Path, answer_panel: bool = False
) -> list[float]:
    words = " ".join(f"w{i}" for i in range(chunks))
    chat.script = [Reply(words, chunk_delay_s=0.005)]
    latencies: list[float] = []
    app = Bench(ours)
    store = Store.open(db)
    backend = LlmBackend("loop", "openai/gpt-4o-mini", api_base=chat.url)
    if not store.list_llm_backends():
        store.add_llm_backend(backend)
    client = LitellmClient()
    await client.litellm()  # the import is not what is measured

    def painted(arrived: float) -> None:
        latencies.append(time.perf_counter() - arrived)

    async with app.run_test(size=(80, 24)):
        if ours:
            bus = CommandBus(store, CommandRegistry())
            handler = wire_llm(bus.registry, store, client, None)
            arrivals: list[float] = []
            original = client.complete

            async def timed(*args: object, **kwargs: object) -> object:
                sink = kwargs["on_delta"]

                def on_delta(piece: str) -> None:
                    arrivals.append(time.perf_counter())
                    sink(piece)  # type: ignore[operator]

                kwargs["on_delta"] = on_delta
                return await original(*args, **kwargs)  # type: ignore[arg-type]

            client.complete = timed  # type: ignore[method-assign]

            def on_progress(event: JobProgress) -> None:
                if event.delta:  # what IdeasController does with a delta
                    app.pane.stream_text(event.delta)
                    app.call_after_refresh(painted, arrivals[-1])

            if answer_panel:
                panel = AnswerScreen("bench")
                await app.push_screen(panel)

                def on_progress(event: JobProgress) -> None:
                    if event.delta:  # what AskController does with a delta
                        panel.append(event.delta)
                        app.call_after_refresh(painted, arrivals[-1])

            handler.watch(on_progress)
            app.pane.start_generation("bench")
            messages = [{"role": "user", "content": "go"}]
            await bus.submit("ideas", llm_target("loop"), "llm.ask", {"messages": messages})
        else:
            import litellm

            stream = await litellm.acompletion(
                model=backend.model,
                messages=[{"role": "user", "content": "go"}],
                api_base=chat.url,
                api_key="no-key",
                stream=True,
            )
            async for chunk in stream:
                arrived = time.perf_counter()
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    app.log_widget.write(piece)
                    app.call_after_refresh(painted, arrived)
        await asyncio.sleep(0.2)
    store.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    server = _Server(("127.0.0.1", 0), _Handler)
    server.chat = ChatServer(url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = asyncio.run(run(server.chat, args.chunks, False, Path(tmp) / "b.db"))
        ours = asyncio.run(run(server.chat, args.chunks, True, Path(tmp) / "o.db"))
        panel = asyncio.run(run(server.chat, args.chunks, True, Path(tmp) / "a.db", True))
    server.shutdown()
    for name, values in (
        ("baseline (bare Log)", base),
        ("ours (Ideas pane)", ours),
        ("ours (answer panel)", panel),
    ):
        ms = [v * 1000 for v in values]
        print(
            f"{name:<22} n={len(ms):4d}  median {statistics.median(ms):6.2f} ms  "
            f"p99 {p99(ms):6.2f} ms  max {max(ms):6.2f} ms"
        )
    added = 0.0
    for name, values in (("Ideas pane", ours), ("answer panel", panel)):
        ratio = p99(values) / p99(base)
        extra = (p99(values) - p99(base)) * 1000
        added = max(added, extra)
        print(f"{name}: p99 ratio ours/baseline {ratio:.2f}; added at p99: {extra:.1f} ms")
    print("target: the cockpit adds < 50 ms at p99 (Textual's own paint is the baseline)")
    return 0 if added < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
