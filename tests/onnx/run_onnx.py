"""Independent check of an ONNX export: onnx's checker, onnxruntime's forward, Relu elements.

usage: run_onnx.py MODEL.onnx INPUTS.f32 COUNT  ->  JSON on stdout
INPUTS.f32 holds COUNT inputs, little-endian f32, each of the graph input's shape.
Relu elements are counted from onnx's own shape inference (per Relu node, the number of
elements of its input without the batch dimension), not from snl's summary.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

path, inputs, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
shapes = {}
for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
    dims = vi.type.tensor_type.shape.dim
    shapes[vi.name] = [d.dim_value for d in dims]
relu_elements = 0
ops = {}
for n in model.graph.node:
    ops[n.op_type] = ops.get(n.op_type, 0) + 1
    if n.op_type == "Relu":
        relu_elements += int(np.prod(shapes[n.input[0]][1:]))
int64_inits = sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT64)

sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
shape = [d if isinstance(d, int) else 1 for d in inp.shape]
x = np.fromfile(inputs, dtype="<f4").reshape([count] + shape[1:])
outs = [sess.run(None, {inp.name: x[i : i + 1]})[0].reshape(-1).astype(float).tolist() for i in range(count)]
json.dump(
    {
        "outputs": outs,
        "relu_elements": relu_elements,
        "ops": ops,
        "int64_initializers": int64_inits,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    },
    sys.stdout,
)
