#!/usr/bin/env python3
"""Makes headpose/fsanet-pair-iter-688590.onnx from FSA-Net's two upstream files.

FSA-Net's head pose is the average of two models (1x1 and var), each published
with a static input [1, 3, 64, 64]: two ONNX Runtime runs per face and frame,
each mostly per-run overhead. This file holds both graphs side by side on one
shared input, averages their outputs in the graph, and makes the batch axis
dynamic: one run for all faces of a frame. The upstream graphs compute their
reshapes from the input's shape (Shape -> Gather -> Concat), so only the
declared input and output sizes name batch 1; no weight changes.

Usage: fsanet_pair.py MODELS_DIR OUT [--check N]: reads
MODELS_DIR/headpose/fsanet-{1x1,var}-iter-688590.onnx, writes OUT. The output is
byte-deterministic for a given onnx and protobuf version (scripts/setup.sh
pins both and checks the SHA-256); --check N also runs ONNX Runtime to compare
a batch of N with N single runs of the upstream files.
"""

import os
import sys

import onnx
from onnx import TensorProto, helper

UPSTREAM = ("1x1", "var")
ITER = "iter-688590"


def upstream_path(models, name):
    return os.path.join(models, "headpose", f"fsanet-{name}-{ITER}.onnx")


def pair_model(models):
    nodes, inits = [], []
    outputs = []
    for name in UPSTREAM:
        m = onnx.load(upstream_path(models, name))
        g = m.graph
        assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [9], "opset 9 expected"
        assert len(g.input) == 1 and len(g.output) == 1, f"{name}: one input and one output expected"
        shared_input = g.input[0].name
        prefix = f"{name}/"

        def rename(value):
            # The shared input keeps its name; everything else gets the model's prefix.
            return value if value in ("", shared_input) else prefix + value

        for n in g.node:
            n.name = prefix + n.name
            n.input[:] = [rename(v) for v in n.input]
            n.output[:] = [rename(v) for v in n.output]
            nodes.append(n)
        for t in g.initializer:
            t.name = rename(t.name)
            inits.append(t)
        outputs.append(rename(g.output[0].name))
    # (a + b) / 2: the very operations, in f32, of averaging the two outputs outside.
    inits.append(helper.make_tensor("pair/two", TensorProto.FLOAT, [], [2.0]))
    nodes.append(helper.make_node("Add", outputs, ["pair/sum"], name="pair/Add"))
    nodes.append(helper.make_node("Div", ["pair/sum", "pair/two"], ["output"], name="pair/Div"))
    graph = helper.make_graph(
        nodes,
        "fsanet-pair",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], producer_name="blickfang fsanet_pair.py")
    # Fixed, so the bytes do not follow the onnx package's defaults.
    model.ir_version = 6
    model.producer_version = "1"
    model.doc_string = (
        f"FSA-Net 1x1 and var ({ITER}, omasaht/headpose-fsanet-pytorch, MIT) on one input, "
        "outputs averaged, batch axis dynamic"
    )
    onnx.checker.check_model(model)
    return model


def check(models, path, n):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = lambda p: ort.InferenceSession(p, opts, providers=["CPUExecutionProvider"])
    pair = session(path)
    singles = [session(upstream_path(models, name)) for name in UPSTREAM]
    x = np.random.default_rng(16).uniform(-1.0, 1.0, (n, 3, 64, 64)).astype(np.float32)
    batched = pair.run(None, {"input": x})[0]
    want = np.stack(
        [sum(s.run(None, {"input": x[i : i + 1]})[0][0] for s in singles) / np.float32(2) for i in range(n)]
    )
    one = pair.run(None, {"input": x[:1]})[0]
    diff = float(np.abs(batched - want).max())
    print(f"batch of {n} vs {n} single runs of both upstream files: max abs diff {diff:.3g} degrees")
    print(f"batch of 1 vs single runs: max abs diff {float(np.abs(one[0] - want[0]).max()):.3g} degrees")
    return diff < 1e-3


def main():
    args = sys.argv[1:]
    n = 0
    if len(args) == 4 and args[2] == "--check":
        n = int(args[3])
        args = args[:2]
    if len(args) != 2:
        sys.exit("usage: fsanet_pair.py MODELS_DIR OUT [--check N]")
    models, path = args
    model = pair_model(models)
    with open(path + ".part", "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    os.replace(path + ".part", path)
    if n and not check(models, path, n):
        sys.exit("the pair model does not match the upstream files")


if __name__ == "__main__":
    main()
