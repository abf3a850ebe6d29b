"""Write labelled structures as fairchem-readable ``.aselmdb`` shards plus ``metadata.npz``.

A written folder is what fairchem's ``AseDBDataset`` and its samplers expect::

    out_dir/data.0000.aselmdb, data.0001.aselmdb, ...   # ASE LMDB databases
    out_dir/metadata.npz                                 # natoms [N] int, in read order

Each row stores the structure, a ``SinglePointCalculator`` with energy / forces /
stress, and ``data={"sid": ..., "family": ..., ...}``: ``AseDBDataset`` copies
``row.data`` into ``atoms.info``, so ``atoms.info["family"]`` survives the round trip.
Shards are written in a hidden temporary folder and moved in with ``os.replace``;
``metadata.npz`` is moved last, so a folder with ``metadata.npz`` is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from pamm.data.families import UNKNOWN_FAMILY, family_from_sid
from pamm.plumbing import atomic_write_npz

__all__ = ["SHARD_PATTERN", "atoms_row_data", "write_aselmdb", "write_metadata"]

#: Shard file names, OMat24-style: ``data.0000.aselmdb``.
SHARD_PATTERN = "data.{:04d}.aselmdb"

_INFO_TYPES = (str, int, float, bool, np.integer, np.floating, np.ndarray)


def atoms_row_data(atoms: Atoms, index: int) -> dict:
    """The ``data`` dict stored for one structure: its JSON-able ``info`` plus sid/family.

    >>> from ase.build import bulk
    >>> a = bulk("Cu"); a.info.update(sid="Cu_rattled-300_0", temperature_K=300.0)
    >>> d = atoms_row_data(a, 0); d["family"], d["sid"], d["temperature_K"]
    ('rattled-300', 'Cu_rattled-300_0', 300.0)
    """
    data = {k: v for k, v in atoms.info.items() if isinstance(v, _INFO_TYPES)}
    sid = data.get("sid")
    if not isinstance(sid, str) or not sid:
        raise ValueError(
            f"structure {index}: atoms.info['sid'] must be a non-empty str, got {sid!r}"
        )
    family = data.get("family")
    if family is None:
        family = family_from_sid(sid)
    if not isinstance(family, str) or not family:
        raise ValueError(f"structure {index} ({sid}): atoms.info['family'] must be a str")
    data["family"] = family or UNKNOWN_FAMILY
    return data


def _check_labels(atoms: Atoms, index: int) -> None:
    """Raise a clear error unless ``atoms`` carries finite energy and forces of the right shape."""
    calc = atoms.calc
    sid = atoms.info.get("sid", index)
    if calc is None or "energy" not in getattr(calc, "results", {}):
        raise ValueError(f"structure {index} ({sid}): no energy; attach a SinglePointCalculator")
    forces = calc.results.get("forces")
    if forces is None or np.shape(forces) != (len(atoms), 3):
        raise ValueError(f"structure {index} ({sid}): forces must have shape ({len(atoms)}, 3)")
    stress = calc.results.get("stress")
    if stress is not None and np.shape(stress) not in {(6,), (3, 3)}:
        raise ValueError(f"structure {index} ({sid}): stress must be Voigt (6,) or (3, 3)")
    values = [np.ravel(calc.results["energy"]), np.ravel(forces)]
    if stress is not None:
        values.append(np.ravel(stress))
    if not all(np.isfinite(v).all() for v in values):
        raise ValueError(f"structure {index} ({sid}): non-finite energy/forces/stress")


def write_metadata(natoms: Sequence[int], out_dir: str | Path) -> Path:
    """Atomically write ``out_dir/metadata.npz`` with ``natoms`` (int64) for fairchem's samplers."""
    final = Path(out_dir) / "metadata.npz"
    atomic_write_npz(final, natoms=np.asarray(natoms, dtype=np.int64))
    return final


def write_aselmdb(
    atoms_list: Iterable[Atoms],
    out_dir: str | Path,
    *,
    shard_size: int = 1000,
    overwrite: bool = False,
) -> list[Path]:
    """Write labelled structures to ``out_dir`` as ``.aselmdb`` shards plus ``metadata.npz``.

    Args:
        atoms_list: structures with a calculator holding ``energy``, ``forces`` (and
            optionally ``stress``), and ``atoms.info["sid"]`` (str). ``info["family"]``
            defaults to the family parsed from the sid.
        out_dir: folder to write (created). It must not already hold ``.aselmdb`` shards
            or ``metadata.npz`` unless ``overwrite=True``, which replaces them.
        shard_size: structures per shard (> 0).

    Returns:
        the shard paths, in the order ``AseDBDataset`` reads them.

    >>> import tempfile
    >>> from ase.build import bulk
    >>> from ase.calculators.singlepoint import SinglePointCalculator
    >>> a = bulk("Cu", cubic=True); a.info.update(sid="Cu_0", family="rattled-300")
    >>> a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((4, 3)), stress=np.zeros(6))
    >>> d = tempfile.mkdtemp()
    >>> [p.name for p in write_aselmdb([a, a], d, shard_size=1)]
    ['data.0000.aselmdb', 'data.0001.aselmdb']
    >>> np.load(f"{d}/metadata.npz")["natoms"].tolist()
    [4, 4]
    """
    import ase.db  # the lmdb backend comes from the ase-db-backends package

    if not isinstance(shard_size, int) or shard_size <= 0:
        raise ValueError(f"shard_size must be a positive int, got {shard_size!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(out_dir.glob("*.aselmdb")) + sorted(out_dir.glob("metadata.npz"))
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} already holds {existing[0].name}; pass overwrite=True")

    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir, prefix=".writing-"))
    try:
        natoms: list[int] = []
        names: list[str] = []
        db = None
        for index, atoms in enumerate(atoms_list):
            if not isinstance(atoms, Atoms):
                raise TypeError(
                    f"structure {index}: expected ase.Atoms, got {type(atoms).__name__}"
                )
            _check_labels(atoms, index)
            data = atoms_row_data(atoms, index)
            if index % shard_size == 0:
                if db is not None:
                    db.close()
                names.append(SHARD_PATTERN.format(len(names)))
                db = ase.db.connect(str(tmp_dir / names[-1]), type="aselmdb", use_lock_file=False)
            db.write(atoms, data=data)
            natoms.append(len(atoms))
        if db is not None:
            db.close()
        if not natoms:
            raise ValueError("atoms_list is empty: nothing to write")
        for stale in existing:
            stale.unlink()
        for name in names:
            os.replace(tmp_dir / name, out_dir / name)
        write_metadata(natoms, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return [out_dir / name for name in names]
