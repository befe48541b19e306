//! The face recognition network of `@vladmandic/face-api` (a port of dlib's
//! ResNet face descriptor, 150 × 150 → 128 values): the package ships only
//! its weights, the network is code. This builds the same network as a
//! TensorFlow graph, op for op as `faceRecognitionNet` computes it (conv →
//! bias → per-channel scale and offset → ReLU; residual blocks whose
//! down-sampling shortcut is an average pool padded with zero channels).

use std::collections::HashMap;
use std::path::Path;

use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::attr_value::{ListValue, Value};
use tract_tensorflow::tfpb::tensorflow::{AttrValue, GraphDef, NodeDef, TensorProto};

use super::{bad, node, t_attr, weights::weights};
use crate::error::{FaceEngineError, Result};

/// The weights manifest the package ships.
pub const MANIFEST: &str = "face_recognition_model-weights_manifest.json";
/// Input side.
pub const SIZE: usize = 150;
/// Per-channel mean subtracted from 0..255 RGB before dividing by 255.
pub const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];
/// The graph's input and output node names.
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "descriptor";

fn s(v: &str) -> AttrValue {
    AttrValue {
        value: Some(Value::S(v.as_bytes().to_vec())),
    }
}

fn ints(v: &[i64]) -> AttrValue {
    AttrValue {
        value: Some(Value::List(ListValue {
            i: v.to_vec(),
            ..ListValue::default()
        })),
    }
}

fn dtype(code: i32) -> AttrValue {
    AttrValue {
        value: Some(Value::Type(code)),
    }
}

struct Builder {
    nodes: Vec<NodeDef>,
    weights: HashMap<String, Tensor>,
}

impl Builder {
    fn konst(&mut self, name: &str, t: &Tensor, code: i32) -> Result<String> {
        let proto = TensorProto::try_from(t).map_err(|e| bad(e.to_string()))?;
        let attrs = HashMap::from([
            ("dtype".to_owned(), dtype(code)),
            (
                "value".to_owned(),
                AttrValue {
                    value: Some(Value::Tensor(proto)),
                },
            ),
        ]);
        self.nodes.push(node(name, "Const", vec![], attrs));
        Ok(name.to_owned())
    }

    fn weight(&mut self, name: &str) -> Result<String> {
        let t = self
            .weights
            .remove(name)
            .ok_or_else(|| bad(format!("face recognition weights lack {name}")))?;
        self.konst(name, &t, 1)
    }

    fn op(&mut self, name: &str, op: &str, inputs: Vec<String>, extra: &[(&str, AttrValue)]) -> String {
        let mut attrs = t_attr();
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.nodes.push(node(name, op, inputs, attrs));
        name.to_owned()
    }

    /// conv → + bias → · scale + offset → [ReLU]
    fn conv(&mut self, x: String, p: &str, stride: i64, relu: bool, padding: &str) -> Result<String> {
        let filters = self.weight(&format!("{p}/conv/filters"))?;
        let bias = self.weight(&format!("{p}/conv/bias"))?;
        let scale = self.weight(&format!("{p}/scale/weights"))?;
        let offset = self.weight(&format!("{p}/scale/biases"))?;
        let c = self.op(
            &format!("{p}/conv2d"),
            "Conv2D",
            vec![x, filters],
            &[
                ("strides", ints(&[1, stride, stride, 1])),
                ("padding", s(padding)),
                ("data_format", s("NHWC")),
                ("dilations", ints(&[1, 1, 1, 1])),
            ],
        );
        let b = self.op(
            &format!("{p}/bias"),
            "BiasAdd",
            vec![c, bias],
            &[("data_format", s("NHWC"))],
        );
        let m = self.op(&format!("{p}/scale"), "Mul", vec![b, scale], &[]);
        let o = self.op(&format!("{p}/offset"), "AddV2", vec![m, offset], &[]);
        Ok(if relu {
            self.op(&format!("{p}/relu"), "Relu", vec![o], &[])
        } else {
            o
        })
    }

    fn pad(&mut self, name: &str, x: String, pads: [[i32; 2]; 4]) -> Result<String> {
        let flat: Vec<i32> = pads.iter().flatten().copied().collect();
        let t = tract_ndarray::Array2::from_shape_vec((4, 2), flat)
            .map_err(|e| bad(e.to_string()))?
            .into_tensor();
        let p = self.konst(&format!("{name}/paddings"), &t, 3)?;
        let mut attrs = t_attr();
        attrs.insert("Tpaddings".to_owned(), dtype(3));
        self.nodes.push(node(name, "Pad", vec![x, p], attrs));
        Ok(name.to_owned())
    }

    fn residual(&mut self, x: String, p: &str) -> Result<String> {
        let a = self.conv(x.clone(), &format!("{p}/conv1"), 1, true, "SAME")?;
        let b = self.conv(a, &format!("{p}/conv2"), 1, false, "SAME")?;
        let sum = self.op(&format!("{p}/add"), "AddV2", vec![b, x], &[]);
        Ok(self.op(&format!("{p}/out"), "Relu", vec![sum], &[]))
    }

