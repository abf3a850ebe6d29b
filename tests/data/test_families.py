"""Family parsing on real-looking OMat24 sids and subset folder names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pamm.data.families import (
    OMAT24_FAMILIES,
    SYNTHETIC_FAMILIES,
    UNKNOWN_FAMILY,
    family_from_path,
    family_from_sid,
    family_group,
)


@pytest.mark.parametrize(
    ("sid", "family"),
    [
        ("agm001012784_ABC_150_spg44_0_0_rattled-300-subsampled_62rpeg", "rattled-300-subsampled"),
        ("agm001012784_ABC_150_spg44_0_0_rattled-300_62rpeg", "rattled-300"),
        ("agm000127458_AB2_12_spg225_1_3_rattled-1000-subsampled_9kq2", "rattled-1000-subsampled"),
        ("agm003118741_A_4_spg229_0_0_rattled-1000_0abc", "rattled-1000"),
        ("agm002153873_AB_8_spg221_2_0_rattled-500_x1", "rattled-500"),
        ("agm002153873_AB_8_spg221_2_0_rattled-500-subsampled_x1", "rattled-500-subsampled"),
        ("agm005415715_ABC2_16_spg62_0_1_aimd-from-PBE-1000-npt_17", "aimd-from-PBE-1000-npt"),
        ("agm005415715_ABC2_16_spg62_0_1_aimd-from-PBE-1000-nvt_17", "aimd-from-PBE-1000-nvt"),
        ("agm005415715_ABC2_16_spg62_0_1_aimd-from-PBE-3000-npt_3", "aimd-from-PBE-3000-npt"),
        ("agm005415715_ABC2_16_spg62_0_1_aimd-from-PBE-3000-nvt_3", "aimd-from-PBE-3000-nvt"),
        ("agm000001_A2B_12_spg12_0_0_rattled-relax_55", "rattled-relax"),
        ("pamm00012_Cu4_rattled-relax_3", "rattled-relax"),
        # near misses must not match a family
        ("agm0001_rattled-3000_1", UNKNOWN_FAMILY),
        ("agm0001_rattled-300x_1", UNKNOWN_FAMILY),
        ("agm0001_aimd-from-PBE-1000_1", UNKNOWN_FAMILY),
        ("mp-149", UNKNOWN_FAMILY),
        ("", UNKNOWN_FAMILY),
    ],
)
def test_family_from_sid(sid: str, family: str) -> None:
    assert family_from_sid(sid) == family


def test_every_family_name_parses_to_itself() -> None:
    assert len(OMAT24_FAMILIES) == 11
    assert set(SYNTHETIC_FAMILIES) <= set(OMAT24_FAMILIES)
    for family in OMAT24_FAMILIES:
        assert family_from_sid(f"agm1_AB_2_spg1_0_0_{family}_7") == family
        assert family_from_path(f"/omat/train/{family}/data.0000.aselmdb") == family


@given(st.one_of(st.text(max_size=80), st.integers(), st.none(), st.binary(max_size=20)))
def test_arbitrary_input_never_crashes(sid) -> None:
    assert family_from_sid(sid) in (*OMAT24_FAMILIES, UNKNOWN_FAMILY)


def test_path_prefers_nearest_folder_and_groups() -> None:
    assert family_from_path("x/rattled-500/aimd-from-PBE-3000-nvt") == "aimd-from-PBE-3000-nvt"
    assert family_from_path("omat24/val/") == UNKNOWN_FAMILY
    assert {family_group(f) for f in OMAT24_FAMILIES} == {
        "rattled",
        "rattled-relax",
        "aimd-1000",
        "aimd-3000",
    }
