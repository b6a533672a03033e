"""The project's `paper` training step beside a re-statement of the original code's step.

    nice -n 19 python benchmarks/compare_original.py                       # batch 128, 2 + 1 steps each
    nice -n 19 python benchmarks/compare_original.py --batch-size 16 --steps 2
    python benchmarks/compare_original.py --device cuda --bf16 --compile --steps 20 --warmup 5
    python benchmarks/compare_original.py --side project --set inr_chunk_pixels=500 --set-optimisation fused_adam=true
    python benchmarks/compare_original.py --smoke                             # seconds: does it still run?

Project side: ``IRLINR`` built from ``training.configurations.paper.model`` of
conf/base/parameters_training.yml (``--set key=value`` overrides a key of that block, the
value read as YAML), stepped as ``irl_inr.training.loop`` does: zero the gradients,
``training_losses`` (two re-posed views, one encoder pass over both, every view rendered
over its whole grid), backward, gradient norm, Adam (the configuration's lr, betas and
``fused_adam``; ``--set-optimisation key=value`` overrides a key of that block).

Original side: the authors' per-image step, re-stated from its description in
the team's reference notes (shared/notes/irl-inr-reference.md): the same CIFAR ResNet-18
followed by an MLP 512 -> 512 -> 512 -> (2 + d) whose first two outputs are a centre c
(translation c, rotation the angle of c); called once per view; a hypernetwork MLP
z -> 256 -> 256 -> 256 -> P with LeakyReLU(0.1) emitting every INR parameter as one flat
vector; the INR (256 Fourier frequencies, 512 -> 256 -> 256 -> 256 -> 1) run in a Python
loop over the images of the first view, each layer's weight and bias sliced out of that
image's row of the flat vector; total = 15 symmetry + reconstruction + consistency
(1 - cos); two Adam optimisers, lr 1e-4, betas (0.5, 0.999).  Its views are made in the
step with ``transform_images`` (one rotation for the whole batch per view, the second
view also shifted per image by N(0, 5^2) pixels), not with OpenCV in a data loader.

Both sides see the same random posed blobs (``train_throughput.blobs``, made before
timing: data loading is excluded) and run one after the other, each in its own child
process, so that each side's peak resident memory (``VmHWM``) is its own.  Timed steps
follow ``--warmup`` untimed ones.  Prints one JSON line per side as it finishes, then
one JSON line with both and the ratios project / original.  CPU seconds are the child
process's user + system time per step (all threads); on a shared machine they are the
fairer figure.  On CUDA the peak is ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn
from train_throughput import blobs

from irl_inr.geometry import canonical_coordinates, centre_of_mass, pixel_grid, pixels_to_normalised, transform_images
from irl_inr.models.encoder import ResNet18
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ROOT / "conf" / "base" / "parameters_training.yml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per side first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast on both sides")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the project's training_losses, and the original's encoder and hypernetwork "
        "(its per-image loop stays eager)",
    )
    parser.add_argument("--configuration", default="paper", help="named configuration of parameters_training.yml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the configuration's model block (value parsed as YAML); repeatable",
    )
    parser.add_argument(
        "--set-optimisation",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the configuration's optimisation block (value parsed as YAML); repeatable",
    )
    parser.add_argument("--side", choices=["both", "project", "original"], default="both")
    parser.add_argument("--smoke", action="store_true", help="seconds: both sides shrunk, in this process, batch 2, "
                        "1 step (CI runs this)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch_size, args.steps, args.warmup, args.threads, args.configuration = 2, 1, 0, 1, "fast"
        args.set += ["latent_dim=4", "num_frequencies=8", "inr_hidden=[8]", "hypernetwork_hidden=[16]"]
    return args


# --smoke's original side: the same code, small widths.
SMOKE_ORIGINAL = {"latent_dim": 4, "num_frequencies": 8, "hidden": 16}


# -- the original's model, re-stated ----------------------------------------------------------


class OriginalEncoder(nn.Module):
    """ResNet-18 + MLP 512 -> 512 -> 512 -> (2 + d): the centre c, then the code z."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.backbone = ResNet18()
        self.head = nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 2 + latent_dim)
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 1, H, W) -> code z (B, d), centre c (B, 2)."""
        output = self.head(self.backbone(images))
        return output[:, 2:], output[:, :2]


class OriginalHyperNetwork(nn.Module):
    """MLP z -> 256 -> 256 -> 256 -> P (every INR weight and bias, one flat row per image)."""

    def __init__(self, latent_dim: int, layer_shapes: list[tuple[int, int]], hidden: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for size in (hidden, hidden, hidden):
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.1)]
            width = size
        layers.append(nn.Linear(width, sum(out * inp + out for out, inp in layer_shapes)))
        self.mlp = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.mlp(code)  # (B, P)


class OriginalIRLINR(nn.Module):
    """The original's encoder, hypernetwork and per-image INR loop, and its step's losses."""

    def __init__(
        self, latent_dim: int = 32, num_frequencies: int = 256, fourier_scale: float = 2.0, hidden: int = 256
    ) -> None:
        super().__init__()
        self.encoder = OriginalEncoder(latent_dim)
        widths = [2 * num_frequencies, hidden, hidden, hidden, 1]
        self.layer_shapes = [(fan_out, fan_in) for fan_in, fan_out in zip(widths[:-1], widths[1:])]
        self.hypernetwork = OriginalHyperNetwork(latent_dim, self.layer_shapes, hidden)
        self.register_buffer("frequencies", torch.randn(num_frequencies, 2) * fourier_scale)  # B (F, 2)

    @staticmethod
    def pose(centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """theta = angle of c (arccos of c_y / |c| with the sign of c_x), tau = c."""
        cosine = (centre[:, 1] / (centre.norm(dim=1) + 1e-8)).clamp(-1 + 1e-6, 1 - 1e-6)
        return torch.sign(centre[:, 0]) * torch.arccos(cosine), centre

    def render_one(self, flat_row_of, index: int, rotation, translation, grid: torch.Tensor) -> torch.Tensor:
        """Image ``index``'s INR on its posed grid (P, 2) -> (P,), its weights sliced from
        the flat hypernetwork output one layer at a time (as the original does)."""
        points = canonical_coordinates(grid, rotation[index : index + 1], translation[index : index + 1])[0]
        phases = 2 * math.pi * points @ self.frequencies.T  # (P, F)
        hidden = torch.cat([torch.cos(phases), torch.sin(phases)], dim=-1)  # (P, 2F)
        offset = 0
        for layer, (out, inp) in enumerate(self.layer_shapes):
            weight = flat_row_of[index, offset : offset + out * inp].reshape(out, inp)
            offset += out * inp
            bias = flat_row_of[index, offset : offset + out]
            offset += out
            hidden = F.linear(hidden, weight, bias)
            hidden = torch.relu(hidden) if layer < len(self.layer_shapes) - 1 else torch.sigmoid(hidden)
        return hidden.squeeze(-1)

    def training_losses(self, images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch, _, height, width = images.shape
        angles = torch.rand(2, generator=generator) * 2 * math.pi - math.pi  # one per view, whole batch
        shift = pixels_to_normalised(torch.randn(batch, 2, generator=generator) * 5.0, max(height, width))
        first = transform_images(images, angles[0].expand(batch).to(images.device))
        second = transform_images(images, angles[1].expand(batch).to(images.device), shift.to(images.device))
        code, centre = self.encoder(first)
        other_code, _ = self.encoder(second)
        rotation, translation = self.pose(centre.float())
        flat = self.hypernetwork(code)  # (B, P)
        grid = pixel_grid(height, width, device=images.device)
        rendered = torch.stack([self.render_one(flat, i, rotation, translation, grid) for i in range(batch)])
        losses = {
            "reconstruction": F.mse_loss(rendered.float(), first.reshape(batch, -1)),
            "consistency": (1 - F.cosine_similarity(code.float(), other_code.float(), dim=1)).mean(),
            "symmetry": F.mse_loss(centre.float(), centre_of_mass(first)),
        }
        losses["total"] = 15 * losses["symmetry"] + losses["reconstruction"] + losses["consistency"]
        return losses


# -- one side, in its own process ---------------------------------------------------------------


def with_overrides(block: dict, overrides: list[str]) -> dict:
    """``block`` with ``key=value`` overrides, each value parsed as YAML."""
    values = dict(block)
    for item in overrides:
        key, _, value = item.partition("=")
        values[key] = yaml.safe_load(value)
    return values


def project_model(name: str, model_overrides: list[str], optimisation_overrides: list[str]) -> tuple[IRLINR, dict]:
    """The project's model of a named configuration and its optimisation block, each with
    its ``key=value`` overrides."""
    block = yaml.safe_load(PARAMETERS.read_text())["training"]["configurations"][name]
    model = IRLINR(IRLINRConfig.from_dict(with_overrides(block["model"], model_overrides)))
    return model, with_overrides(block["optimisation"], optimisation_overrides)


def peak_resident_mib() -> float:
    """This process's peak resident set size (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_side(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.side == "project":
        model, optimisation = project_model(args.configuration, args.set, args.set_optimisation)
        model = model.to(device).train()
        betas = tuple(optimisation.get("betas", (0.5, 0.999)))
        adam = torch.optim.Adam(
            model.parameters(),
            lr=optimisation.get("learning_rate", 1e-4),
            betas=betas,
            fused=optimisation.get("fused_adam") or None,
        )
        optimisers = [adam]
        losses_of = torch.compile(model.training_losses) if args.compile else model.training_losses
        size = model.config.image_size
    else:
        model = OriginalIRLINR(**SMOKE_ORIGINAL if args.smoke else {}).to(device).train()
        optimisers = [
            torch.optim.Adam(part.parameters(), lr=1e-4, betas=(0.5, 0.999))
            for part in (model.encoder, model.hypernetwork)
        ]
        if args.compile:
            model.encoder = torch.compile(model.encoder)
            model.hypernetwork = torch.compile(model.hypernetwork)
        losses_of = model.training_losses
        size = 50
    generator = torch.Generator().manual_seed(0)
    images = blobs(args.batch_size, size, generator).to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]

    def step() -> tuple[float, float, float]:
        """-> wall seconds, CPU seconds, total loss."""
        wall, cpu = time.perf_counter(), time.process_time()
        for optimiser in optimisers:
            optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            losses = losses_of(images, generator)
        losses["total"].backward()
        torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        for optimiser in optimisers:
            optimiser.step()
        total = float(losses["total"].detach())  # also waits for the device
        return time.perf_counter() - wall, time.process_time() - cpu, total

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timed = [step() for _ in range(args.steps)]
    walls, cpus, totals = zip(*timed)
    result = {
        "side": args.side,
        "images_per_s": round(args.batch_size * len(walls) / sum(walls), 3),
        "median_step_s": round(statistics.median(walls), 3),
        "cpu_s_per_step": round(statistics.mean(cpus), 2),
        "peak_rss_mib": round(peak_resident_mib(), 1),
        "last_total_loss": round(totals[-1], 6),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if device.type == "cuda":
        result["cuda_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def main() -> None:
    args = parse_args()
    if args.side != "both":
        print(json.dumps(run_side(args)), flush=True)
        return
    results = {}
    for side in ("project", "original"):
        if args.smoke:  # one process: no peak memory per side to keep apart
            results[side] = run_side(argparse.Namespace(**{**vars(args), "side": side}))
        else:
            command = [sys.executable, __file__, *sys.argv[1:], "--side", side]
            completed = subprocess.run(command, check=True, capture_output=True, text=True)
            results[side] = json.loads(completed.stdout.strip().splitlines()[-1])
        print(json.dumps(results[side]), flush=True)
    project, original = results["project"], results["original"]
    print(
        json.dumps(
            {
                "configuration": args.configuration,
                "overrides": args.set,
                "optimisation_overrides": args.set_optimisation,
                "device": args.device,
                "device_name": torch.cuda.get_device_name() if args.device == "cuda" else platform.machine(),
                "threads": args.threads,
                "bf16": args.bf16,
                "compile": args.compile,
                "batch_size": args.batch_size,
                "steps": args.steps,
                "warmup": args.warmup,
                "project": project,
                "original": original,
                "images_per_s_ratio": round(project["images_per_s"] / original["images_per_s"], 3),
                "cpu_s_per_step_ratio": round(project["cpu_s_per_step"] / original["cpu_s_per_step"], 3),
                "peak_rss_ratio": round(project["peak_rss_mib"] / original["peak_rss_mib"], 3),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
