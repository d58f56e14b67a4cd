"""Writes the published-architecture state_dicts that tests/unit/test_state_dict.cpp loads.

usage: state_dict_models.py OUTDIR

The architectures come from the files people use: RobustBench's model_zoo/architectures
(the robustbench wheel, installed with --no-deps by scripts/setup-deps.sh; each file is loaded by
path and needs only torch) and torchvision's resnet. Each model is randomly initialised, its
BatchNorm statistics calibrated on random images (cumulative averages in train mode), and saved
the way its users save it (a plain state_dict, a training checkpoint under 'state_dict' with
DataParallel's 'module.' prefixes, 'model_state_dict' next to an optimizer). OUTDIR/reference.pt
holds the inputs and each model's logits in float64 (a plain dict of tensors).
"""
import importlib.util
import os
import sys

import torch
import torchvision


def architecture(name):
    spec = importlib.util.find_spec("robustbench")
    if spec is None:
        sys.exit("state_dict_models: robustbench is not installed (scripts/setup-deps.sh)")
    path = os.path.join(spec.submodule_search_locations[0], "model_zoo", "architectures", name)
    mod_spec = importlib.util.spec_from_file_location("rb_" + name[:-3], path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def calibrated(model, shape, batches=2):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.rand(8, *shape))
    return model.eval()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    ref = {}
    cifar = torch.rand(4, 3, 32, 32)
    imagenet = torch.rand(2, 3, 224, 224)
    ref["x_cifar"], ref["x_imagenet"] = cifar, imagenet

    # RobustBench WideResNet-28-10 (TRADES layout; no input normalization), saved as a training
    # checkpoint from DataParallel.
    wrn = architecture("wide_resnet.py").WideResNet(depth=28, widen_factor=10)
    calibrated(wrn, (3, 32, 32))
    sd = {"module." + k: v for k, v in wrn.state_dict().items()}
    torch.save({"epoch": 99, "state_dict": sd, "best_acc": 0.5}, os.path.join(out, "rb_wrn_28_10.pt"))
    with torch.no_grad():
        ref["rb_wrn_28_10"] = wrn.double()(cifar.double())

    # RobustBench PreActResNet-18 with the final BatchNorm and mu/sigma buffers (the layout of
    # Rice2020OverfittingNetL2), a plain state_dict (an OrderedDict).
    resnet = architecture("resnet.py")
    pre = resnet.PreActResNet(resnet.PreActBlockV2, [2, 2, 2, 2], bn_before_fc=True)
    pre.register_buffer("mu", torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1))
    pre.register_buffer("sigma", torch.tensor([0.2471, 0.2435, 0.2616]).view(1, 3, 1, 1))
    calibrated(pre, (3, 32, 32))
    torch.save(pre.state_dict(), os.path.join(out, "rb_preact.pt"))
    with torch.no_grad():
        p = pre.double()
        ref["rb_preact"] = p((cifar.double() - p.mu) / p.sigma)

    # RobustBench's default PreActResNet18() has no final BatchNorm: not the native model.
    torch.save(resnet.PreActResNet18().state_dict(), os.path.join(out, "rb_preact_default.pt"))

    # torchvision resnet18 and resnet50 (ImageNet normalization outside the model), saved with an
    # optimizer next to the weights.
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    for name in ("resnet18", "resnet50"):
        net = getattr(torchvision.models, name)(weights=None)
        # An optimizer with state (momentum buffers) saved next to the weights; lr 0 keeps them.
        opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=0.9)
        net(torch.rand(2, 3, 64, 64)).sum().backward()
        opt.step()
        calibrated(net, (3, 64, 64))
        torch.save({"model_state_dict": net.state_dict(), "optimizer": opt.state_dict()},
                   os.path.join(out, "tv_" + name + ".pt"))
        with torch.no_grad():
            ref["tv_" + name] = net.double()((imagenet.double() - mean) / std)

    # DeepMind's WideResNet-28-10 with Swish, as RobustBench builds its DM entries; its
    # normalization is inside the model and not in the state_dict.
    dmw = architecture("dm_wide_resnet.py")
    dm = dmw.DMWideResNet(num_classes=10, depth=28, width=10, activation_fn=dmw.Swish)
    calibrated(dm, (3, 32, 32))
    torch.save(dm.state_dict(), os.path.join(out, "dm_wrn_28_10.pt"))
    with torch.no_grad():
        ref["dm_wrn_28_10"] = dm.double()(cifar.double())
    # DeepMind's PreActResNet-18 with Swish (3x3 shortcuts on the raw input, SAME padding).
    dmp = dmw.DMPreActResNet(num_classes=10, depth=18, width=0, activation_fn=dmw.Swish)
    calibrated(dmp, (3, 32, 32))
    torch.save(dmp.state_dict(), os.path.join(out, "dm_preact.pt"))
    with torch.no_grad():
        ref["dm_preact"] = dmp.double()(cifar.double())
    # Not a state_dict: training metadata only.
    torch.save({"epoch": 3, "accuracy": 0.9, "arch": "wrn"}, os.path.join(out, "metadata.pt"))

    torch.save(ref, os.path.join(out, "reference.pt"))


if __name__ == "__main__":
    main()
