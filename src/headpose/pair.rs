//! The FSA-Net pair file: both upstream models (1x1 and var) in one graph on
//! one shared input, their outputs averaged in the graph (`(a + b) / 2`), the
//! batch axis dynamic, so gazedwell runs once per frame for all faces.
//!
//! `blickfang models install` makes it (no Python on a player): the graph
//! surgery the former `scripts/fsanet_pair.py` did with the `onnx` package.
//! It reads and writes just the ONNX protobuf fields the surgery touches and
//! keeps every other field as its bytes; fields are written in field-number
//! order, as Python's protobuf serialises, so the bytes are the ones the script
//! made (onnx 1.23.2, protobuf 7.36.2): [`PAIR_SHA256`] pins them.

use std::fmt;

/// The pair file, under a models folder.
pub const PAIR_MODEL: &str = "headpose/fsanet-pair-iter-688590.onnx";
/// The upstream files it is made of, in the order of [`make_pair`]'s arguments.
pub const UPSTREAM_MODELS: [&str; 2] = ["headpose/fsanet-1x1-iter-688590.onnx", "headpose/fsanet-var-iter-688590.onnx"];
/// SHA-256 of [`make_pair`]'s output from the two upstream files.
pub const PAIR_SHA256: &str = "8da02f9349cd13933afd3ef9897bb765239fa0f57140e9b829895fff67e192c7";

const PREFIXES: [&str; 2] = ["1x1/", "var/"];
const DOC: &str = "FSA-Net 1x1 and var (iter-688590, omasaht/headpose-fsanet-pytorch, MIT) on one input, \
                   outputs averaged, batch axis dynamic";
/// The script's name, kept: the pinned bytes carry it.
const PRODUCER: &str = "blickfang fsanet_pair.py";

/// Why an upstream file cannot be paired: names the file.
#[derive(Debug, Clone, PartialEq)]
pub struct PairError {
    pub model: &'static str,
    pub problem: String,
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.model, self.problem)
    }
}

impl std::error::Error for PairError {}

/// The pair file's bytes from the bytes of the two upstream files
/// ([`UPSTREAM_MODELS`]: 1x1, then var).
pub fn make_pair(one_by_one: &[u8], var: &[u8]) -> Result<Vec<u8>, PairError> {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut outputs = Vec::new();
    for ((bytes, prefix), model) in [one_by_one, var].into_iter().zip(PREFIXES).zip(UPSTREAM_MODELS) {
        let fail = |problem: String| PairError { model, problem };
        let graph = read_model(bytes).map_err(fail)?;
        let rename =
            |v: &[u8]| if v.is_empty() || v == b"input" { v.to_vec() } else { [prefix.as_bytes(), v].concat() };
        for node in &graph.nodes {
            nodes.push(rename_node(node, prefix, &rename).map_err(fail)?);
        }
        for init in &graph.initializers {
            inits.push(rename_tensor(init, &rename).map_err(fail)?);
        }
        outputs.push(rename(&graph.output));
    }

    // pair/two: data_type FLOAT, float_data [2.0], name; no dims (a scalar).
    let mut two = Vec::new();
    put_varint_field(&mut two, 2, 1);
    put_bytes(&mut two, 4, &2.0f32.to_le_bytes());
    put_bytes(&mut two, 8, b"pair/two");
    inits.push(two);
    let [a, b] = <[Vec<u8>; 2]>::try_from(outputs).expect("two models");
    nodes.push(node(&[&a, &b], b"pair/sum", b"pair/Add", b"Add"));
    nodes.push(node(&[b"pair/sum", b"pair/two"], b"output", b"pair/Div", b"Div"));

    let mut graph = Vec::new();
    for n in &nodes {
        put_bytes(&mut graph, 1, n);
    }
    put_bytes(&mut graph, 2, b"fsanet-pair");
    for t in &inits {
        put_bytes(&mut graph, 5, t);
    }
    put_bytes(&mut graph, 11, &value_info(b"input", &[Dim::Param("N"), Dim::Value(3), Dim::Value(64), Dim::Value(64)]));
    put_bytes(&mut graph, 12, &value_info(b"output", &[Dim::Param("N"), Dim::Value(3)]));

    let mut opset = Vec::new();
    put_bytes(&mut opset, 1, b"");
    put_varint_field(&mut opset, 2, 9);

    let mut out = Vec::with_capacity(graph.len() + 256);
    put_varint_field(&mut out, 1, 6); // ir_version
    put_bytes(&mut out, 2, PRODUCER.as_bytes());
    put_bytes(&mut out, 3, b"1"); // producer_version
    put_bytes(&mut out, 6, DOC.as_bytes());
    put_bytes(&mut out, 7, &graph);
    put_bytes(&mut out, 8, &opset);
    Ok(out)
}

