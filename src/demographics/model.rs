//! The age/gender models: which file does what, how each wants its crop, and
//! one batched ONNX Runtime run per model for all faces of a frame.
//!
//! The HSE FaceRes model also has an identity embedding output
//! (`global_pooling/Mean`, 1024 values). It is never fetched: every run asks
//! ONNX Runtime for the gender and age outputs only (an `OutputSelector`), so
//! the embedding never leaves the runtime, and the outputs a run returned are
//! recorded so that a test can prove it.

use std::path::{Path, PathBuf};

use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions};
use ort::value::TensorRef;

use super::align::{CropSpec, FaceGeometry, PixelEncoding, crop_transform, fill_crop, mirror_crop};
use crate::frame::FrameSampler;
use crate::runtime::{self, OutputProblem, RuntimeError, SharedSession};

/// The default: HSE FaceRes, the most accurate on the dev data (README).
pub const DEFAULT_MODEL: &str = "agegender/faceres_hse_agegender.onnx";
/// The small pair: oarriaga's gender mini-Xception and SSR-Net's age model.
pub const SMALL_MODELS: &str = "agegender/oarriaga_gender_minixception.onnx,agegender/ssrnet_age_imdb.onnx";

pub const FACERES_GENDER_OUTPUT: &str = "gender_pred/Sigmoid:0";
pub const FACERES_AGE_OUTPUT: &str = "age_pred/Softmax:0";
/// The identity embedding of FaceRes: never requested, never read.
pub const FACERES_EMBEDDING_OUTPUT: &str = "global_pooling/Mean";

/// Crop scale (in UTKFace chips, see `align::CHIP_TEMPLATE`) for FaceRes:
/// slightly more than a chip scored best on both dev sets.
pub const FACERES_CROP_SCALE: f32 = 1.15;
/// The small models were trained on boxes with 40 % margin on each side
/// (SSR-Net's demo; oarriaga's offsets are similar): about 1.8 YuNet boxes,
/// which is 2.3 chips.
pub const SMALL_CROP_SCALE: f32 = 2.3;

/// What one model file computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelFamily {
    /// HSE FaceRes (MobileNet): P(male) and a 100-bin age distribution.
    FaceRes,
    /// oarriaga/face_classification mini-Xception: softmax [female, male].
    OarriagaGender,
    /// SSR-Net gender: one value, 0 female .. 1 male.
    SsrNetGender,
    /// SSR-Net age: years.
    SsrNetAge,
}

impl ModelFamily {
    pub fn name(&self) -> &'static str {
        match self {
            ModelFamily::FaceRes => "faceres",
            ModelFamily::OarriagaGender => "oarriaga-gender",
            ModelFamily::SsrNetGender => "ssrnet-gender",
            ModelFamily::SsrNetAge => "ssrnet-age",
        }
    }

    fn encoding(&self) -> PixelEncoding {
        match self {
            ModelFamily::FaceRes => PixelEncoding::BgrMinusMean,
            ModelFamily::OarriagaGender => PixelEncoding::GreySigned,
            ModelFamily::SsrNetGender | ModelFamily::SsrNetAge => PixelEncoding::Bgr,
        }
    }

    fn crop_scale(&self) -> f32 {
        match self {
            ModelFamily::FaceRes => FACERES_CROP_SCALE,
            _ => SMALL_CROP_SCALE,
        }
    }
}

/// One classified view, before calibration: the model's own numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawView {
    /// log(P(male) / P(female)).
    pub gender_logit: f32,
    /// Years (FaceRes: the expectation of its age distribution).
    pub age: f32,
}

struct Net {
    path: PathBuf,
    family: ModelFamily,
    /// Shared by every instance with the same model and threads.
    session: SharedSession,
    input_name: String,
    spec: CropSpec,
    /// The only outputs ever requested.
    fetch: Vec<String>,
    options: RunOptions<HasSelectedOutputs>,
}

