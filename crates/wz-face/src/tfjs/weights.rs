//! The weights of a TFJS model: the `.bin` shards its manifest names,
//! dequantised (uint8 / uint16 with scale and min) or widened (float16) to
//! f32 tensors.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;
use tract_tensorflow::prelude::*;

use super::bad;
use crate::error::{FaceEngineError, Result};

fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let mant = u32::from(bits & 0x3ff);
    let out = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let mut e: i32 = -14;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (((e + 127) as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(out)
}

/// Reads the weights of `manifest` from the shard files beside `dir`.
pub(super) fn weights(dir: &Path, manifest: &Json) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for group in manifest.as_array().ok_or_else(|| bad("weightsManifest"))? {
        let mut bytes = Vec::new();
        for p in group
            .get("paths")
            .and_then(Json::as_array)
            .ok_or_else(|| bad("paths"))?
        {
            let name = p.as_str().ok_or_else(|| bad("path"))?;
            if name.contains('/') || name.contains("..") {
                return Err(bad("weight path leaves the model folder"));
            }
            bytes.extend(
                std::fs::read(dir.join(name))
                    .map_err(|_| FaceEngineError::ModelsMissing(dir.display().to_string()))?,
            );
        }
        let mut offset = 0usize;
        for w in group
            .get("weights")
            .and_then(Json::as_array)
            .ok_or_else(|| bad("weights"))?
        {
            let name = w
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| bad("weight name"))?;
            let dims: Vec<usize> = w
                .get("shape")
                .and_then(Json::as_array)
                .ok_or_else(|| bad("weight shape"))?
                .iter()
                .map(|d| {
                    d.as_u64()
                        .and_then(|d| usize::try_from(d).ok())
                        .ok_or_else(|| bad("weight dim"))
                })
                .collect::<Result<_>>()?;
            let count: usize = dims.iter().product();
            let dtype = w.get("dtype").and_then(Json::as_str).unwrap_or("float32");
            let quant = w.get("quantization");
            let qtype = quant.and_then(|q| q.get("dtype")).and_then(Json::as_str);
            let width = match (dtype, qtype) {
                (_, Some("uint8")) => 1,
                (_, Some("uint16" | "float16")) => 2,
                ("float32" | "int32", None) => 4,
                _ => return Err(bad(format!("weight {name}: unsupported dtype/quantisation"))),
            };
            let len = count * width;
            let raw = bytes
                .get(offset..offset + len)
                .ok_or_else(|| bad(format!("weight {name} beyond the shards")))?;
            offset += len;
            let tensor = match (dtype, qtype) {
                ("int32", None) => {
                    let v: Vec<i32> = raw
                        .as_chunks::<4>()
                        .0
                        .iter()
                        .map(|c| i32::from_le_bytes(*c))
                        .collect();
                    tract_ndarray::ArrayD::from_shape_vec(dims, v)
                        .map_err(|_| bad("shape"))?
                        .into_tensor()
                }
                (_, None) => {
                    let v: Vec<f32> = raw
                        .as_chunks::<4>()
                        .0
                        .iter()
                        .map(|c| f32::from_le_bytes(*c))
                        .collect();
                    tract_ndarray::ArrayD::from_shape_vec(dims, v)
                        .map_err(|_| bad("shape"))?
                        .into_tensor()
                }
                (_, Some("float16")) => {
                    let v: Vec<f32> = raw
                        .as_chunks::<2>()
                        .0
                        .iter()
                        .map(|c| f16_to_f32(u16::from_le_bytes(*c)))
                        .collect();
                    tract_ndarray::ArrayD::from_shape_vec(dims, v)
                        .map_err(|_| bad("shape"))?
                        .into_tensor()
                }
                (_, Some(q)) => {
                    let scale = quant
                        .and_then(|q| q.get("scale"))
                        .and_then(Json::as_f64)
                        .ok_or_else(|| bad("scale"))? as f32;
                    let min = quant
                        .and_then(|q| q.get("min"))
                        .and_then(Json::as_f64)
                        .ok_or_else(|| bad("min"))? as f32;
                    let v: Vec<f32> = if q == "uint8" {
                        raw.iter().map(|b| f32::from(*b) * scale + min).collect()
                    } else {
                        raw.as_chunks::<2>()
                            .0
                            .iter()
                            .map(|c| f32::from(u16::from_le_bytes(*c)) * scale + min)
                            .collect()
                    };
                    tract_ndarray::ArrayD::from_shape_vec(dims, v)
                        .map_err(|_| bad("shape"))?
                        .into_tensor()
                }
            };
            let tensor = if dtype == "int32" && qtype.is_some() {
                tensor
                    .cast_to::<i32>()
                    .map_err(|e| bad(e.to_string()))?
                    .into_owned()
            } else {
                tensor
            };
            out.insert(name.to_owned(), tensor);
        }
    }
    Ok(out)
}
