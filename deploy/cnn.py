"""The chapter 10 CNN: the model the service serves and the one trained on two processes.

It takes raw pixels, as the service receives them, and scales them itself, so an ONNX
export of it can be served by deploy/app.py without any preprocessing outside the model.
(The service never imports this file: it runs the exported ONNX model, without PyTorch.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitCNN(nn.Module):
    """A small CNN for MNIST: raw pixels (N, 28, 28), values 0-255 -> logits (N, 10)."""

    def __init__(self, channels: tuple[int, int] = (8, 16)) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.out = nn.Linear(c2 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x / 255.0).unsqueeze(1)                    # (N, 1, 28, 28), scaled inside the model
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)      # (N, c1, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)      # (N, c2, 7, 7)
        return self.out(x.flatten(1))                   # (N, 10)
