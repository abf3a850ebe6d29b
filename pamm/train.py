"""Training through fairchem's own CLI: the shipped hydra configs, their overrides, the run.

Training is ``fairchem -c pamm/configs/<variant>.yaml key=value ...`` (see
docs/TRAINING.md); this module only builds that call and finds what it wrote:

* :func:`config_path` — the packaged YAML of a variant (``gate`` -> ``pamm_gate.yaml``);
* :func:`fit_references` — per-element energy references (least squares on the
  composition) and the force RMS used as ``normalizer_rmsd``, from the training data;
* :func:`training_overrides` — the ``key=value`` list for data, steps, seed, device, EMA;
* :func:`fairchem_command` / :func:`run_fairchem` — the real ``fairchem`` entry point;
* :func:`find_checkpoint` — ``RUN_DIR/<timestamp_id>/checkpoints/final/inference_ckpt.pt``;
* :func:`load_trained_checkpoint` — read it with ``weights_only=True``.

>>> config_path("gate").name
'pamm_gate.yaml'
>>> ema_decay_for_steps(5), ema_decay_for_steps(1000), ema_decay_for_steps(10**6)
(0.0, 0.99, 0.999)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CONFIG_DIR",
    "VARIANTS",
    "References",
    "check_split_dir",
    "config_path",
    "ema_decay_for_steps",
    "fairchem_command",
    "find_checkpoint",
    "fit_references",
    "load_trained_checkpoint",
    "run_fairchem",
    "trained_checkpoint_globals",
    "training_overrides",
]

#: the packaged hydra configs (``fairchem -c`` reads them in place)
CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: ``pamm train --variant`` name -> config file in ``CONFIG_DIR``
VARIANTS: dict[str, str] = {
    "baseline": "baseline.yaml",
    "gate": "pamm_gate.yaml",
    "affine": "pamm_affine.yaml",
    "gate_hard": "pamm_gate_hard.yaml",
    "affine_hard": "pamm_affine_hard.yaml",
    "pair_only": "pair_only.yaml",
    "triplet_only": "triplet_only.yaml",
    "random_bucket": "random_bucket.yaml",
    "mlp": "mlp.yaml",
}

#: length of the ``elem_refs`` list (= the backbone's ``max_num_elements``)
MAX_NUM_ELEMENTS = 100

#: where fairchem's TrainCheckpointCallback leaves the last inference checkpoint
FINAL_CHECKPOINT = Path("checkpoints") / "final" / "inference_ckpt.pt"


def config_path(variant: str) -> Path:
    """The YAML of a variant (a ``VARIANTS`` key, or a config file name such as ``mlp.yaml``)."""
    name = VARIANTS.get(variant, variant)
    path = CONFIG_DIR / name
    if name not in VARIANTS.values() or not path.is_file():
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return path


def ema_decay_for_steps(steps: int) -> float:
    """EMA decay for a run of ``steps``: ``1 - 10/steps`` clipped to [0, 0.999].

    Checkpoints are evaluated with the EMA weights, whose memory is ~1/(1-decay) steps;
    0.999 would leave a short run close to its initial weights.
    """
    if steps <= 0:
        raise ValueError(f"steps must be > 0, got {steps}")
    return round(min(0.999, max(0.0, 1.0 - 10.0 / steps)), 6)


def check_split_dir(path: str | Path) -> Path:
    """Return ``path`` if it holds ``*.aselmdb`` shards and ``metadata.npz``; else raise."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"dataset split folder {path} does not exist")
    if not any(path.glob("*.aselmdb")):
        raise FileNotFoundError(f"{path} holds no *.aselmdb shards")
    if not (path / "metadata.npz").is_file():
        raise FileNotFoundError(
            f"{path} has no metadata.npz (natoms per structure, needed by fairchem's samplers); "
            "write the folder with pamm.data.writer.write_aselmdb"
        )
    return path


@dataclass(frozen=True)
class References:
    """Energy references per element (index = Z) and the normalizer RMS of the targets."""

    elem_refs: tuple[float, ...]
    normalizer_rmsd: float
    n_structures: int
    stress_rmsd: float = 1.0

    @property
    def stress_coefficient(self) -> float:
        """Stress loss weight: a stress error of one ``stress_rmsd`` weighs like a force error
        of one ``normalizer_rmsd``."""
        return self.normalizer_rmsd / self.stress_rmsd

    def to_overrides(self) -> list[str]:
        """``fairchem -c`` overrides: ``elem_refs``, ``normalizer_rmsd``, ``stress_coefficient``.

        Stress shares the energy's normaliser (it is a derivative of the normalised energy);
        its loss weight ``normalizer_rmsd / stress_rmsd`` measures its error in stress RMS.
        """
        refs = ",".join(f"{x:.8g}" for x in self.elem_refs)
        return [
            f"elem_refs=[{refs}]",
            f"normalizer_rmsd={self.normalizer_rmsd:.8g}",
            f"stress_coefficient={self.stress_coefficient:.8g}",
        ]