/// What the surgery reads of an upstream model: the graph's nodes and
/// initializers (as bytes) and the name of its one output.
struct Graph<'a> {
    nodes: Vec<&'a [u8]>,
    initializers: Vec<&'a [u8]>,
    output: Vec<u8>,
}

fn read_model(bytes: &[u8]) -> Result<Graph<'_>, String> {
    let model = fields(bytes).map_err(|e| format!("not an ONNX model ({e})"))?;
    let mut graph = None;
    let mut default_opsets = Vec::new();
    for f in &model {
        match (f.number, &f.value) {
            (7, Value::Bytes(g)) => graph = Some(*g),
            (8, Value::Bytes(o)) => {
                let o = fields(o).map_err(|e| format!("bad opset_import ({e})"))?;
                let domain = last_bytes(&o, 1).unwrap_or(b"");
                if domain.is_empty() || domain == b"ai.onnx" {
                    default_opsets.push(last_varint(&o, 2).unwrap_or(0));
                }
            }
            _ => {}
        }
    }
    if default_opsets != [9] {
        return Err(format!("opset 9 expected, found {default_opsets:?}"));
    }
    let graph = fields(graph.ok_or("no graph")?).map_err(|e| format!("bad graph ({e})"))?;
    let mut out = Graph { nodes: Vec::new(), initializers: Vec::new(), output: Vec::new() };
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for f in &graph {
        match (f.number, &f.value) {
            (1, Value::Bytes(n)) => out.nodes.push(*n),
            (5, Value::Bytes(t)) => out.initializers.push(*t),
            (11, Value::Bytes(v)) => inputs.push(value_info_name(v)?),
            (12, Value::Bytes(v)) => outputs.push(value_info_name(v)?),
            _ => {}
        }
    }
    let ([input], [output]) = (&inputs[..], &mut outputs[..]) else {
        return Err(format!("one input and one output expected, found {} and {}", inputs.len(), outputs.len()));
    };
    // The pair declares its input as `input` and keeps the nodes' references to it.
    if input != b"input" {
        return Err(format!("input named {:?} expected to be \"input\"", String::from_utf8_lossy(input)));
    }
    out.output = std::mem::take(output);
    Ok(out)
}

fn value_info_name(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let v = fields(bytes).map_err(|e| format!("bad value info ({e})"))?;
    Ok(last_bytes(&v, 1).unwrap_or(b"").to_vec())
}

/// A node with its name prefixed and its inputs and outputs renamed; its other
/// fields (op_type, attributes, ...) kept as they are, in field-number order.
fn rename_node(bytes: &[u8], prefix: &str, rename: &dyn Fn(&[u8]) -> Vec<u8>) -> Result<Vec<u8>, String> {
    let fs = fields(bytes).map_err(|e| format!("bad node ({e})"))?;
    let name = last_bytes(&fs, 3).unwrap_or(b"");
    let mut out = Vec::with_capacity(bytes.len() + 64);
    for number in [1, 2] {
        for f in fs.iter().filter(|f| f.number == number) {
            let Value::Bytes(v) = f.value else { return Err("a node input or output is not a string".into()) };
            put_bytes(&mut out, number, &rename(v));
        }
    }
    // The script sets the name even where a node had none.
    put_bytes(&mut out, 3, &[prefix.as_bytes(), name].concat());
    put_sorted(&mut out, fs.iter().filter(|f| f.number > 3));
    Ok(out)
}

/// An initializer renamed, its other fields (dims, data, ...) kept as they are.
fn rename_tensor(bytes: &[u8], rename: &dyn Fn(&[u8]) -> Vec<u8>) -> Result<Vec<u8>, String> {
    let fs = fields(bytes).map_err(|e| format!("bad initializer ({e})"))?;
    let name = rename(last_bytes(&fs, 8).unwrap_or(b""));
    let mut out = Vec::with_capacity(bytes.len() + 16);
    put_sorted(&mut out, fs.iter().filter(|f| f.number < 8));
    put_bytes(&mut out, 8, &name);
    put_sorted(&mut out, fs.iter().filter(|f| f.number > 8));
    Ok(out)
}

fn node(inputs: &[&[u8]], output: &[u8], name: &[u8], op_type: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in inputs {
        put_bytes(&mut out, 1, i);
    }
    put_bytes(&mut out, 2, output);
    put_bytes(&mut out, 3, name);
    put_bytes(&mut out, 4, op_type);
    out
}

