"""The one kind of message a pane sends up: a request for work it cannot do itself.

Panes only draw. When a key asks for data or an action, the pane posts a PaneRequest; the
app's shell routes every PaneRequest to the controller of that pane by its type.
"""

from __future__ import annotations

from textual.message import Message


class PaneRequest(Message):
    """Base of every request a pane posts for its controller."""
