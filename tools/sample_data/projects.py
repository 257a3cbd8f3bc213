"""The fictional organisation every source bills: PIs, projects, funds, grants (seed independent)."""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------
# Fictional organisation: 20 PIs (historical scientists), 40 projects, funds, grants
# --------------------------------------------------------------------------------------------------

_PIS: tuple[tuple[str, str, str], ...] = (
    ("Ada", "Lovelace", "example.edu"),
    ("Alan", "Turing", "example.edu"),
    ("Grace", "Hopper", "example.edu"),
    ("Marie", "Curie", "example.edu"),
    ("Rosalind", "Franklin", "example.edu"),
    ("Charles", "Darwin", "example.edu"),
    ("Emmy", "Noether", "example.edu"),
    ("Niels", "Bohr", "example.edu"),
    ("Lise", "Meitner", "example.edu"),
    ("Richard", "Feynman", "example.edu"),
    ("Barbara", "McClintock", "example.edu"),
    ("Carl", "Gauss", "example.edu"),
    ("Edwin", "Hubble", "example.edu"),
    ("Henrietta", "Leavitt", "example.edu"),
    ("Dorothy", "Hodgkin", "example.edu"),
    ("Gregor", "Mendel", "example.edu"),
    ("Katherine", "Johnson", "example.edu"),
    ("Srinivasa", "Ramanujan", "example.org"),
    ("Chien-Shiung", "Wu", "example.edu"),
    ("Alexander", "Fleming", "example.org"),
)

# (project_id, ORGN, index into _PIS)
_PROJECTS: tuple[tuple[str, str, int], ...] = (
    ("chem-md-sim", "CHEM", 3), ("chem-dft-screen", "CHEM", 3), ("chem-radio-iso", "CHEM", 3),
    ("chem-catalysis", "CHEM", 14), ("chem-crystallography", "CHEM", 14),
    ("astro-survey", "ASTRO", 12), ("astro-cmb-lens", "ASTRO", 12), ("astro-transients", "ASTRO", 13),
    ("astro-cepheids", "ASTRO", 13),
    ("genomics-wgs", "BIOL", 4), ("genomics-rnaseq", "BIOL", 4), ("bio-dna-structure", "BIOL", 4),
    ("bio-cryoem", "BIOL", 14), ("bio-evo-phylo", "BIOL", 5), ("bio-microbiome", "BIOL", 5),
    ("bio-pea-genetics", "BIOL", 15), ("bio-maize-epigen", "BIOL", 10), ("bio-transposons", "BIOL", 10),
    ("phys-lattice-qcd", "PHYS", 9), ("phys-qed-precision", "PHYS", 9), ("phys-nanotech", "PHYS", 9),
    ("phys-plasma-sim", "PHYS", 8), ("phys-nuclear-fission", "PHYS", 8), ("phys-cond-matter", "PHYS", 7),
    ("phys-quantum-opt", "PHYS", 7), ("phys-beta-decay", "PHYS", 18), ("phys-neutrino", "PHYS", 18),
    ("cs-llm-finetune", "CSCI", 1), ("cs-crypto-bench", "CSCI", 1), ("cs-morphogenesis", "CSCI", 1),
    ("cs-compilers", "CSCI", 2), ("cs-graph-mining", "CSCI", 2), ("cs-robotics-sim", "CSCI", 0),
    ("math-numtheory", "MATH", 17), ("math-diffgeom", "MATH", 11), ("math-stats-bayes", "MATH", 11),
    ("math-algebra-sym", "MATH", 6), ("geo-orbit-mech", "GEOS", 16), ("geo-climate-ens", "GEOS", 16),
    ("med-antibiotic-res", "MEDI", 19),
)  # fmt: skip

_COST_CENTERS = {
    "CHEM": "CC-4410", "ASTRO": "CC-4420", "BIOL": "CC-4430", "PHYS": "CC-4440",
    "CSCI": "CC-4450", "MATH": "CC-4460", "GEOS": "CC-4470", "MEDI": "CC-4480",
}  # fmt: skip
_AGENCIES = {
    "CHEM": "NSF", "ASTRO": "NASA", "BIOL": "NIH", "PHYS": "DOE",
    "CSCI": "NSF", "MATH": "NSF", "GEOS": "NASA", "MEDI": "NIH",
}  # fmt: skip
_DEPARTMENTS = tuple(_COST_CENTERS)
_SPLIT_FUND_PROJECTS = frozenset({0, 9, 18, 27, 37})  # these projects bill two funds
_ACCOUNT_CODES = ("54100", "54110", "54120", "54200", "54310")


@dataclass(frozen=True)
class _Project:
    project_id: str
    orgn: str
    pi_email: str
    pi_user: str
    fund: str
    fund2: str | None
    cost_center: str
    grant_number: str | None
    request_id: str
    account_code: str
    department: int


def _pi_email(first: str, last: str, domain: str) -> str:
    return f"{first.lower()}.{last.lower()}@{domain}"


def _projects() -> tuple[_Project, ...]:
    """The fixed, fictional project table shared by all sources (seed independent)."""
    out = []
    for idx, (pid, orgn, pi) in enumerate(_PROJECTS):
        first, last, domain = _PIS[pi]
        fund = f"{100000 + (idx * 37813 + 12345) % 900000:06d}"
        fund2 = f"{100000 + (idx * 52711 + 67890) % 900000:06d}" if idx in _SPLIT_FUND_PROJECTS else None
        grant = None if idx % 7 == 3 else f"{_AGENCIES[orgn]}-{2400000 + (idx * 7919 + 1117) % 100000:07d}"
        out.append(
            _Project(
                project_id=pid,
                orgn=orgn,
                pi_email=_pi_email(first, last, domain),
                pi_user=(first[0] + last).lower().replace("-", ""),
                fund=fund,
                fund2=fund2,
                cost_center=_COST_CENTERS[orgn],
                grant_number=grant,
                request_id=f"RITM{1000000 + idx * 2711:07d}",
                account_code=_ACCOUNT_CODES[idx % len(_ACCOUNT_CODES)],
                department=_DEPARTMENTS.index(orgn),
            )
        )
    return tuple(out)


PROJECTS = _projects()