enum Dim {
    Value(u64),
    Param(&'static str),
}

/// A float tensor's ValueInfoProto: name, type { tensor_type { elem_type, shape { dim... } } }.
fn value_info(name: &[u8], dims: &[Dim]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d {
            Dim::Value(v) => put_varint_field(&mut dim, 1, *v),
            Dim::Param(p) => put_bytes(&mut dim, 2, p.as_bytes()),
        }
        put_bytes(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    put_varint_field(&mut tensor, 1, 1); // FLOAT
    put_bytes(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    put_bytes(&mut ty, 1, &tensor);
    let mut out = Vec::new();
    put_bytes(&mut out, 1, name);
    put_bytes(&mut out, 2, &ty);
    out
}

// The protobuf wire format, just what the above needs.

#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

#[derive(Debug, Clone, PartialEq)]
struct Field<'a> {
    number: u32,
    value: Value<'a>,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = pos.checked_add(n).filter(|&e| e <= buf.len()).ok_or("truncated field")?;
    let s = &buf[*pos..end];
    *pos = end;
    Ok(s)
}

/// The fields of one message, in the order they appear.
fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).ok().filter(|&n| n > 0).ok_or(format!("bad field number at {pos}"))?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut pos)?),
            1 => Value::Fixed64(take(buf, &mut pos, 8)?.try_into().expect("8 bytes")),
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).map_err(|_| "length too large")?;
                Value::Bytes(take(buf, &mut pos, len)?)
            }
            5 => Value::Fixed32(take(buf, &mut pos, 4)?.try_into().expect("4 bytes")),
            w => return Err(format!("unsupported wire type {w} in field {number}")),
        };
        out.push(Field { number, value });
    }
    Ok(out)
}

/// The last occurrence wins for a singular field, as protobuf reads it.
fn last_bytes<'a>(fs: &[Field<'a>], number: u32) -> Option<&'a [u8]> {
    fs.iter().rev().find_map(|f| match f.value {
        Value::Bytes(b) if f.number == number => Some(b),
        _ => None,
    })
}

