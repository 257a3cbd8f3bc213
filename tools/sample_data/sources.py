"""Every source the generator knows, by name, and what depends only on the source."""

from __future__ import annotations

import uuid

from tools.sample_data.cloud_sources import _AWS, _AZURE, _GCP
from tools.sample_data.columns import SOURCES
from tools.sample_data.products import _Source
from tools.sample_data.projects import _DEPARTMENTS, PROJECTS
from tools.sample_data.site_sources import _HPC, _STORAGE

_SOURCES: dict[str, _Source] = {"aws": _AWS, "azure": _AZURE, "gcp": _GCP, "hpc": _HPC, "storage": _STORAGE}

_JOB_NAMES = (
    "md_run", "dft_opt", "align_bwa", "mcmc_chain", "cfd_les", "train_cnn", "postproc", "array_task",
)  # fmt: skip
_SUBDIRS = ("", "/data", "/scratch", "/shared", "/results", "/raw", "/users")
_ENVS = ("prod", "dev", "staging", "research")


def x_columns(source: str) -> list[str]:
    """Return the provider-specific ``x_`` column names written when ``extra_columns=True``."""
    return list(_source(source).x_columns)


def _source(source: str) -> _Source:
    try:
        return _SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}") from None


def _sub_accounts(source: str) -> list[tuple[str, str]]:
    """(SubAccountId, SubAccountName) per project."""
    out = []
    for p in PROJECTS:
        dept = _DEPARTMENTS[p.department].lower()
        if source == "aws":
            acct = 210000000000 + (p.department * 104729 + 7) * 1000003 % 10**11
            out.append((str(acct), f"research-{dept}"))
        elif source == "azure":
            sub = uuid.uuid5(uuid.NAMESPACE_URL, f"ocb-sample/azure/subscription/{dept}")
            out.append((str(sub), f"sub-research-{dept}"))
        elif source == "gcp":
            out.append((f"rc-{p.project_id}", p.project_id))
        else:
            out.append((p.project_id, f"{p.project_id} ({p.pi_email.split('@')[0]})"))
    return out
