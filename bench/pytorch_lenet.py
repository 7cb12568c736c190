"""pytorch_lenet.py — LeNet (bench/lenet.yaml) trained in PyTorch, for
bench/run_all.sh: batch 64, SGD lr 0.01, momentum 0.9, weight decay
0.0005, the same layers and shapes.  python3 bench/pytorch_lenet.py
--threads N [--iters 20 --runs 3]; needs Debian's python3-torch."""
import torch.nn as nn

from pytorch_common import main


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(inplace=True),
        nn.Linear(500, 10))


if __name__ == "__main__":
    main("LeNet", lenet, (64, 1, 28, 28), lr=0.01, weight_decay=0.0005)
