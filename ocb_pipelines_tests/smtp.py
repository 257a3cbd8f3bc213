"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the delivery, config, secrets and fault tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class _SMTP(SMTP):
    # aiosmtpd 1.4.6 sizes its StreamReader buffer by line_length_limit (1001); on this Python that refuses
    # any DATA longer than ~1 KB as "500 Line too long" although every line is short. A larger buffer fixes it.
    line_length_limit = 1 << 20


class SmtpController(Controller):
    def factory(self):
        return _SMTP(self.handler, **self.SMTP_kwargs)


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
