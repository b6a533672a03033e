"""A short training run in float32 and the same run under bfloat16 autocast: do they reach the same loss?

    nice -n 19 python benchmarks/bf16_vs_fp32.py --configuration fast --batch-size 32 --steps 40
    python benchmarks/bf16_vs_fp32.py --smoke                       # seconds: does it still run?
    python benchmarks/bf16_vs_fp32.py --configuration paper --device cuda --steps 200

Both runs start from the same weights and draw the same views (same seeds), on random
posed blobs (``train_throughput.blobs``, a new batch every step), with Adam as
configured.  Prints one JSON line per run with its loss terms averaged over the last
``--window`` steps, then one line comparing them: the relative difference of each term
and whether the total and every term with a positive weight are within ``--tolerance``
(default 5 %) of float32's (terms of weight 0 are reported, not judged).  On a CPU
without native bf16 (``irl_inr.training.device.cpu_has_native_bf16``) autocast still runs
here, emulated and slowly: keep the run small.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import yaml
from compare_original import PARAMETERS, project_model, with_overrides
from train_throughput import blobs

from irl_inr.models.irl_inr import IRLINRConfig
from irl_inr.training.device import cpu_has_native_bf16


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configuration", default="fast", help="named configuration of parameters_training.yml")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--window", type=int, default=10, help="last steps averaged")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=0.05, help="relative, per loss term")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model block override")
    parser.add_argument("--smoke", action="store_true", help="seconds: a tiny model, batch 2, 2 steps (CI runs this)")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.window, args.batch_size, args.threads = 2, 1, 2, 1
        args.set += ["num_frequencies=8", "inr_hidden=[8]", "hypernetwork_hidden=[16]", "latent_dim=4"]
    return args


def train(args: argparse.Namespace, bf16: bool) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model, optimisation = project_model(args.configuration, args.set, [])
    model = model.to(device).train()
    optimiser = torch.optim.Adam(
        model.parameters(), lr=optimisation.get("learning_rate", 1e-4), betas=tuple(optimisation.get("betas", (0.5, 0.999)))
    )
    data_generator = torch.Generator().manual_seed(1)
    view_generator = torch.Generator().manual_seed(2)
    history = []
    start = time.perf_counter()
    for _ in range(args.steps):
        images = blobs(args.batch_size, model.config.image_size, data_generator).to(device)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            losses = model.training_losses(images, view_generator)
        losses["total"].backward()
        optimiser.step()
        history.append({name: float(value.detach()) for name, value in losses.items()})
    window = history[-args.window :]
    return {
        "precision": "bf16" if bf16 else "fp32",
        "seconds": round(time.perf_counter() - start, 1),
        "first_total": round(history[0]["total"], 6),
        "last_window": {name: round(sum(row[name] for row in window) / len(window), 6) for name in window[0]},
    }


def main() -> None:
    args = parse_args()
    runs = [train(args, bf16) for bf16 in (False, True)]
    for run in runs:
        print(json.dumps(run), flush=True)
    fp32, bf16 = (run["last_window"] for run in runs)
    relative = {name: round(abs(bf16[name] - value) / max(abs(value), 1e-12), 4) for name, value in fp32.items()}
    block = yaml.safe_load(PARAMETERS.read_text())["training"]["configurations"][args.configuration]
    config = IRLINRConfig.from_dict(with_overrides(block["model"], args.set))
    judged = {
        name: difference
        for name, difference in relative.items()
        if name == "total" or getattr(config, f"{name}_weight", 0) > 0
    }
    print(
        json.dumps(
            {
                "configuration": args.configuration,
                "overrides": args.set,
                "device": args.device,
                "cpu_has_native_bf16": cpu_has_native_bf16(),
                "batch_size": args.batch_size,
                "steps": args.steps,
                "window": args.window,
                "relative_difference": relative,
                "judged": sorted(judged),
                "tolerance": args.tolerance,
                "within_tolerance": all(difference <= args.tolerance for difference in judged.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
