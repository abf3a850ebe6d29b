"""OMat24 source families and how to read them from a structure id or a folder name.

OMat24 labels every structure with the recipe that produced it (its *family*). The
family appears inside the ``sid`` string (``agm001012784_ABC_150_spg44_0_0_rattled-300-
subsampled_62rpeg``) and as the name of the subset folder of the released ``.aselmdb``
data. Names overlap (``rattled-300`` is a prefix of ``rattled-300-subsampled``), so the
longest name that matches as a whole token wins.

>>> family_from_sid("agm001012784_ABC_150_spg44_0_0_rattled-300-subsampled_62rpeg")
'rattled-300-subsampled'
>>> family_from_sid("agm002153873_aimd-from-PBE-3000-npt_17")
'aimd-from-PBE-3000-npt'
>>> family_from_sid("mp-149")
'unknown'
>>> family_from_path("/data/omat24/train/rattled-relax/data.0003.aselmdb")
'rattled-relax'
"""

from __future__ import annotations

import re
from pathlib import PurePath

__all__ = [
    "HELDOUT_FAMILIES",
    "OMAT24_FAMILIES",
    "SYNTHETIC_FAMILIES",
    "UNKNOWN_FAMILY",
    "family_from_path",
    "family_from_sid",
    "family_group",
]

#: The 11 OMat24 source families, in the order of the OMat24 paper's table.
OMAT24_FAMILIES: tuple[str, ...] = (
    "rattled-1000",
    "rattled-1000-subsampled",
    "rattled-500",
    "rattled-500-subsampled",
    "rattled-300",
    "rattled-300-subsampled",
    "aimd-from-PBE-1000-npt",
    "aimd-from-PBE-1000-nvt",
    "aimd-from-PBE-3000-npt",
    "aimd-from-PBE-3000-nvt",
    "rattled-relax",
)

#: The 8 families our synthetic generator mimics (the ``-subsampled`` variants of
#: OMat24 are subsamples of the same recipes, so they add nothing here).
SYNTHETIC_FAMILIES: tuple[str, ...] = (
    "rattled-300",
    "rattled-500",
    "rattled-1000",
    "rattled-relax",
    "aimd-from-PBE-1000-nvt",
    "aimd-from-PBE-1000-npt",
    "aimd-from-PBE-3000-nvt",
    "aimd-from-PBE-3000-npt",
)

#: Families held out of train/val/test by default (the hot-MD out-of-distribution test).
HELDOUT_FAMILIES: tuple[str, ...] = ("aimd-from-PBE-3000-nvt", "aimd-from-PBE-3000-npt")

#: The family of anything that names none of the above.
UNKNOWN_FAMILY = "unknown"

# Longest first so that "rattled-300-subsampled" beats "rattled-300". A name matches only
# as a whole token: not preceded or followed by a letter, digit or hyphen.
_FAMILY_RE = re.compile(
    r"(?<![A-Za-z0-9-])("
    + "|".join(re.escape(f) for f in sorted(OMAT24_FAMILIES, key=len, reverse=True))
    + r")(?![A-Za-z0-9-])"
)


def family_from_sid(sid: object) -> str:
    """The OMat24 family named inside ``sid``, or ``"unknown"`` (never raises).

    >>> family_from_sid("x_rattled-1000_y"), family_from_sid("x_rattled-10000_y")
    ('rattled-1000', 'unknown')
    >>> family_from_sid(None)
    'unknown'
    """
    if not isinstance(sid, str) or not sid:
        return UNKNOWN_FAMILY
    match = _FAMILY_RE.search(sid)
    return match.group(1) if match else UNKNOWN_FAMILY


def family_from_path(path: str | PurePath) -> str:
    """The family named by the nearest folder (or file stem) of ``path``, else ``"unknown"``.

    >>> family_from_path("omat/val/aimd-from-PBE-1000-nvt")
    'aimd-from-PBE-1000-nvt'
    >>> family_from_path("omat/val/misc/data.aselmdb")
    'unknown'
    """
    for part in reversed(PurePath(path).parts):
        family = family_from_sid(part)
        if family != UNKNOWN_FAMILY:
            return family
    return UNKNOWN_FAMILY


def family_group(family: str) -> str:
    """Coarse group of a family: ``rattled``, ``rattled-relax``, ``aimd-1000``, ``aimd-3000``.

    >>> [family_group(f) for f in ("rattled-500-subsampled", "rattled-relax",
    ...                            "aimd-from-PBE-3000-nvt", "foo")]
    ['rattled', 'rattled-relax', 'aimd-3000', 'unknown']
    """
    if family == "rattled-relax":
        return "rattled-relax"
    if family.startswith("rattled-"):
        return "rattled"
    if family.startswith("aimd-from-PBE-1000"):
        return "aimd-1000"
    if family.startswith("aimd-from-PBE-3000"):
        return "aimd-3000"
    return UNKNOWN_FAMILY
