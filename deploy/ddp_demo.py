"""Data-parallel training with torch.distributed: one model, two processes, half a batch each.

Chapter 10 starts this file as a program, because worker processes started with "spawn"
must import their function from a module (a notebook's ``__main__`` cannot be pickled):

    python -m deploy.ddp_demo --data batches.pt --out result.pt --world-size 2

or, the way clusters start it, one process per worker launched by ``torchrun``:

    torchrun --standalone --nproc-per-node 2 -m deploy.ddp_demo --data batches.pt --out result.pt

``batches.pt`` holds the initial weights of a ``DigitCNN`` and a list of global batches
(images (B, 28, 28), labels (B,)). Each process wraps the same initial model in
DistributedDataParallel, takes its own contiguous share of every global batch, and
trains with plain SGD; DDP averages the gradients across the processes (all-reduce,
here over the CPU "gloo" backend) during ``backward()``. Rank 0 saves the gradients of
the first step, the losses and the final weights, for comparison with one process
training on the whole batches.
"""
from __future__ import annotations

import argparse
import datetime
import os
import socket
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from deploy.cnn import DigitCNN


def sgd_steps(model: nn.Module, batches: list, lr: float, shard=None) -> dict:
    """Plain SGD over ``batches``; ``shard(x, y)`` picks this process's part of a batch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses, first_grads = [], None
    for x, y in batches:
        if shard is not None:
            x, y = shard(x, y)
        loss = F.cross_entropy(model(x), y)             # mean over this process's examples
        optimizer.zero_grad()
        loss.backward()                                 # under DDP: gradients all-reduced (averaged) here
        if first_grads is None:
            first_grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        optimizer.step()
        losses.append(loss.item())
    return {"first_grads": first_grads, "losses": losses}


def worker(rank: int, world_size: int, data_path: str, out_path: str, lr: float) -> None:
    torch.set_num_threads(1)  # one core per process
    dist.init_process_group("gloo", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=120))
    try:
        data = torch.load(data_path, weights_only=True)
        model = DigitCNN()
        model.load_state_dict(data["init"])             # every rank starts from the same weights
        ddp = DistributedDataParallel(model)             # (DDP also broadcasts rank 0's weights)

        def shard(x, y):                                 # this rank's contiguous part of the batch
            return x.chunk(world_size)[rank], y.chunk(world_size)[rank]

        result = sgd_steps(ddp, list(zip(data["images"], data["labels"])), lr, shard)
        # The losses are per rank; the mean over ranks is the loss of the whole batch.
        losses = torch.tensor(result["losses"])
        dist.all_reduce(losses)
        if rank == 0:
            torch.save({"first_grads": {n.removeprefix("module."): g for n, g in result["first_grads"].items()},
                        "losses": (losses / world_size).tolist(),
                        "final_state": model.state_dict(), "world_size": world_size,
                        "backend": dist.get_backend()}, out_path)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="initial weights and global batches (torch.save)")
    parser.add_argument("--out", required=True, help="where rank 0 saves the result")
    parser.add_argument("--world-size", type=int, default=2, help="processes to spawn (ignored under torchrun)")
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    if "RANK" in os.environ:  # started by torchrun, which set RANK, WORLD_SIZE, MASTER_ADDR/PORT
        worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args.data, args.out, args.lr)
        return
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    # Both workers run on this machine: gloo talks over the loopback interface (not over whatever
    # address the host name resolves to, which on some machines is unreachable), and a CPU demo
    # keeps CUDA builds of PyTorch from probing a GPU driver in every worker.
    loopback = {"linux": "lo", "darwin": "lo0"}.get(sys.platform)
    if loopback:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    mp.spawn(worker, args=(args.world_size, args.data, args.out, args.lr), nprocs=args.world_size, join=True)


if __name__ == "__main__":
    main()
