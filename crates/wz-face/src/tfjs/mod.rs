//! Loading TensorFlow.js graph models into tract.
//!
//! A TFJS `model.json` holds `modelTopology`, a TensorFlow `GraphDef` in
//! protobuf-JSON form (string attributes base64, 64-bit ints as strings),
//! and a `weightsManifest` naming the `.bin` shards and each weight's dtype,
//! shape and quantisation. We rebuild the `GraphDef` with the weights as
//! `Const` tensors (dequantised to f32) and rewrite the fused ops that only
//! TFJS's converter emits into plain TensorFlow ops that tract knows:
//!
//! | TFJS op | becomes |
//! |---|---|
//! | `_FusedConv2D` (BiasAdd [+ Relu / Relu6 / Prelu]) | `Conv2D` → `BiasAdd` [→ activation] |
//! | `FusedDepthwiseConv2dNative` | `DepthwiseConv2dNative` → `BiasAdd` [→ activation] |
//! | `_FusedMatMul` | `MatMul` → `BiasAdd` [→ activation] |
//! | `Prelu(x, a)` | `Relu(x) + a · (x − Relu(x))` |
//! | `Square(x)` | `Mul(x, x)` |

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value as Json;
use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::attr_value::{ListValue, Value};
use tract_tensorflow::tfpb::tensorflow::tensor_shape_proto::Dim;
use tract_tensorflow::tfpb::tensorflow::{AttrValue, GraphDef, NodeDef, TensorProto, TensorShapeProto};

use crate::error::{FaceEngineError, Result};

pub mod dlib;
mod weights;
use weights::weights;

fn bad(msg: impl Into<String>) -> FaceEngineError {
    FaceEngineError::ModelFormat(msg.into())
}

fn dtype_code(name: &str) -> Result<i32> {
    Ok(match name {
        "DT_FLOAT" => 1,
        "DT_INT32" => 3,
        "DT_UINT8" => 4,
        "DT_STRING" => 7,
        "DT_INT64" => 9,
        "DT_BOOL" => 10,
        "DT_HALF" => 19,
        other => return Err(bad(format!("unsupported dtype {other}"))),
    })
}

fn int(v: &Json) -> Result<i64> {
    match v {
        Json::String(s) => s.parse().map_err(|_| bad("integer attribute")),
        Json::Number(n) => n.as_i64().ok_or_else(|| bad("integer attribute")),
        _ => Err(bad("integer attribute")),
    }
}

fn shape(v: &Json) -> Result<TensorShapeProto> {
    let dims = v.get("dim").and_then(Json::as_array).cloned().unwrap_or_default();
    Ok(TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| {
                Ok(Dim {
                    size: d.get("size").map(int).transpose()?.unwrap_or(0),
                    name: String::new(),
                })
            })
            .collect::<Result<_>>()?,
        unknown_rank: v.get("unknownRank").and_then(Json::as_bool).unwrap_or(false),
    })
}

fn b64(v: &Json) -> Result<Vec<u8>> {
    B64.decode(v.as_str().ok_or_else(|| bad("string attribute"))?)
        .map_err(|_| bad("base64 attribute"))
}

/// One attribute from its protobuf-JSON form.
fn attr(v: &Json) -> Result<AttrValue> {
    let obj = v.as_object().ok_or_else(|| bad("attribute is not an object"))?;
    let value = if let Some(s) = obj.get("s") {
        Value::S(b64(s)?)
    } else if let Some(i) = obj.get("i") {
        Value::I(int(i)?)
    } else if let Some(f) = obj.get("f") {
        Value::F(f.as_f64().ok_or_else(|| bad("float attribute"))? as f32)
    } else if let Some(b) = obj.get("b") {
        Value::B(b.as_bool().ok_or_else(|| bad("bool attribute"))?)
    } else if let Some(t) = obj.get("type") {
        Value::Type(dtype_code(t.as_str().ok_or_else(|| bad("type attribute"))?)?)
    } else if let Some(s) = obj.get("shape") {
        Value::Shape(shape(s)?)
    } else if let Some(l) = obj.get("list") {
        let get = |k: &str| l.get(k).and_then(Json::as_array).cloned().unwrap_or_default();
        Value::List(ListValue {
            s: get("s").iter().map(b64).collect::<Result<_>>()?,
            i: get("i").iter().map(int).collect::<Result<_>>()?,
            f: get("f")
                .iter()
                .map(|f| f.as_f64().map(|x| x as f32).ok_or_else(|| bad("float list")))
                .collect::<Result<_>>()?,
            b: get("b")
                .iter()
                .map(|b| b.as_bool().ok_or_else(|| bad("bool list")))
                .collect::<Result<_>>()?,
            r#type: get("type")
                .iter()
                .map(|t| dtype_code(t.as_str().unwrap_or("")))
                .collect::<Result<_>>()?,
            shape: get("shape").iter().map(shape).collect::<Result<_>>()?,
            tensor: vec![],
            func: vec![],
        })
    } else if obj.contains_key("tensor") {
        // Const values are filled from the weights manifest.
        Value::Tensor(TensorProto::default())
    } else if obj.is_empty() {
        Value::List(ListValue::default())
    } else {
        return Err(bad("unknown attribute kind"));
    };
    Ok(AttrValue { value: Some(value) })
}

