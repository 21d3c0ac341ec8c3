"""Hosts: where runs and GPUs live (SSH servers, Slurm login nodes, this machine, the demo)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class HostKind(enum.StrEnum):
    SSH = "ssh"
    SLURM = "slurm"
    LOCAL = "local"
    DEMO = "demo"


@dataclass(frozen=True)
class Host:
    name: str
    kind: HostKind = HostKind.SSH
    address: str = ""  # ssh alias, hostname or IP
    user: str | None = None
    port: int | None = None
    jump: str | None = None  # ProxyJump, as in ~/.ssh/config
    identity_file: str | None = None
    gpus: int | None = None
    labels: tuple[str, ...] = ()
    read_only: bool = False
