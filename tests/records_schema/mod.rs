//! Validation of JSON records against `schema/blickfang-records.schema.json`
//! (boon, JSON Schema 2020-12), for every test that produces records.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/blickfang-records.schema.json")
}

/// The compiled schema: the whole (any record) or one definition (`frame`, ...).
pub struct RecordSchema {
    schemas: boon::Schemas,
    any: boon::SchemaIndex,
    compiler: boon::Compiler,
}

impl RecordSchema {
    pub fn load() -> Self {
        let path = schema_path().canonicalize().expect("schema/blickfang-records.schema.json exists");
        let loc = path.to_str().unwrap().to_string();
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let any = compiler.compile(&loc, &mut schemas).unwrap_or_else(|e| panic!("schema does not compile: {e:#}"));
        Self { schemas, any, compiler }
    }

    fn def(&mut self, name: &str) -> boon::SchemaIndex {
        let loc = format!("{}#/$defs/{name}", schema_path().canonicalize().unwrap().display());
        self.compiler.compile(&loc, &mut self.schemas).unwrap_or_else(|e| panic!("{loc}: {e:#}"))
    }

    /// Panics with the validator's explanation unless `record` is valid.
    pub fn check(&self, record: &Value) {
        if let Err(e) = self.schemas.validate(record, self.any) {
            panic!("record does not match the schema:\n{record}\n{e:#}");
        }
    }

    /// Whether `record` is valid as the definition `name` (`frame`, `person_event`, ...).
    pub fn is_valid_as(&mut self, name: &str, record: &Value) -> bool {
        let idx = self.def(name);
        self.schemas.validate(record, idx).is_ok()
    }

    pub fn is_valid(&self, record: &Value) -> bool {
        self.schemas.validate(record, self.any).is_ok()
    }

    /// Checks every line of an NDJSON text (and that nothing in it could
    /// hold pixels); returns the parsed records.
    pub fn check_lines(&self, text: &str) -> Vec<Value> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
                self.check(&v);
                assert_pixel_free(&v);
                v
            })
            .collect()
    }
}

/// No string longer than 256 characters, no array of more than 32 numbers:
/// nothing that could be a crop, a thumbnail or an embedding.
pub fn assert_pixel_free(v: &Value) {
    fn walk(v: &Value, path: &str) {
        match v {
            Value::String(s) => assert!(s.chars().count() <= 256, "{path}: string of {} characters", s.len()),
            Value::Array(a) => {
                let numbers = a.iter().filter(|x| x.is_number()).count();
                assert!(numbers <= 32, "{path}: array of {numbers} numbers");
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}[{i}]"));
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    walk(x, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }
    walk(v, "$");
    assert!(blickfang::records::is_pixel_free(v), "{v}");
}