    /// `side` and `channels` are the input's; the block halves the side.
    fn residual_down(
        &mut self,
        x: String,
        p: &str,
        side: usize,
        channels: usize,
        out_channels: usize,
    ) -> Result<(String, usize)> {
        let a = self.conv(x.clone(), &format!("{p}/conv1"), 2, true, "VALID")?;
        let mut b = self.conv(a, &format!("{p}/conv2"), 1, false, "SAME")?;
        let conv_side = (side - 3) / 2 + 1;
        let pool_side = (side - 2) / 2 + 1;
        let mut pooled = self.op(
            &format!("{p}/pool"),
            "AvgPool",
            vec![x],
            &[
                ("ksize", ints(&[1, 2, 2, 1])),
                ("strides", ints(&[1, 2, 2, 1])),
                ("padding", s("VALID")),
                ("data_format", s("NHWC")),
            ],
        );
        if pool_side != conv_side {
            // face-api appends one zero row and one zero column to the conv path.
            b = self.pad(&format!("{p}/pad_hw"), b, [[0, 0], [0, 1], [0, 1], [0, 0]])?;
        }
        if out_channels != channels {
            let extra = i32::try_from(out_channels - channels).map_err(|_| bad("channels"))?;
            pooled = self.pad(
                &format!("{p}/pad_c"),
                pooled,
                [[0, 0], [0, 0], [0, 0], [0, extra]],
            )?;
        }
        let sum = self.op(&format!("{p}/add"), "AddV2", vec![pooled, b], &[]);
        Ok((self.op(&format!("{p}/out"), "Relu", vec![sum], &[]), pool_side))
    }
}

/// The network as a graph (input: `[1, 150, 150, 3]`, already normalised
/// with [`MEAN_RGB`] and / 255; output: the 128-value descriptor).
pub fn load_graph(dir: &Path) -> Result<GraphDef> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .map_err(|_| FaceEngineError::ModelsMissing(dir.display().to_string()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| bad("weights manifest is not JSON"))?;
    let mut b = Builder {
        nodes: Vec::new(),
        weights: weights(dir, &manifest)?,
    };
    let mut attrs = HashMap::from([("dtype".to_owned(), dtype(1))]);
    attrs.insert(
        "shape".to_owned(),
        AttrValue {
            value: Some(Value::Shape(
                tract_tensorflow::tfpb::tensorflow::TensorShapeProto {
                    dim: [1i64, SIZE as i64, SIZE as i64, 3]
                        .iter()
                        .map(|d| tract_tensorflow::tfpb::tensorflow::tensor_shape_proto::Dim {
                            size: *d,
                            name: String::new(),
                        })
                        .collect(),
                    unknown_rank: false,
                },
            )),
        },
    );
    b.nodes.push(node(INPUT, "Placeholder", vec![], attrs));
    let x = b.conv(INPUT.to_owned(), "conv32_down", 2, true, "VALID")?;
    let side = (SIZE - 7) / 2 + 1;
    let mut x = b.op(
        "pool",
        "MaxPool",
        vec![x],
        &[
            ("ksize", ints(&[1, 3, 3, 1])),
            ("strides", ints(&[1, 2, 2, 1])),
            ("padding", s("VALID")),
            ("data_format", s("NHWC")),
        ],
    );
    let mut side = (side - 3) / 2 + 1;
    for p in ["conv32_1", "conv32_2", "conv32_3"] {
        x = b.residual(x, p)?;
    }
    let stages: [(&str, usize, usize, &[&str]); 4] = [
        ("conv64_down", 32, 64, &["conv64_1", "conv64_2", "conv64_3"]),
        ("conv128_down", 64, 128, &["conv128_1", "conv128_2"]),
        ("conv256_down", 128, 256, &["conv256_1", "conv256_2"]),
        ("conv256_down_out", 256, 256, &[]),
    ];
    for (down, c_in, c_out, blocks) in stages {
        let (y, s) = b.residual_down(x, down, side, c_in, c_out)?;
        x = y;
        side = s;
        for p in blocks {
            x = b.residual(x, p)?;
        }
    }
    let axes = b.konst("mean/axes", &tract_ndarray::arr1(&[1i32, 2]).into_tensor(), 3)?;
    let mean = b.op(
        "mean",
        "Mean",
        vec![x, axes],
        &[
            (
                "keep_dims",
                AttrValue {
                    value: Some(Value::B(false)),
                },
            ),
            ("Tidx", dtype(3)),
        ],
    );
    let fc = b.weight("fc")?;
    b.op(
        OUTPUT,
        "MatMul",
        vec![mean, fc],
        &[
            (
                "transpose_a",
                AttrValue {
                    value: Some(Value::B(false)),
                },
            ),
            (
                "transpose_b",
                AttrValue {
                    value: Some(Value::B(false)),
                },
            ),
        ],
    );
    Ok(GraphDef {
        node: b.nodes,
        ..GraphDef::default()
    })
}