/// The age/gender model(s) the `model` setting names: one FaceRes file, or
/// "gender.onnx,age.onnx".
pub struct AgeGenderModel {
    nets: Vec<Net>,
    /// Indices into `nets` of the gender and the age model.
    gender: usize,
    age: usize,
    /// Name and shape of every output the last run returned.
    last_outputs: Vec<(String, Vec<i64>)>,
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

impl Net {
    fn load(path: PathBuf, role: Role, onnxruntime: &Path, threads: usize) -> Result<Net, RuntimeError> {
        let fail = |e: &dyn std::fmt::Display| RuntimeError::ModelLoad { path: path.clone(), reason: e.to_string() };
        let shared = runtime::shared_session(onnxruntime, &path, threads)?;
        let (outputs, input_name, in_shape) = {
            let session = shared.lock();
            let outputs: Vec<(String, Vec<i64>)> = session
                .outputs()
                .iter()
                .map(|o| (o.name().to_string(), o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default()))
                .collect();
            let input = session.inputs().first().ok_or_else(|| fail(&"the model has no input"))?;
            let in_shape: Vec<i64> = input.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
            (outputs, input.name().to_string(), in_shape)
        };
        let has = |n: &str| outputs.iter().any(|(o, _)| o == n);
        let wrong = |what: &'static str| RuntimeError::WrongModel {
            path: path.clone(),
            expected: what,
            found: format!("input {input_name} {in_shape:?}, outputs {outputs:?}"),
            hint: "see the `model` property",
        };
        let last_dim = outputs.first().and_then(|(_, s)| s.last().copied());
        let channels = in_shape.get(3).copied();
        let family = match role {
            _ if has(FACERES_GENDER_OUTPUT) && has(FACERES_AGE_OUTPUT) => {
                if role == Role::Age {
                    return Err(wrong("an age-only model (FaceRes gives both: name it alone)"));
                }
                ModelFamily::FaceRes
            }
            Role::Both => return Err(wrong("an age and gender model (HSE FaceRes)")),
            Role::Gender if channels == Some(1) && last_dim == Some(2) => ModelFamily::OarriagaGender,
            Role::Gender if channels == Some(3) && last_dim == Some(1) => ModelFamily::SsrNetGender,
            Role::Gender => return Err(wrong("a gender model (oarriaga mini-Xception or SSR-Net gender)")),
            Role::Age if channels == Some(3) && last_dim == Some(1) => ModelFamily::SsrNetAge,
            Role::Age => return Err(wrong("an age model (SSR-Net age)")),
        };
        let size = match (in_shape.get(1), in_shape.get(2)) {
            (Some(&h), Some(&w)) if h == w && h > 0 => h as usize,
            _ => return Err(wrong("a model with a square NHWC input")),
        };
        let spec = CropSpec { size, scale: family.crop_scale(), encoding: family.encoding() };
        if in_shape.len() != 4 || channels != Some(spec.encoding.channels() as i64) {
            return Err(wrong("a model with an NHWC input of the expected channels"));
        }
        let fetch: Vec<String> = match family {
            ModelFamily::FaceRes => vec![FACERES_GENDER_OUTPUT.into(), FACERES_AGE_OUTPUT.into()],
            _ => vec![outputs[0].0.clone()],
        };
        let selector = fetch.iter().fold(OutputSelector::no_default(), |s, n| s.with(n.as_str()));
        let options = RunOptions::new().map_err(|e| fail(&e))?.with_outputs(selector);
        Ok(Net { path, family, session: shared, input_name, spec, fetch, options })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Both,
    Gender,
    Age,
}

impl AgeGenderModel {
    /// Loads the model(s) named by `spec`: one path, or "gender,age" paths,
    /// each absolute or relative to the model folders.
    pub fn load(spec: &str, onnxruntime: &Path, threads: usize) -> Result<Self, RuntimeError> {
        let parts: Vec<&str> = spec.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        let (nets, gender, age) = match parts.as_slice() {
            [one] => (vec![Net::load(runtime::find_model(one)?, Role::Both, onnxruntime, threads)?], 0, 0),
            [g, a] => {
                let gender = Net::load(runtime::find_model(g)?, Role::Gender, onnxruntime, threads)?;
                let age = Net::load(runtime::find_model(a)?, Role::Age, onnxruntime, threads)?;
                (vec![gender, age], 0, 1)
            }
            _ => {
                return Err(RuntimeError::ModelSpec {
                    spec: spec.to_string(),
                    expected: format!(
                        "one age/gender model or \"gender-model,age-model\" (default {DEFAULT_MODEL}; small pair {SMALL_MODELS})"
                    ),
                });
            }
        };
        Ok(Self { nets, gender, age, last_outputs: Vec::new() })
    }

    /// The families of the gender and the age model.
    pub fn families(&self) -> (ModelFamily, ModelFamily) {
        (self.nets[self.gender].family, self.nets[self.age].family)
    }

    /// The side, in pixels, of the square face crop the gender and the age
    /// model take.
    pub fn input_sizes(&self) -> (usize, usize) {
        (self.nets[self.gender].spec.size, self.nets[self.age].spec.size)
    }

    pub fn paths(&self) -> Vec<&Path> {
        self.nets.iter().map(|n| n.path.as_path()).collect()
    }

    /// The output names runs request, per model file.
    pub fn fetched_outputs(&self) -> Vec<String> {
        self.nets.iter().flat_map(|n| n.fetch.iter().cloned()).collect()
    }

    /// Name and shape of every output the last run returned.
    pub fn last_outputs(&self) -> &[(String, Vec<i64>)] {
        &self.last_outputs
    }

