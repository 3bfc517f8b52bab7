#!/usr/bin/python3
"""The PyTorch round trip for the reference network (models/seed.yaml).

    torch_roundtrip.py export CKPT DATA.csv PREDICTIONS
        Loads the trainer's checkpoint CKPT into the tutorial's NeuralNetwork
        with load_state_dict (strict) and checks its outputs on DATA against
        PREDICTIONS (what netc's forward computed with the same file), 1e-6
        relative.

    torch_roundtrip.py import OUT
        Saves a freshly initialised NeuralNetwork's state_dict to OUT as
        safetensors.torch.save_file would, and prints its outputs on the 5
        fixed inputs below, for the test to compare with netc's.
"""
import sys

import torch
import torch.nn as nn

import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import st  # noqa: E402


class NeuralNetwork(nn.Module):
    """The tutorial's class: Linear(5->3) -> ReLU -> Linear(3->1) -> ReLU."""

    def __init__(self, input_size=5, hidden_size=3, output_size=1):
        super().__init__()
        self.hidden = nn.Linear(input_size, hidden_size)
        self.out = nn.Linear(hidden_size, output_size)
        self.ReLU = nn.ReLU()

    def forward(self, x):
        hidden = self.ReLU(self.hidden(x))
        return self.ReLU(self.out(hidden))


def read_csv(path):
    rows = [[float(v) for v in line.split(",")] for line in open(path) if line.strip()]
    return torch.tensor([r[:5] for r in rows]), torch.tensor([r[5:] for r in rows])


def export(ckpt, data, predictions):
    model = NeuralNetwork()
    model.load_state_dict(st.load_torch(ckpt))  # strict: every name and shape must match
    x, t = read_csv(data)
    with torch.no_grad():
        y = model(x).reshape(-1).tolist()
    lines = open(predictions).read().split()
    theirs = [float(v) for v in lines if v != "loss"][:len(y)]
    bad = [(a, b) for a, b in zip(y, theirs) if abs(a - b) > 1e-6 * max(1.0, abs(a))]
    print("export: %d outputs compared, %d differ" % (len(y), len(bad)))
    return 1 if bad or len(theirs) != len(y) else 0


def import_(out):
    torch.manual_seed(3)
    model = NeuralNetwork()
    st.save_torch(out, model.state_dict())
    x = torch.linspace(-2, 2, 25).reshape(5, 5)
    with torch.no_grad():
        y = model(x).reshape(-1).tolist()
    for row, v in zip(x.tolist(), y):
        print(",".join("%.9g" % a for a in row) + ",%.9g" % v)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "export":
        sys.exit(export(*sys.argv[2:5]))
    sys.exit(import_(sys.argv[2]))
