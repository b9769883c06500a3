"""The PyTorch peer of bench_lenet5: LeNet-5 as in models/lenet5.json, 2 threads.
Training: eager, batch 32, with the SGD settings of models/lenet5.json. Inference: traced, frozen and
optimised for inference, batch 1 and 32. Prints one JSON object."""
import json
import os
import sys

import torch
import torch.nn as nn

from timing import median_seconds

torch.set_num_threads(2)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5, padding=2)
        self.conv3 = nn.Conv2d(16, 120, 5, padding=2)
        self.fc1 = nn.Linear(120 * 7 * 7, 84)
        self.fc2 = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = nn.functional.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.tanh(self.conv3(x)).flatten(1)
        return self.fc2(torch.tanh(self.fc1(x)))


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    model = LeNet5()
    # The model file's optimizer (it has no L2 terms), so that both sides do the
    # same work: at momentum 0 neither keeps a velocity it reads.
    with open(os.path.join(os.path.dirname(__file__), "..", "models", "lenet5.json")) as f:
        sgd = json.load(f)["training"]["optimizer"]
    opt = torch.optim.SGD(model.parameters(), lr=sgd["learning_rate"], momentum=sgd["momentum"],
                          nesterov=sgd["nesterov"])
    x32, y32 = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))

    def train_step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x32), y32)
        loss.backward()
        opt.step()

    result = {"train_b32_s": median_seconds(train_step, iters, warmup=10)}
    model.eval()
    for batch in (1, 32):
        x = torch.rand(batch, 1, 28, 28)
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
            result["infer_b%d_s" % batch] = median_seconds(lambda: frozen(x), iters, warmup=10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
