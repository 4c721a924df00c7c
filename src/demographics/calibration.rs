//! Calibration: the models' own numbers → probabilities and ages that mean
//! what they say.
//!
//! Both dev sets show the same two biases of the HSE model (README,
//! "demographics"): it calls older women men, and it squeezes ages towards
//! the middle (a 75-year-old comes out near 60), more for women than for men.
//! A logistic recalibration of the gender logit that also sees the raw age,
//! and a stretch of ages above a knee whose slope depends on the gender,
//! correct both with five numbers per model. They were fitted by
//! `tests/reference/fit_demographics_calibration.py` on the raw (`calibrate=false`)
//! output of `blickfang analyze`; fitted on either dev set alone, they
//! improve the other one too (numbers in that script's output).

use super::model::{ModelFamily, RawView};

/// Maps fused raw model output to P(male) and an age in years.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// P(male) = sigmoid(g[0] + g[1]·logit + g[2]·(raw age − 40) / 20).
    pub gender: [f32; 3],
    /// Ages above the knee are stretched by a slope that runs from
    /// `slope_female` (P(male) = 0) to `slope_male` (P(male) = 1).
    pub age_knee: f32,
    pub age_slope_female: f32,
    pub age_slope_male: f32,
}

impl Calibration {
    /// The models' numbers unchanged.
    pub const IDENTITY: Calibration =
        Calibration { gender: [0.0, 1.0, 0.0], age_knee: 0.0, age_slope_female: 1.0, age_slope_male: 1.0 };

    /// HSE FaceRes (crop scale 1.15 chips, mirrored views averaged).
    pub const FACERES: Calibration =
        Calibration { gender: [-1.08, 1.63, -0.70], age_knee: 32.0, age_slope_female: 1.50, age_slope_male: 1.15 };

    /// oarriaga gender + SSR-Net age.
    pub const SMALL_PAIR: Calibration = Calibration::IDENTITY;

    /// The fitted calibration for a gender/age model pair; identity for a
    /// pair nobody fitted.
    pub fn for_models(gender: ModelFamily, age: ModelFamily) -> Calibration {
        match (gender, age) {
            (ModelFamily::FaceRes, ModelFamily::FaceRes) => Self::FACERES,
            (ModelFamily::OarriagaGender, ModelFamily::SsrNetAge) => Self::SMALL_PAIR,
            _ => Self::IDENTITY,
        }
    }

    /// P(male) and age in years.
    pub fn apply(&self, raw: RawView) -> (f32, f32) {
        let g = self.gender;
        let z = g[0] + g[1] * raw.gender_logit + g[2] * (raw.age - 40.0) / 20.0;
        let p_male = 1.0 / (1.0 + (-z).exp());
        let slope = self.age_slope_female * (1.0 - p_male) + self.age_slope_male * p_male;
        let age = if raw.age > self.age_knee { self.age_knee + slope * (raw.age - self.age_knee) } else { raw.age };
        (p_male, age.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_keeps_the_numbers() {
        let (p, age) = Calibration::IDENTITY.apply(RawView { gender_logit: 0.0, age: 37.5 });
        assert!((p - 0.5).abs() < 1e-6);
        assert!((age - 37.5).abs() < 1e-4);
        let (p, _) = Calibration::IDENTITY.apply(RawView { gender_logit: 2.0, age: 37.5 });
        assert!((p - 0.8808).abs() < 1e-3);
    }

    #[test]
    fn stretch_only_above_the_knee_and_more_for_women() {
        let c = Calibration { gender: [0.0, 1.0, 0.0], age_knee: 30.0, age_slope_female: 1.5, age_slope_male: 1.0 };
        assert_eq!(c.apply(RawView { gender_logit: -10.0, age: 20.0 }).1, 20.0);
        let woman = c.apply(RawView { gender_logit: -10.0, age: 60.0 }).1;
        let man = c.apply(RawView { gender_logit: 10.0, age: 60.0 }).1;
        assert!((woman - 75.0).abs() < 0.01, "{woman}");
        assert!((man - 60.0).abs() < 0.01, "{man}");
    }
}
