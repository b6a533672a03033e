"""SCAN's training data: the images and each image's mined neighbours, read by anchor.

:class:`NeighbourPairs` is a data set for :func:`irl_inr.training.fit` (see
:mod:`irl_inr.training.data`): batch ``rows`` is an :class:`AnchorBatch` holding those
anchor indices and the data set itself, from which
:meth:`~irl_inr.models.scan.SCANModel.training_losses` draws one neighbour per anchor
and gathers the pixels of both. The images stay where they are (usually on the CPU);
only the gathered rows move to the training device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from irl_inr.models.checks import check_images


class NeighbourPairs:
    """images: (N, ...) float images; neighbours: (N, k) integer indices into ``images``
    of each image's nearest neighbours (mined on the pretext features, e.g. with
    :func:`irl_inr.metrics.nearest_neighbours`, which excludes the image itself)."""

    def __init__(self, images: Any, neighbours: Any) -> None:
        self.images = check_images(images, "images")
        self.neighbours = self._checked_neighbours(neighbours, self.images.shape[0])
        self.device = torch.device("cpu")  # where the anchor indices are drawn and gathered

    @staticmethod
    def _checked_neighbours(neighbours: Any, count: int) -> torch.Tensor:
        if not isinstance(neighbours, torch.Tensor):
            raise TypeError(f"neighbours must be a torch.Tensor, got {type(neighbours).__name__}")
        if neighbours.dim() != 2 or neighbours.shape[0] != count or neighbours.shape[1] < 1:
            raise ValueError(
                f"neighbours must have shape (N, k) = ({count}, k >= 1) for {count} images, "
                f"got {tuple(neighbours.shape)}"
            )
        if neighbours.is_floating_point() or neighbours.dtype == torch.bool or neighbours.is_complex():
            raise ValueError(f"neighbours must hold integer indices, got {neighbours.dtype}")
        if neighbours.shape[1] >= count:
            raise ValueError(
                f"neighbours has k = {neighbours.shape[1]} neighbours per image but there are only "
                f"{count} images (k must be < N)"
            )
        low, high = int(neighbours.min()), int(neighbours.max())
        if low < 0 or high >= count:
            raise ValueError(f"neighbours holds indices in [{low}, {high}], outside [0, {count - 1}]")
        return neighbours.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def k(self) -> int:
        """Neighbours per image."""
        return self.neighbours.shape[1]

    def __getitem__(self, rows: torch.Tensor) -> AnchorBatch:
        return AnchorBatch(rows, self)

    @property
    def identity_tensor(self) -> torch.Tensor:
        """The anchors 0..N-1 as float32: what the loop indexes. The images and the
        neighbour table are named by the checkpoint's file name (the SCAN node hashes
        both into it), so a checkpoint's identity is that of the index set it walked."""
        return torch.arange(len(self), dtype=torch.float32)

    def partners(self, anchors: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        """Neighbour ``column[i]`` of every anchor ``anchors[i]``, on the anchors' device."""
        return self.neighbours[anchors.cpu(), column.cpu()].to(anchors.device)

    def pixels(self, rows: torch.Tensor) -> torch.Tensor:
        """The images of ``rows``, gathered where the images lie and moved to the rows' device."""
        return self.images[rows.to(self.images.device)].to(rows.device)


@dataclass(frozen=True)
class AnchorBatch:
    """One batch of SCAN anchors: their indices and the data set they index."""

    anchors: torch.Tensor
    pairs: NeighbourPairs

    def to(self, device: torch.device | str, non_blocking: bool = False) -> AnchorBatch:
        return AnchorBatch(self.anchors.to(device, non_blocking=non_blocking), self.pairs)

    def __len__(self) -> int:
        return self.anchors.shape[0]
