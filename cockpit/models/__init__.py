"""Dataclasses shared by the core, the backends and the widgets.

Nothing here does I/O or imports Textual: these are the nouns every layer speaks. Each
module holds one family; this package re-exports the ones most modules need. The view
models panes draw (results, triage) live in their own modules and are imported from there.
"""

from cockpit.models.commands import Command, CommandOrigin, CommandStatus
from cockpit.models.gpus import GpuProcess, GpuSample, HostSnapshot, HostState
from cockpit.models.hosts import Host, HostKind
from cockpit.models.ideas import Idea, IdeaStatus, NoveltyCheck, Paper
from cockpit.models.llm import (
    ChatMessage,
    CostEstimate,
    LlmBackend,
    LlmCall,
    LlmCallStatus,
    LlmReply,
    LlmReservation,
    UsageReport,
    UsageRow,
)
from cockpit.models.paper import (
    REVIEW_SCORE_RANGES,
    REVIEW_TEXT_FIELDS,
    Claim,
    ClaimReport,
    ClaimSource,
    DiffChange,
    DiffSummary,
    Draft,
    DraftDiff,
    DraftVersion,
    EditTarget,
    GitVersion,
    Hunk,
    Review,
)
from cockpit.models.runs import EvalItem, MetricPoint, MetricRow, Run, RunSpec, RunState, Sweep

__all__ = [
    "REVIEW_SCORE_RANGES",
    "REVIEW_TEXT_FIELDS",
    "ChatMessage",
    "Claim",
    "ClaimReport",
    "ClaimSource",
    "Command",
    "CommandOrigin",
    "CommandStatus",
    "CostEstimate",
    "DiffChange",
    "DiffSummary",
    "Draft",
    "DraftDiff",
    "DraftVersion",
    "EditTarget",
    "EvalItem",
    "GitVersion",
    "GpuProcess",
    "GpuSample",
    "Host",
    "HostKind",
    "HostSnapshot",
    "HostState",
    "Hunk",
    "Idea",
    "IdeaStatus",
    "LlmBackend",
    "LlmCall",
    "LlmCallStatus",
    "LlmReply",
    "LlmReservation",
    "MetricPoint",
    "MetricRow",
    "NoveltyCheck",
    "Paper",
    "Review",
    "Run",
    "RunSpec",
    "RunState",
    "Sweep",
    "UsageReport",
    "UsageRow",
]
