//! An operator's ONNX embedder in place of faceres: a small real ONNX model
//! (per-channel mean of the normalised crop, NCHW, written here with the
//! ONNX protobuf schema) loaded by tract-onnx through the engine, with its
//! own template id, input normalisation and output selection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use prost::Message as _;
use tract_onnx::pb;
use wz_face::onnx::{Alignment, EmbedderSpec, Layout};
use wz_face::pipeline::FaceModel;

fn tensor_value(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// input [1,3,N,N] → GlobalAveragePool → Flatten(axis 1) → "embedding" [1,3].
fn mean_colour_model() -> Vec<u8> {
    let node = |op: &str, input: &str, output: &str, attribute: Vec<pb::AttributeProto>| pb::NodeProto {
        input: vec![input.into()],
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    };
    let axis = pb::AttributeProto {
        name: "axis".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "mean-colour".into(),
            node: vec![
                node("GlobalAveragePool", "input", "pooled", vec![]),
                node("Flatten", "pooled", "embedding", vec![axis]),
            ],
            input: vec![tensor_value("input")],
            output: vec![tensor_value("embedding")],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn onnx_embedder_runs_in_the_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("mean-colour.onnx");
    std::fs::write(&path, mean_colour_model()).unwrap();
    let spec = EmbedderSpec {
        path: path.clone(),
        model_id: "test/mean-colour/v1".into(),
        input_size: 32,
        layout: Layout::Nchw,
        mean: [127.5; 3],
        std: [127.5; 3],
        output: Some("embedding".into()),
        crop_scale: None,
        align: Alignment::Box,
    };
    let dir = wz_face::default_models_dir();
    // An ONNX embedder without a calibrated threshold is refused.
    assert!(wz_face::Engine::load_with(&dir, None, FaceModel::default(), Some(&spec)).is_err());
    let engine = wz_face::Engine::load_with(&dir, Some(0.99), FaceModel::default(), Some(&spec)).unwrap();
    assert_eq!(engine.model_id(), "test/mean-colour/v1");

    let faces = dir.join("../../test-faces/face_recognition-1.3.0");
    let photo = std::fs::read(faces.join("obama.jpg")).unwrap();
    let template = engine.template(&photo).unwrap().unwrap();
    assert_eq!(template.len(), 3 * 4, "a 3-value embedding");
    // The same photo matches itself; faceres-sized templates are another model's.
    let check = engine
        .check_live(std::slice::from_ref(&photo), &[], &template)
        .unwrap()
        .unwrap();
    assert!(check.matched && check.score > 0.999, "{}", check.score);
    assert_eq!(
        engine
            .check_live(std::slice::from_ref(&photo), &[], &vec![0u8; 4096])
            .unwrap(),
        Err(wz_face::CaptureFault::TemplateMismatch)
    );

    // A missing file, a bad layout size or an unknown output name are clear errors.
    // The same model fed five-point aligned crops (ArcFace template) runs too.
    let aligned = EmbedderSpec {
        align: Alignment::Arcface,
        ..spec.clone()
    };
    let engine = wz_face::Engine::load_with(&dir, Some(0.99), FaceModel::default(), Some(&aligned)).unwrap();
    let t2 = engine.template(&photo).unwrap().unwrap();
    assert_eq!(t2.len(), 3 * 4);
    assert_ne!(t2, template, "another crop gives another mean colour");
    let missing = EmbedderSpec {
        path: tmp.path().join("nope.onnx"),
        ..spec.clone()
    };
    assert!(matches!(
        wz_face::onnx::OnnxEmbedder::load(&missing),
        Err(wz_face::FaceEngineError::ModelsMissing(_))
    ));
    let zero_std = EmbedderSpec {
        std: [0.0; 3],
        ..spec.clone()
    };
    assert!(wz_face::onnx::OnnxEmbedder::load(&zero_std).is_err());
    let wrong_output = EmbedderSpec {
        output: Some("no-such-node".into()),
        ..spec
    };
    assert!(wz_face::onnx::OnnxEmbedder::load(&wrong_output).is_err());
}
