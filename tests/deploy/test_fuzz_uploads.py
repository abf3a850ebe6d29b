"""Fuzzing ``parse_upload``: arbitrary bytes, near-valid POSCARs, mangled real CIFs.

The contract under test: every input either gives a periodic ``Atoms`` that passed
all checks, or an ``UploadError`` with a non-empty message; nothing else escapes.
Input counts (7,409 here, 3,700 more in test_fuzz_spec.py) are asserted, not assumed.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from ase import Atoms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.uploads import UploadError, parse_upload

from .samples import bundled_structures, cif_bytes, poscar_bytes

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MAX_ATOMS = 60


def _check_one(data: bytes, filename: str = "fuzz.cif") -> str:
    """Run one input; return "ok" or "refused", failing on any other outcome."""
    try:
        atoms = parse_upload(filename, data, max_atoms=MAX_ATOMS)
    except UploadError as err:
        message = str(err)
        assert message.strip() and "Traceback" not in message
        return "refused"
    assert isinstance(atoms, Atoms)
    assert atoms.pbc.all() and 0 < len(atoms) <= MAX_ATOMS
    assert atoms.numbers.min() >= 1 and atoms.numbers.max() <= 94
    assert np.isfinite(atoms.positions).all()
    return "ok"


class Counter:
    """Counts the inputs one hypothesis test really ran."""

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def test_fuzz_arbitrary_bytes() -> None:
    seen = Counter()
    prefixes = st.sampled_from(
        [b"", b"data_x\n_cell_length_a ", b"x\n1.0\n", b'2\nLattice="', b"x\n1\n1 0 0\n"]
    )
    bodies = st.one_of(st.binary(max_size=512), st.text(max_size=256).map(str.encode))

    @settings(FUZZ, max_examples=2000)
    @given(prefix=prefixes, body=bodies)
    def run(prefix: bytes, body: bytes) -> None:
        seen.add(_check_one(prefix + body))

    run()
    assert seen.total >= 1900, seen.outcomes


_WILD_NUMBERS = ["nan", "inf", "-inf", "1e308", "-0", "1.0d0", "", "x", "1/2", "0", "-3", "1e-9"]
_SYMBOLS = ["H", "Si", "O", "Na", "Cl", "Fe", "Pu", "Am", "Og", "X", "Xx", "1", ""]


def random_poscar(rng: random.Random) -> bytes:
    """A POSCAR that is valid except for a few randomly corrupted fields."""
    wild = rng.random()  # chance that any one field is replaced by a wild value

    def num(good: float) -> str:
        return rng.choice(_WILD_NUMBERS) if rng.random() < wild / 4 else f"{good:.6g}"

    n_species = rng.randint(1, 3) if rng.random() > wild / 4 else rng.randint(0, 5)
    symbols = [
        rng.choice(_SYMBOLS[:6]) if rng.random() > wild / 3 else rng.choice(_SYMBOLS)
        for _ in range(n_species)
    ]
    counts = [rng.randint(1, 6) for _ in range(n_species)]
    n_coords = sum(counts) if rng.random() > wild / 4 else rng.randint(0, 20)
    if rng.random() < wild / 4:
        counts = [rng.randint(-2, 80) for _ in counts]
    size = rng.uniform(0.5, 12.0)
    lines = ["fuzz", num(1.0)]
    lines += [
        " ".join(num(size if i == j else rng.uniform(-1, 1)) for j in range(3)) for i in range(3)
    ]
    lines += [" ".join(symbols), " ".join(map(str, counts))]
    lines += ["Direct" if rng.random() > wild / 4 else rng.choice(["Cartesian", "", "K", "S"])]
    lines += [" ".join(num(rng.random()) for _ in range(3)) for _ in range(n_coords)]
    if rng.random() < wild / 4:
        del lines[rng.randrange(len(lines))]
    return "\n".join(lines).encode()


def test_fuzz_near_valid_poscars() -> None:
    rng = random.Random(11)
    outcomes = Counter()
    for _ in range(4000):
        outcomes.add(_check_one(random_poscar(rng), "POSCAR"))
    assert outcomes.total == 4000
    assert outcomes.outcomes["ok"] > 400 and outcomes.outcomes["refused"] > 400, outcomes.outcomes


def test_fuzz_near_valid_poscars_with_shrinking() -> None:
    """The same generator under hypothesis, so a failure shrinks to a small seed."""
    seen = Counter()

    @settings(FUZZ, max_examples=300)
    @given(seed=st.integers(0, 2**32 - 1))
    def run(seed: int) -> None:
        seen.add(_check_one(random_poscar(random.Random(seed)), "POSCAR"))

    run()
    assert seen.total >= 290, seen.outcomes


def _mangle(data: bytes, rng: random.Random) -> bytes:
    """One random corruption of a real file: truncate, flip bytes, insert junk, shuffle."""
    kind = rng.randrange(6)
    cut = rng.randrange(1, len(data))
    if kind == 0:  # truncated upload
        return data[:cut]
    if kind == 1:  # bit rot
        out = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == 2:  # junk inserted
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        return data[:cut] + junk + data[cut:]
    lines = data.split(b"\n")
    if kind == 3:  # lines dropped
        keep = [line for line in lines if rng.random() > 0.15]
        return b"\n".join(keep)
    if kind == 4:  # lines swapped
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    # numbers replaced by extreme values
    words = data.split(b" ")
    for _ in range(rng.randint(1, 6)):
        k = rng.randrange(len(words))
        words[k] = rng.choice([b"nan", b"inf", b"-1e300", b"0", b"1e-300", b"?", b"."])
    return b" ".join(words)


def mangled_corpus(per_file: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """Mangled CIFs and POSCARs made from every structure pymatgen ships."""
    rng = random.Random(seed)
    corpus = []
    for name, structure in bundled_structures().items():
        sources = [("cif", cif_bytes(name))]
        if structure.is_ordered:
            sources.append(("poscar", poscar_bytes(name)))
        for fmt, data in sources:
            corpus += [(f"{name}.{fmt}", _mangle(data, rng)) for _ in range(per_file)]
    return corpus


def test_fuzz_mangled_real_files() -> None:
    corpus = mangled_corpus(per_file=25)
    outcomes = Counter()
    for filename, data in corpus:
        outcomes.add(_check_one(data, filename))
    assert outcomes.total == len(corpus) >= 1000
    # both outcomes happen: mild damage still parses, heavy damage is refused
    assert outcomes.outcomes["ok"] > 50 and outcomes.outcomes["refused"] > 50, outcomes.outcomes


@pytest.mark.parametrize("name", ["Si", "LiFePO4"])
def test_truncating_a_cif_at_every_line_never_escapes(name: str) -> None:
    lines = cif_bytes(name).split(b"\n")
    for k in range(len(lines)):
        _check_one(b"\n".join(lines[:k]), f"{name}.cif")