fn last_varint(fs: &[Field<'_>], number: u32) -> Option<u64> {
    fs.iter().rev().find_map(|f| match f.value {
        Value::Varint(v) if f.number == number => Some(v),
        _ => None,
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    put_varint(out, u64::from(number) << 3);
    put_varint(out, v);
}

fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_varint(out, u64::from(number) << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_field(out: &mut Vec<u8>, f: &Field<'_>) {
    match &f.value {
        Value::Varint(v) => put_varint_field(out, f.number, *v),
        Value::Fixed64(b) => {
            put_varint(out, u64::from(f.number) << 3 | 1);
            out.extend_from_slice(b);
        }
        Value::Bytes(b) => put_bytes(out, f.number, b),
        Value::Fixed32(b) => {
            put_varint(out, u64::from(f.number) << 3 | 5);
            out.extend_from_slice(b);
        }
    }
}

/// Fields in field-number order (stable: a repeated field keeps its order).
fn put_sorted<'a>(out: &mut Vec<u8>, fs: impl Iterator<Item = &'a Field<'a>>) {
    let mut fs: Vec<&Field<'_>> = fs.collect();
    fs.sort_by_key(|f| f.number);
    for f in fs {
        put_field(out, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips() {
        let mut buf = Vec::new();
        put_varint_field(&mut buf, 1, 300);
        put_bytes(&mut buf, 2, b"abc");
        put_field(&mut buf, &Field { number: 3, value: Value::Fixed32([1, 2, 3, 4]) });
        put_field(&mut buf, &Field { number: 20, value: Value::Fixed64([9; 8]) });
        // 300 = 0b10_0101100: two varint bytes; field 20's key needs two bytes too.
        assert_eq!(&buf[..3], &[0x08, 0xac, 0x02]);
        let fs = fields(&buf).unwrap();
        assert_eq!(fs.len(), 4);
        assert_eq!(fs[0].value, Value::Varint(300));
        assert_eq!(fs[1].value, Value::Bytes(b"abc"));
        assert_eq!(fs[3], Field { number: 20, value: Value::Fixed64([9; 8]) });
        let mut again = Vec::new();
        put_sorted(&mut again, fs.iter());
        assert_eq!(again, buf);
        assert!(fields(&[0x12, 0x05, b'a']).unwrap_err().contains("truncated"));
        assert!(fields(&[0x0b]).unwrap_err().contains("wire type 3"));
    }

    /// A tiny model in the upstream files' shape: one Relu node from `input`
    /// through an initializer-less graph, opset 9.
    fn tiny(opset: u64, input: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        put_bytes(&mut n, 1, input);
        put_bytes(&mut n, 1, b"");
        put_bytes(&mut n, 2, b"y");
        put_bytes(&mut n, 4, b"Relu");
        put_bytes(&mut n, 7, b"");
        let mut t = Vec::new();
        put_varint_field(&mut t, 1, 2);
        put_varint_field(&mut t, 2, 1);
        put_bytes(&mut t, 8, b"w");
        put_bytes(&mut t, 9, &[0; 8]);
        let mut g = Vec::new();
        put_bytes(&mut g, 1, &n);
        put_bytes(&mut g, 2, b"torch-jit-export");
        put_bytes(&mut g, 5, &t);
        put_bytes(&mut g, 11, &value_info(input, &[Dim::Value(1), Dim::Value(3), Dim::Value(64), Dim::Value(64)]));
        put_bytes(&mut g, 12, &value_info(b"y", &[Dim::Value(1), Dim::Value(3)]));
        let mut o = Vec::new();
        put_varint_field(&mut o, 2, opset);
        let mut m = Vec::new();
        put_varint_field(&mut m, 1, 4);
        put_bytes(&mut m, 7, &g);
        put_bytes(&mut m, 8, &o);
        m
    }

    #[test]
    fn nodes_and_initializers_get_their_prefix_but_the_input_and_empty_names_do_not() {
        let m = tiny(9, b"input");
        let pair = make_pair(&m, &m).unwrap();
        let model = fields(&pair).unwrap();
        assert_eq!(last_varint(&model, 1), Some(6));
        let graph = fields(last_bytes(&model, 7).unwrap()).unwrap();
        assert_eq!(last_bytes(&graph, 2), Some(&b"fsanet-pair"[..]));
        let strings = |bytes: &[u8], number| -> Vec<Vec<u8>> {
            fields(bytes)
                .unwrap()
                .iter()
                .filter(|f| f.number == number)
                .map(|f| match f.value {
                    Value::Bytes(b) => b.to_vec(),
                    _ => panic!("not a string"),
                })
                .collect()
        };
        let nodes: Vec<&[u8]> = graph
            .iter()
            .filter(|f| f.number == 1)
            .map(|f| match f.value {
                Value::Bytes(b) => b,
                _ => panic!(),
            })
            .collect();
        assert_eq!(nodes.len(), 4);
        assert_eq!(strings(nodes[0], 1), [b"input".to_vec(), vec![]]);
        assert_eq!(strings(nodes[0], 2), [b"1x1/y".to_vec()]);
        // A node without a name gets the bare prefix, as the script's `n.name = prefix + n.name`.
        assert_eq!(strings(nodes[1], 3), [b"var/".to_vec()]);
        // Untouched fields stay, after the renamed ones.
        assert_eq!(strings(nodes[1], 4), [b"Relu".to_vec()]);
        assert_eq!(strings(nodes[1], 7), [Vec::<u8>::new()]);
        assert_eq!(strings(nodes[2], 1), [b"1x1/y".to_vec(), b"var/y".to_vec()]);
        assert_eq!(strings(nodes[3], 2), [b"output".to_vec()]);
        let inits: Vec<Vec<u8>> = strings(last_bytes(&model, 7).unwrap(), 5);
        assert_eq!(inits.len(), 3);
        assert_eq!(strings(&inits[1], 8), [b"var/w".to_vec()]);
        // The name goes between data_type and raw_data, in field-number order.
        let numbers: Vec<u32> = fields(&inits[0]).unwrap().iter().map(|f| f.number).collect();
        assert_eq!(numbers, [1, 2, 8, 9]);
        assert_eq!(
            inits[2],
            [0x10, 0x01, 0x22, 0x04, 0, 0, 0, 0x40, 0x42, 0x08, b'p', b'a', b'i', b'r', b'/', b't', b'w', b'o']
        );
    }

    #[test]
    fn other_models_are_refused_naming_the_file() {
        let e = make_pair(&tiny(9, b"input"), &tiny(11, b"input")).unwrap_err();
        assert_eq!(e.model, UPSTREAM_MODELS[1]);
        assert!(e.to_string().contains("opset 9 expected, found [11]"), "{e}");
        let e = make_pair(&tiny(9, b"x"), &tiny(9, b"input")).unwrap_err();
        assert!(e.to_string().starts_with(UPSTREAM_MODELS[0]) && e.problem.contains("\"x\""), "{e}");
        let e = make_pair(b"\xff", &tiny(9, b"input")).unwrap_err();
        assert!(e.problem.contains("not an ONNX model"), "{e}");
    }
}