    /// Classifies all `faces` of one frame: one batched run per model file
    /// (with `flip`, each face and its mirror image in the same batch,
    /// averaged). Nothing runs for an empty list.
    pub fn classify(
        &mut self,
        sampler: &FrameSampler<'_, '_>,
        faces: &[FaceGeometry],
        flip: bool,
        crop_scales: &[f32],
    ) -> Result<Vec<RawView>, RuntimeError> {
        let mut views = vec![RawView { gender_logit: 0.0, age: 0.0 }; faces.len()];
        self.last_outputs.clear();
        if faces.is_empty() {
            return Ok(views);
        }
        // Per face: each crop scale, each with its mirror image when `flip`.
        let scales = if crop_scales.is_empty() { &[1.0][..] } else { crop_scales };
        let flips = if flip { 2 } else { 1 };
        let copies = flips * scales.len();
        let (gender_net, age_net) = (self.gender, self.age);
        for (ni, net) in self.nets.iter_mut().enumerate() {
            let spec = net.spec;
            let slot = spec.len();
            let n = faces.len() * copies;
            let mut run = net.session.lock_for_run();
            run.fill_input(n * slot, |input| {
                for (fi, face) in faces.iter().enumerate() {
                    for (si, scale) in scales.iter().enumerate() {
                        let to_crop = crop_transform(face, spec.size, spec.scale * scale)
                            .ok_or_else(|| RuntimeError::FaceGeometry(format!("{face:?}")))?;
                        let o = (fi * copies + si * flips) * slot;
                        fill_crop(sampler, &to_crop, &spec, false, &mut input[o..o + slot]);
                        if flip {
                            // The mirror image is the same samples in mirrored order: copied, not sampled again.
                            let (view, mirror) = input[o..o + 2 * slot].split_at_mut(slot);
                            mirror_crop(view, spec.size, spec.encoding.channels(), mirror);
                        }
                    }
                }
                Ok::<(), RuntimeError>(())
            })?;
            let (session, input) = run.session_and_input();
            let shape = [n, spec.size, spec.size, spec.encoding.channels()];
            let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| RuntimeError::Tensor(e.to_string()))?;
            let outputs = session
                .run_with_options(ort::inputs![net.input_name.as_str() => tensor], &net.options)
                .map_err(|e| RuntimeError::Inference { model: net.path.clone(), reason: e.to_string() })?;
            for name in outputs.keys() {
                let shape = outputs[name].try_extract_tensor::<f32>().map(|(s, _)| s.to_vec()).unwrap_or_default();
                self.last_outputs.push((name.to_string(), shape));
            }
            let get = |name: &str, width: usize| -> Result<&[f32], RuntimeError> {
                let problem = |p: OutputProblem| RuntimeError::output(&net.path, p);
                let value = outputs.get(name).ok_or_else(|| problem(OutputProblem::Missing(name.into())))?;
                let (_, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| problem(OutputProblem::NotF32 { name: name.into(), reason: e.to_string() }))?;
                if data.len() != n * width {
                    return Err(problem(OutputProblem::Size {
                        name: name.into(),
                        found: data.len(),
                        expected: n * width,
                    }));
                }
                Ok(data)
            };
            let mean = |f: &dyn Fn(usize) -> f32, fi: usize| {
                (0..copies).map(|c| f(fi * copies + c)).sum::<f32>() / copies as f32
            };
            if ni == gender_net {
                match net.family {
                    ModelFamily::FaceRes => {
                        let g = get(FACERES_GENDER_OUTPUT, 1)?;
                        for (fi, v) in views.iter_mut().enumerate() {
                            v.gender_logit = mean(&|i| logit(g[i]), fi);
                        }
                    }
                    ModelFamily::OarriagaGender => {
                        let g = get(&net.fetch[0], 2)?;
                        for (fi, v) in views.iter_mut().enumerate() {
                            v.gender_logit = mean(&|i| logit(g[2 * i + 1] / (g[2 * i] + g[2 * i + 1]).max(1e-9)), fi);
                        }
                    }
                    ModelFamily::SsrNetGender => {
                        let g = get(&net.fetch[0], 1)?;
                        for (fi, v) in views.iter_mut().enumerate() {
                            v.gender_logit = mean(&|i| logit(g[i]), fi);
                        }
                    }
                    ModelFamily::SsrNetAge => unreachable!("an age model in the gender role"),
                }
            }
            if ni == age_net {
                match net.family {
                    ModelFamily::FaceRes => {
                        let a = get(FACERES_AGE_OUTPUT, 100)?;
                        let expectation = |i: usize| {
                            a[i * 100..(i + 1) * 100].iter().enumerate().map(|(y, p)| y as f32 * p).sum::<f32>()
                        };
                        for (fi, v) in views.iter_mut().enumerate() {
                            v.age = mean(&expectation, fi);
                        }
                    }
                    ModelFamily::SsrNetAge => {
                        let a = get(&net.fetch[0], 1)?;
                        for (fi, v) in views.iter_mut().enumerate() {
                            v.age = mean(&|i| a[i], fi);
                        }
                    }
                    _ => unreachable!("a gender model in the age role"),
                }
            }
        }
        Ok(views)
    }
}
