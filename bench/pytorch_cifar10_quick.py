"""pytorch_cifar10_quick.py — CIFAR-10 quick (bench/cifar10_quick.yaml)
trained in PyTorch, for bench/run_all.sh: batch 100, SGD lr 0.001,
momentum 0.9, weight decay 0.004, the same layers and shapes (Caffe's
pooling rounds up: ceil_mode=True).  python3
bench/pytorch_cifar10_quick.py --threads N [--iters 20 --runs 3]; needs
Debian's python3-torch."""
import torch.nn as nn

from pytorch_common import main


def cifar10_quick():
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(1024, 64), nn.Linear(64, 10))


if __name__ == "__main__":
    main("CIFAR10_quick", cifar10_quick, (100, 3, 32, 32), lr=0.001, weight_decay=0.004)
