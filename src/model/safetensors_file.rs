//! Reading tensors out of a `.safetensors` file into f64 arrays, for any architecture's loader.
//!
//! The file is read whole (GPT-2 small is 0.5 GB); every tensor is converted to f64 on request, with
//! errors that name the file and the tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// A safetensors file held in memory, its tensors addressable by name.
#[derive(Debug)]
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// name -> (dtype, shape), read once from the header.
    index: HashMap<String, (Dtype, Vec<usize>)>,
}

impl TensorFile {
    /// Reads and indexes the file; a file that is not safetensors is a [`Error::Checkpoint`] naming it.
    pub fn open(path: &Path) -> Result<TensorFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let index = {
            let tensors = SafeTensors::deserialize(&bytes).map_err(|e| Error::Checkpoint {
                path: path.display().to_string(),
                message: format!("not a readable safetensors file ({e})"),
            })?;
            tensors
                .iter()
                .map(|(name, view)| (name.to_string(), (view.dtype(), view.shape().to_vec())))
                .collect()
        };
        Ok(TensorFile {
            path: path.to_path_buf(),
            bytes,
            index,
        })
    }

    /// The file's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.index.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.index.get(name).map(|(_, shape)| shape.as_slice())
    }

    /// Tensor `name` as f64 with exactly the shape `expected` (F64, F32, F16 and BF16 are converted exactly).
    pub fn tensor(&self, name: &str, expected: &[usize]) -> Result<ArrayD<f64>> {
        let (dtype, shape) = self.index.get(name).ok_or_else(|| Error::Checkpoint {
            path: self.path.display().to_string(),
            message: format!("missing tensor `{name}`"),
        })?;
        if shape.as_slice() != expected {
            return Err(Error::Shape {
                what: format!("tensor `{name}` in {}", self.path.display()),
                expected: format!("{expected:?}"),
                got: format!("{shape:?}"),
            });
        }
        let tensors = SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Checkpoint {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let view = tensors.tensor(name).map_err(|e| Error::Checkpoint {
            path: self.path.display().to_string(),
            message: format!("tensor `{name}`: {e}"),
        })?;
        let data = view.data();
        let values: Vec<f64> = match dtype {
            Dtype::F64 => chunks::<8>(data).map(f64::from_le_bytes).collect(),
            Dtype::F32 => chunks::<4>(data)
                .map(|b| f32::from_le_bytes(b) as f64)
                .collect(),
            Dtype::BF16 => chunks::<2>(data)
                .map(|b| f32::from_bits((u16::from_le_bytes(b) as u32) << 16) as f64)
                .collect(),
            Dtype::F16 => chunks::<2>(data)
                .map(|b| f16_to_f64(u16::from_le_bytes(b)))
                .collect(),
            other => {
                return Err(Error::Checkpoint {
                    path: self.path.display().to_string(),
                    message: format!(
                        "tensor `{name}` has dtype {other:?}; weights must be F64, F32, F16 or BF16"
                    ),
                })
            }
        };
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("tensor `{name}` in {} (element {bad})", self.path.display()),
            });
        }
        Ok(ArrayD::from_shape_vec(IxDyn(shape), values).expect("safetensors checked the length"))
    }

    /// A 2-D tensor `[rows, cols]`.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f64>> {
        Ok(self
            .tensor(name, &[rows, cols])?
            .into_dimensionality()
            .expect("shape checked"))
    }

    /// A 1-D tensor `[len]`.
    pub fn vector(&self, name: &str, len: usize) -> Result<Array1<f64>> {
        Ok(self
            .tensor(name, &[len])?
            .into_dimensionality()
            .expect("shape checked"))
    }
}

fn chunks<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact gives N bytes"))
}

/// IEEE half precision to f64, exactly (subnormals, infinities and NaN included).
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = ((bits >> 10) & 0x1f) as i32;
    let fraction = (bits & 0x3ff) as f64;
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        0x1f if fraction == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f64;

    #[test]
    fn half_precision_decodes_known_values() {
        // Values from the IEEE 754 binary16 table.
        for (bits, want) in [
            (0x3c00u16, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_953_125),
            (0x7bff, 65504.0),
            (0x0001, 2f64.powi(-24)),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f64(bits), want, "bits {bits:#06x}");
        }
        assert!(f16_to_f64(0x7c00).is_infinite());
        assert!(f16_to_f64(0x7e00).is_nan());
    }
}