fn node(name: &str, op: &str, inputs: Vec<String>, attrs: HashMap<String, AttrValue>) -> NodeDef {
    NodeDef {
        name: name.to_owned(),
        op: op.to_owned(),
        input: inputs,
        device: String::new(),
        attr: attrs,
    }
}

fn t_attr() -> HashMap<String, AttrValue> {
    HashMap::from([(
        "T".to_owned(),
        AttrValue {
            value: Some(Value::Type(1)),
        },
    )])
}

/// Appends `act(input)` named `name`; PReLU takes its alpha as `extra`.
fn activation(
    out: &mut Vec<NodeDef>,
    name: &str,
    act: &str,
    input: String,
    extra: Option<String>,
) -> Result<()> {
    match act {
        "Relu" | "Relu6" | "Elu" | "Sigmoid" | "Tanh" => out.push(node(name, act, vec![input], t_attr())),
        "Prelu" => {
            let alpha = extra.ok_or_else(|| bad("Prelu without alpha"))?;
            prelu(out, name, input, alpha);
        }
        other => return Err(bad(format!("unsupported fused activation {other}"))),
    }
    Ok(())
}

/// `prelu(x, a) = relu(x) + a * (x - relu(x))`, with plain ops.
fn prelu(out: &mut Vec<NodeDef>, name: &str, x: String, alpha: String) {
    let relu = format!("{name}/wz_relu");
    let neg = format!("{name}/wz_neg");
    let scaled = format!("{name}/wz_scaled");
    out.push(node(&relu, "Relu", vec![x.clone()], t_attr()));
    out.push(node(&neg, "Sub", vec![x, relu.clone()], t_attr()));
    out.push(node(&scaled, "Mul", vec![alpha, neg], t_attr()));
    out.push(node(name, "AddV2", vec![relu, scaled], t_attr()));
}

/// Rewrites one TFJS node into plain TensorFlow nodes.
fn rewrite(n: NodeDef, out: &mut Vec<NodeDef>) -> Result<()> {
    let fused_base = match n.op.as_str() {
        "_FusedConv2D" => Some("Conv2D"),
        "FusedDepthwiseConv2dNative" => Some("DepthwiseConv2dNative"),
        "_FusedMatMul" => Some("MatMul"),
        _ => None,
    };
    if let Some(base) = fused_base {
        let fused: Vec<String> = match n.attr.get("fused_ops").and_then(|a| a.value.as_ref()) {
            Some(Value::List(l)) => {
                l.s.iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            }
            _ => vec![],
        };
        let mut inputs = n.input.clone();
        let (x, w) = (inputs.remove(0), inputs.remove(0));
        let mut attrs = n.attr.clone();
        for k in [
            "fused_ops",
            "num_args",
            "epsilon",
            "leakyrelu_alpha",
            "num_host_args",
        ] {
            attrs.remove(k);
        }
        let core = format!("{}/wz_{}", n.name, base.to_lowercase());
        out.push(node(&core, base, vec![x, w], attrs));
        let mut last = core;
        let mut rest = inputs.into_iter();
        for (i, op) in fused.iter().enumerate() {
            let is_last = i + 1 == fused.len();
            let name = if is_last {
                n.name.clone()
            } else {
                format!("{}/wz_{}", n.name, op.to_lowercase())
            };
            match op.as_str() {
                "BiasAdd" => {
                    let bias = rest.next().ok_or_else(|| bad("BiasAdd without bias"))?;
                    out.push(node(&name, "BiasAdd", vec![last, bias], t_attr()));
                }
                act => activation(out, &name, act, last, rest.next())?,
            }
            last = name;
        }
        if fused.is_empty() {
            out.push(node(&n.name, "Identity", vec![last], t_attr()));
        }
        return Ok(());
    }
    match n.op.as_str() {
        "Prelu" => {
            let x = n.input.first().cloned().ok_or_else(|| bad("Prelu input"))?;
            let a = n.input.get(1).cloned().ok_or_else(|| bad("Prelu alpha"))?;
            prelu(out, &n.name, x, a);
        }
        "Square" => {
            let x = n.input.first().cloned().ok_or_else(|| bad("Square input"))?;
            out.push(node(&n.name, "Mul", vec![x.clone(), x], t_attr()));
        }
        _ => out.push(n),
    }
    Ok(())
}

