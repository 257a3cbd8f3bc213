"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the delivery, config, secrets and fault tests.

aiosmtpd runs with its defaults (RFC 5321 line limit of 1001 bytes, lines ended by CRLF): a message
sent with bare-LF line endings arrives as one over-long line and is refused ("500 Line too long"),
as a strict production server would refuse it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

SmtpController = Controller  # aiosmtpd's own controller and SMTP class, default settings


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_smtp(handler: Any, **smtp_kwargs: Any) -> Iterator[int]:
    """Serve `handler` (aiosmtpd handler hooks) on a free loopback port; yields the port."""
    port = free_port()
    controller = SmtpController(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