def fit_references(
    train_dir: str | Path,
    *,
    max_structures: int = 20000,
    max_num_elements: int = MAX_NUM_ELEMENTS,
) -> References:
    """Fit ``E ≈ Σ_i ref[Z_i]`` by least squares; the force RMS is ``normalizer_rmsd``, the
    RMS of the stress components (structures that carry a stress) ``stress_rmsd``.

    Reads at most ``max_structures`` evenly spaced structures of ``train_dir`` through
    fairchem's ``AseDBDataset``. Elements absent from the data get reference 0 (in
    charge-balanced data the references are not unique: lstsq's minimum-norm solution,
    read no meaning into single values); an RMS falls back to 1.0 when its targets vanish.
    """
    from fairchem.core.datasets import AseDBDataset
    from tqdm import tqdm

    train_dir = check_split_dir(train_dir)
    dataset = AseDBDataset({"src": str(train_dir / "*.aselmdb")})
    n = len(dataset)
    if n == 0:
        raise ValueError(f"{train_dir} holds no structures")
    indices = np.unique(np.linspace(0, n - 1, min(n, max_structures)).astype(int))
    counts = np.zeros((len(indices), max_num_elements))  # [S, Zmax]
    energies = np.zeros(len(indices))  # [S]
    sq_sum, n_components = 0.0, 0
    stress_sq, n_stress = 0.0, 0
    progress = tqdm(indices, desc="element references", disable=len(indices) < 2000)
    for row, idx in enumerate(progress):
        atoms = dataset.get_atoms(int(idx))
        z = atoms.get_atomic_numbers()
        if z.max() >= max_num_elements:
            raise ValueError(f"structure {idx}: Z={z.max()} >= max_num_elements={max_num_elements}")
        np.add.at(counts[row], z, 1.0)
        energies[row] = atoms.get_potential_energy()
        forces = atoms.get_forces()  # [N, 3]
        sq_sum += float(np.square(forces).sum())
        n_components += forces.size
        try:
            stress = atoms.get_stress(voigt=False)  # [3, 3] eV/Å^3
        except Exception:  # no stress stored for this structure
            stress = None
        if stress is not None:
            stress_sq += float(np.square(stress).sum())
            n_stress += stress.size
    present = counts.sum(axis=0) > 0
    refs = np.zeros(max_num_elements)
    refs[present] = np.linalg.lstsq(counts[:, present], energies, rcond=None)[0]
    rmsd = float(np.sqrt(sq_sum / max(n_components, 1)))
    stress_rmsd = float(np.sqrt(stress_sq / max(n_stress, 1)))
    return References(
        elem_refs=tuple(float(x) for x in refs),
        normalizer_rmsd=rmsd if rmsd > 1e-8 else 1.0,
        n_structures=len(indices),
        stress_rmsd=stress_rmsd if stress_rmsd > 1e-10 else 1.0,
    )


def training_overrides(
    *,
    data_dir: str | Path,
    run_dir: str | Path,
    steps: int,
    seed: int = 0,
    device: str = "cpu",
    timestamp_id: str | None = None,
    val_dir: str | Path | None = None,
    references: References | None = None,
) -> list[str]:
    """The ``key=value`` overrides of one run (data, run dir, steps, seed, device, EMA)."""
    if device.lower() not in {"cpu", "cuda"}:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    data_dir = Path(data_dir).resolve()
    overrides = [
        f"dataset_dir={data_dir}",
        f"job.run_dir={Path(run_dir).resolve()}",
        f"job.device_type={device.upper()}",
        f"job.seed={int(seed)}",
        f"max_steps={int(steps)}",
        f"ema_decay={ema_decay_for_steps(steps)}",
    ]
    if val_dir is not None:
        overrides.append(f"data.val_dir={Path(val_dir).resolve()}")
    if timestamp_id is not None:
        overrides.append(f"++job.timestamp_id={timestamp_id}")  # not in the YAML
    if references is not None:
        overrides += references.to_overrides()
    return overrides


def fairchem_command(config: str | Path, overrides: Sequence[str] = ()) -> list[str]:
    """``[fairchem, -c, config, *overrides]`` with the ``fairchem`` beside this Python."""
    exe = Path(sys.executable).parent / "fairchem"
    found = str(exe) if exe.is_file() else shutil.which("fairchem")
    if found:
        head = [found]
    else:  # same entry point, without the console script
        head = [sys.executable, "-c", "from fairchem.core._cli import main; main()"]
    return [*head, "-c", str(config), *overrides]


def run_fairchem(
    config: str | Path,
    overrides: Sequence[str] = (),
    *,
    capture: bool = False,
    log: str | Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``fairchem -c config overrides...`` in a subprocess (output streamed unless captured).

    ``log``: write the child's stdout and stderr to this file instead (folder created).

    The folder holding this ``pamm`` package is put first on ``PYTHONPATH`` so hydra can
    import ``pamm.backbone`` in the child even when the project is not pip-installed.
    """
    cmd = fairchem_command(config, overrides)
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if log is None:
        return subprocess.run(cmd, check=False, capture_output=capture, text=True, env=env)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        return subprocess.run(cmd, check=False, stdout=fh, stderr=subprocess.STDOUT, env=env)


def find_checkpoint(run_dir: str | Path, timestamp_id: str | None = None) -> Path:
    """The final inference checkpoint of a run (the newest one if ``timestamp_id`` is None)."""
    run_dir = Path(run_dir)
    if timestamp_id is not None:
        path = run_dir / timestamp_id / FINAL_CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
        return path
    found = sorted(run_dir.glob(f"*/{FINAL_CHECKPOINT}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no */{FINAL_CHECKPOINT} under {run_dir}")
    return found[-1]


def trained_checkpoint_globals() -> list:
    """Classes a ``fairchem -c`` inference checkpoint pickles besides tensors.

    Kept for callers of this module; the allow-list lives in
    :func:`pamm.checkpoint.checkpoint_safe_globals`.
    """
    from pamm.checkpoint import checkpoint_safe_globals

    return checkpoint_safe_globals()


def load_trained_checkpoint(path: str | Path):
    """The ``MLIPInferenceCheckpoint`` at ``path``, read with ``weights_only=True``."""
    from pamm.checkpoint import load_checkpoint

    return load_checkpoint(path)