/// Loads `dir/name.json` (+ shards) as a TensorFlow graph tract can read.
pub fn load_graph(dir: &Path, name: &str) -> Result<GraphDef> {
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .map_err(|_| FaceEngineError::ModelsMissing(dir.display().to_string()))?;
    let json: Json = serde_json::from_str(&text).map_err(|_| bad("model.json is not JSON"))?;
    let weights = weights(
        dir,
        json.get("weightsManifest")
            .ok_or_else(|| bad("no weightsManifest"))?,
    )?;
    let nodes = json
        .pointer("/modelTopology/node")
        .and_then(Json::as_array)
        .ok_or_else(|| bad("no modelTopology.node"))?;
    let mut out = Vec::with_capacity(nodes.len() * 2);
    for n in nodes {
        let name = n
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("node name"))?;
        let op = n.get("op").and_then(Json::as_str).ok_or_else(|| bad("node op"))?;
        let inputs: Vec<String> = n
            .get("input")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let mut attrs = HashMap::new();
        if let Some(obj) = n.get("attr").and_then(Json::as_object) {
            for (k, v) in obj {
                if k.starts_with('_') {
                    continue;
                }
                attrs.insert(k.clone(), attr(v)?);
            }
        }
        if op == "Const" {
            let t = weights
                .get(name)
                .ok_or_else(|| bad(format!("no weight for const {name}")))?;
            let proto = TensorProto::try_from(t).map_err(|e| bad(e.to_string()))?;
            attrs.insert(
                "value".to_owned(),
                AttrValue {
                    value: Some(Value::Tensor(proto)),
                },
            );
        }
        rewrite(node(name, op, inputs, attrs), &mut out)?;
    }
    Ok(GraphDef {
        node: out,
        ..GraphDef::default()
    })
}

/// tract-tensorflow 0.23.9 cannot type `Pad` whose paddings are an i32
/// constant; replace each such node with tract's own pad op built from the
/// constant (one input fewer).
fn fix_pads(model: &mut InferenceModel) -> Result<()> {
    let inf = |m: String| FaceEngineError::Inference(m);
    let ids: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| n.op.name() == "Pad" && n.inputs.len() == 2)
        .map(|n| n.id)
        .collect();
    for id in ids {
        let paddings = *model
            .node(id)
            .inputs
            .get(1)
            .ok_or_else(|| inf("Pad inputs".into()))?;
        let konst = model
            .node(paddings.node)
            .op_as::<tract_tensorflow::tract_hir::ops::konst::Const>()
            .ok_or_else(|| inf("Pad paddings are not a constant".into()))?;
        let t = konst.val().cast_to::<i64>().map_err(|e| inf(e.to_string()))?;
        let view = t.to_plain_array_view::<i64>().map_err(|e| inf(e.to_string()))?;
        let flat: Vec<i64> = view.iter().copied().collect();
        let pads = flat
            .as_chunks::<2>()
            .0
            .iter()
            .map(|c| {
                Ok((
                    usize::try_from(c[0]).map_err(|_| inf("negative pad".into()))?,
                    usize::try_from(c[1]).map_err(|_| inf("negative pad".into()))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mode = tract_tensorflow::tract_hir::ops::array::PadMode::Constant(std::sync::Arc::new(
            Tensor::from(0f32),
        ));
        let node = model.node_mut(id);
        node.op = Box::new(tract_tensorflow::tract_hir::ops::array::Pad::new(pads, mode));
        node.inputs.truncate(1);
        if let Some(out) = model.node_mut(paddings.node).outputs.get_mut(paddings.slot) {
            out.successors.retain(|s| *s != InletId::new(id, 1));
        }
    }
    Ok(())
}

/// An optimised, runnable model with one NHWC f32 input of `shape`; with
/// `outputs`, those nodes become the model's outputs.
pub fn runnable(
    graph: &GraphDef,
    shape: &[usize],
    outputs: Option<&[&str]>,
) -> Result<std::sync::Arc<TypedRunnableModel>> {
    let inf = |e: TractError| FaceEngineError::Inference(format!("{e:#}"));
    let tf = tract_tensorflow::tensorflow();
    let mut model = tf.model_for_proto_model(graph).map_err(inf)?;
    fix_pads(&mut model)?;
    if let Some(names) = outputs {
        model.select_outputs_by_name(names).map_err(inf)?;
    }
    model
        .with_input_fact(0, f32::fact(shape).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(inf)
}
