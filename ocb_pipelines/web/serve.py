"""`ocb serve`: the desk under uvicorn, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import logging

import uvicorn

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.web.app import create_app
from ocb_pipelines.web.settings import DeskSettings

log = logging.getLogger("ocb.desk")


def serve(settings: OcbSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    desk = DeskSettings.from_settings(settings)
    if desk.secret_generated:
        log.warning("web.secret_key is not set: sessions are signed with a random key and end when the desk "
                    "restarts (set WEB_SECRET_KEY, as OpenChargeback's config does)")
    uvicorn.run(create_app(settings, desk), host=host, port=port, log_level="warning", access_log=False)
