// `workd gen --lang rust`: one module file for rustc (std only, 1.63, target
// wasm32-wasi, cdylib): the ABI imports and `workd_alloc` in `workd`, a struct
// per message with `decode`/`encode`, and per service a trait the author
// implements for `<Service>Server`, whose method exports decode the request,
// call it and encode the answer or the error status.
import { WIRE, isPackable, snake, type GenField, type GenModel, type Scalar, type ValueType } from './model.js';

const R_TYPE: Record<Scalar, string> = {
  double: 'f64', float: 'f32', int64: 'i64', uint64: 'u64', int32: 'i32', fixed64: 'u64', fixed32: 'u32', bool: 'bool',
  string: 'String', bytes: 'Vec<u8>', uint32: 'u32', sfixed32: 'i32', sfixed64: 'i64', sint32: 'i32', sint64: 'i64',
};

const KEYWORDS = new Set(
  ('as break const continue crate else enum extern false fn for if impl in let loop match mod move mut pub ref return ' +
    'static struct super trait true type unsafe use where while async await dyn abstract become box do final macro override ' +
    'priv typeof unsized virtual yield try').split(' '),
);

// Names of the prelude a message or enum must not shadow in the generated module.
const PRELUDE = new Set(['Option', 'Some', 'None', 'Result', 'Ok', 'Err', 'String', 'Vec', 'Box', 'Default', 'Self', 'workd']);

/** A message's or enum's name in Rust. */
function typeName(local: string): string {
  return PRELUDE.has(local) ? `${local}_` : local;
}

function id(name: string): string {
  if (name === 'self' || name === 'Self' || name === 'super' || name === 'crate') return `${name}_`;
  return KEYWORDS.has(name) ? `r#${name}` : name;
}

const RUNTIME = String.raw`/// The node's ABI (docs/guest-abi.md): status, metadata and the wire format the generated code uses.
pub mod workd {
    #[link(wasm_import_module = "workd")]
    extern "C" {
        fn respond(ptr: *const u8, len: i32);
        fn status_message(ptr: *const u8, len: i32);
        fn metadata_get(key_ptr: *const u8, key_len: i32, out_ptr: *mut u8, out_cap: i32) -> i32;
        fn metadata_set(key_ptr: *const u8, key_len: i32, val_ptr: *const u8, val_len: i32);
    }

    /// A gRPC status code.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Code(pub i32);
    impl Code {
        pub const OK: Code = Code(0);
        pub const CANCELLED: Code = Code(1);
        pub const UNKNOWN: Code = Code(2);
        pub const INVALID_ARGUMENT: Code = Code(3);
        pub const DEADLINE_EXCEEDED: Code = Code(4);
        pub const NOT_FOUND: Code = Code(5);
        pub const ALREADY_EXISTS: Code = Code(6);
        pub const PERMISSION_DENIED: Code = Code(7);
        pub const RESOURCE_EXHAUSTED: Code = Code(8);
        pub const FAILED_PRECONDITION: Code = Code(9);
        pub const ABORTED: Code = Code(10);
        pub const OUT_OF_RANGE: Code = Code(11);
        pub const UNIMPLEMENTED: Code = Code(12);
        pub const INTERNAL: Code = Code(13);
        pub const UNAVAILABLE: Code = Code(14);
        pub const DATA_LOSS: Code = Code(15);
        pub const UNAUTHENTICATED: Code = Code(16);
    }

    /// A failed call: its code and the message the caller sees.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Status {
        pub code: Code,
        pub message: String,
    }
    impl Status {
        pub fn new(code: Code, message: impl Into<String>) -> Status {
            Status { code, message: message.into() }
        }
    }

    /// The request metadata of key (lowercase ASCII) as text; several values come joined by ", ".
    pub fn metadata(key: &str) -> Option<String> {
        metadata_bin(key).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The request metadata of key as bytes (for keys ending in -bin: the first value, decoded).
    pub fn metadata_bin(key: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        let n = unsafe { metadata_get(key.as_ptr(), key.len() as i32, buf.as_mut_ptr(), buf.len() as i32) };
        if n < 0 {
            return None;
        }
        if n as usize > buf.len() {
            buf = vec![0u8; n as usize];
            unsafe { metadata_get(key.as_ptr(), key.len() as i32, buf.as_mut_ptr(), buf.len() as i32) };
        }
        buf.truncate(n as usize);
        Some(buf)
    }

    /// Adds a response trailer: printable ASCII, or any bytes under a key ending in -bin.
    pub fn set_trailer(key: &str, value: impl AsRef<[u8]>) {
        let v = value.as_ref();
        unsafe { metadata_set(key.as_ptr(), key.len() as i32, v.as_ptr(), v.len() as i32) };
    }

    /// The node copies each request here. Each call runs on a pristine instance, so nothing is freed.
    #[no_mangle]
    pub extern "C" fn workd_alloc(size: i32) -> *mut u8 {
        let mut v: Vec<u8> = Vec::with_capacity(size.max(1) as usize);
        let p = v.as_mut_ptr();
        std::mem::forget(v);
        p
    }

    /// What every method export does: decode, call, answer.
    pub fn serve<Req>(ptr: *const u8, len: i32, request_type: &str, decode: fn(&[u8]) -> Option<Req>, call: impl FnOnce(Req) -> Result<Vec<u8>, Status>) -> i32 {
        let bytes: &[u8] = if len <= 0 { &[] } else { unsafe { std::slice::from_raw_parts(ptr, len as usize) } };
        let answer = match decode(bytes) {
            Some(req) => call(req),
            None => Err(Status::new(Code::INVALID_ARGUMENT, format!("malformed {}", request_type))),
        };
        match answer {
            Ok(out) => {
                unsafe { respond(out.as_ptr(), out.len() as i32) };
                0
            }
            Err(s) => {
                unsafe { status_message(s.message.as_ptr(), s.message.len() as i32) };
                s.code.0
            }
        }
    }

    /// Reads a message's fields in place.
    pub struct Reader<'a> {
        buf: &'a [u8],
        pos: usize,
    }
    impl<'a> Reader<'a> {
        pub fn new(buf: &'a [u8]) -> Reader<'a> {
            Reader { buf, pos: 0 }
        }
        pub fn done(&self) -> bool {
            self.pos >= self.buf.len()
        }
        pub fn varint(&mut self) -> Option<u64> {
            let mut v = 0u64;
            let mut shift = 0;
            while shift < 64 {
                let b = *self.buf.get(self.pos)?;
                self.pos += 1;
                v |= ((b & 0x7f) as u64) << shift;
                if b & 0x80 == 0 {
                    return Some(v);
                }
                shift += 7;
            }
            None
        }
        /// The next field's number and wire type.
        pub fn tag(&mut self) -> Option<(u32, u32)> {
            let t = self.varint()?;
            let field = t >> 3;
            if field == 0 || field > 0x1fff_ffff {
                return None;
            }
            Some((field as u32, (t & 7) as u32))
        }
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let end = self.pos.checked_add(n)?;
            let s = self.buf.get(self.pos..end)?;
            self.pos = end;
            Some(s)
        }
        pub fn bytes(&mut self) -> Option<&'a [u8]> {
            let n = self.varint()?;
            if n > usize::MAX as u64 {
                return None;
            }
            self.take(n as usize)
        }
        pub fn fixed32(&mut self) -> Option<u32> {
            let s = self.take(4)?;
            Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        }
        pub fn fixed64(&mut self) -> Option<u64> {
            let s = self.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Some(u64::from_le_bytes(a))
        }
        /// Skips a field the message does not know.
        pub fn skip(&mut self, wire: u32) -> Option<()> {
            match wire {
                0 => self.varint().map(|_| ()),
                1 => self.take(8).map(|_| ()),
                2 => self.bytes().map(|_| ()),
                5 => self.take(4).map(|_| ()),
                _ => None,
            }
        }
    }

    pub fn get_uint64(r: &mut Reader) -> Option<u64> { r.varint() }
    pub fn get_int64(r: &mut Reader) -> Option<i64> { r.varint().map(|v| v as i64) }
    pub fn get_int32(r: &mut Reader) -> Option<i32> { r.varint().map(|v| v as i32) }
    pub fn get_uint32(r: &mut Reader) -> Option<u32> { r.varint().map(|v| v as u32) }
    pub fn get_bool(r: &mut Reader) -> Option<bool> { r.varint().map(|v| v != 0) }
    pub fn get_sint32(r: &mut Reader) -> Option<i32> { r.varint().map(|v| ((v as u32) >> 1) as i32 ^ -((v & 1) as i32)) }
    pub fn get_sint64(r: &mut Reader) -> Option<i64> { r.varint().map(|v| (v >> 1) as i64 ^ -((v & 1) as i64)) }
    pub fn get_fixed32(r: &mut Reader) -> Option<u32> { r.fixed32() }
    pub fn get_sfixed32(r: &mut Reader) -> Option<i32> { r.fixed32().map(|v| v as i32) }
    pub fn get_float(r: &mut Reader) -> Option<f32> { r.fixed32().map(f32::from_bits) }
    pub fn get_fixed64(r: &mut Reader) -> Option<u64> { r.fixed64() }
    pub fn get_sfixed64(r: &mut Reader) -> Option<i64> { r.fixed64().map(|v| v as i64) }
    pub fn get_double(r: &mut Reader) -> Option<f64> { r.fixed64().map(f64::from_bits) }
    pub fn get_bytes(r: &mut Reader) -> Option<Vec<u8>> { r.bytes().map(|b| b.to_vec()) }
    pub fn get_string(r: &mut Reader) -> Option<String> { r.bytes().and_then(|b| String::from_utf8(b.to_vec()).ok()) }

    pub fn put_uint64(w: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            w.push((v as u8) | 0x80);
            v >>= 7;
        }
        w.push(v as u8);
    }
    pub fn put_tag(w: &mut Vec<u8>, field: u32, wire: u32) { put_uint64(w, ((field as u64) << 3) | wire as u64) }
    pub fn put_int64(w: &mut Vec<u8>, v: i64) { put_uint64(w, v as u64) }
    pub fn put_int32(w: &mut Vec<u8>, v: i32) { put_uint64(w, v as i64 as u64) }
    pub fn put_uint32(w: &mut Vec<u8>, v: u32) { put_uint64(w, v as u64) }
    pub fn put_bool(w: &mut Vec<u8>, v: bool) { put_uint64(w, v as u64) }
    pub fn put_sint32(w: &mut Vec<u8>, v: i32) { put_uint64(w, ((v << 1) ^ (v >> 31)) as u32 as u64) }
    pub fn put_sint64(w: &mut Vec<u8>, v: i64) { put_uint64(w, ((v << 1) ^ (v >> 63)) as u64) }
    pub fn put_fixed32(w: &mut Vec<u8>, v: u32) { w.extend_from_slice(&v.to_le_bytes()) }
    pub fn put_sfixed32(w: &mut Vec<u8>, v: i32) { w.extend_from_slice(&v.to_le_bytes()) }
    pub fn put_float(w: &mut Vec<u8>, v: f32) { w.extend_from_slice(&v.to_bits().to_le_bytes()) }
    pub fn put_fixed64(w: &mut Vec<u8>, v: u64) { w.extend_from_slice(&v.to_le_bytes()) }
    pub fn put_sfixed64(w: &mut Vec<u8>, v: i64) { w.extend_from_slice(&v.to_le_bytes()) }
    pub fn put_double(w: &mut Vec<u8>, v: f64) { w.extend_from_slice(&v.to_bits().to_le_bytes()) }
    pub fn put_bytes(w: &mut Vec<u8>, v: &[u8]) {
        put_uint64(w, v.len() as u64);
        w.extend_from_slice(v);
    }
    pub fn put_string(w: &mut Vec<u8>, v: &str) { put_bytes(w, v.as_bytes()) }
}
`;

export function emitRust(model: GenModel): string {
  const typeOf = (t: ValueType): string => (t.kind === 'message' ? typeName(t.message.local) : t.kind === 'enum' ? typeName(t.enum.local) : R_TYPE[t.scalar]);
  const byRef = (t: ValueType) => t.kind === 'message' || (t.kind === 'scalar' && (t.scalar === 'string' || t.scalar === 'bytes'));
  const wire = (t: ValueType) => (t.kind === 'message' ? 2 : WIRE[t.scalar]);
  // An expression reading one value of t from reader r (in a fn returning Option).
  const get = (t: ValueType, r: string): string =>
    t.kind === 'message'
      ? `{ let mut v = ${typeName(t.message.local)}::default(); v.merge(&mut workd::Reader::new(${r}.bytes()?))?; v }`
      : t.kind === 'enum'
        ? `${typeName(t.enum.local)}(workd::get_int32(${r})?)`
        : `workd::get_${t.scalar}(${r})?`;
  // A statement writing the value `v` (a reference for strings, bytes and messages) of t to w.
  const put = (t: ValueType, v: string): string =>
    t.kind === 'message'
      ? `{ let mut b = Vec::new(); ${v}.encode_to(&mut b); workd::put_bytes(w, &b); }`
      : t.kind === 'enum'
        ? `workd::put_int32(w, (${v}).0);`
        : `workd::put_${t.scalar}(w, ${v});`;
  const nonDefault = (t: ValueType, v: string): string => {
    if (t.kind === 'enum') return `${v}.0 != 0`;
    if (t.kind !== 'scalar') return 'true';
    if (t.scalar === 'string' || t.scalar === 'bytes') return `!${v}.is_empty()`;
    if (t.scalar === 'float' || t.scalar === 'double') return `${v}.to_bits() != 0`;
    if (t.scalar === 'bool') return v;
    return `${v} != 0`;
  };
  const fieldType = (f: GenField): string => {
    const t = typeOf(f.type);
    switch (f.label) {
      case 'single': return t;
      case 'optional': return f.recursive ? `Option<Box<${t}>>` : `Option<${t}>`;
      case 'repeated': return `Vec<${t}>`;
      case 'map': return `std::collections::BTreeMap<${R_TYPE[f.key!.scalar]}, ${t}>`;
    }
  };

  const out: string[] = [];
  out.push(`// @generated by \`workd gen --lang rust\` from ${model.sources.join(', ')}. Do not edit.
// Mount it with \`mod <this file's name>;\` in src/lib.rs, implement each service's trait for its <Service>Server,
// and build a reactor (a cdylib):
//   rustc --edition 2021 --target wasm32-wasi --crate-type cdylib -O -C strip=symbols -o service.wasm src/lib.rs
#![allow(dead_code, non_camel_case_types, non_snake_case, unused_mut, unused_variables, clippy::all)]

${RUNTIME}`);
  for (const e of model.enums) {
    out.push(`/// enum ${e.typeName} (open: any i32 may arrive; the constants are the named values)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ${typeName(e.local)}(pub i32);
impl ${typeName(e.local)} {
${e.values.map((v) => `    pub const ${v.name}: ${typeName(e.local)} = ${typeName(e.local)}(${v.number});`).join('\n')}
}`);
  }
  for (const m of model.messages) {
    const decl = m.fields.map((f) => `    pub ${id(f.name)}: ${fieldType(f)},`);
    const arms: string[] = [];
    const writes: string[] = [];
    for (const f of m.fields) {
      const n = `self.${id(f.name)}`;
      const w = wire(f.type);
      const ref = byRef(f.type) ? '&' : '';
      switch (f.label) {
        case 'single':
          arms.push(`                (${f.number}, ${w}) => ${n} = ${get(f.type, 'r')},`);
          writes.push(`        if ${nonDefault(f.type, n)} { workd::put_tag(w, ${f.number}, ${w}); ${put(f.type, `${ref}${n}`)} }`);
          break;
        case 'optional':
          if (f.type.kind === 'message') {
            arms.push(`                (${f.number}, 2) => ${n}.get_or_insert_with(Default::default).merge(&mut workd::Reader::new(r.bytes()?))?,`);
          } else {
            arms.push(`                (${f.number}, ${w}) => ${n} = Some(${get(f.type, 'r')}),`);
          }
          writes.push(`        if let Some(v) = &${n} { workd::put_tag(w, ${f.number}, ${w}); ${put(f.type, byRef(f.type) ? 'v' : '*v')} }`);
          break;
        case 'repeated':
          arms.push(`                (${f.number}, ${w}) => ${n}.push(${get(f.type, 'r')}),`);
          if (isPackable(f.type)) arms.push(`                (${f.number}, 2) => { let mut p = workd::Reader::new(r.bytes()?); while !p.done() { ${n}.push(${get(f.type, '&mut p')}); } }`);
          writes.push(
            f.packed
              ? `        if !${n}.is_empty() { let mut p = Vec::new(); { let w = &mut p; for v in &${n} { ${put(f.type, '*v')} } } workd::put_tag(w, ${f.number}, 2); workd::put_bytes(w, &p); }`
              : `        for v in &${n} { workd::put_tag(w, ${f.number}, ${w}); ${put(f.type, byRef(f.type) ? 'v' : '*v')} }`,
          );
          break;
        case 'map': {
          const key = f.key!;
          arms.push(`                (${f.number}, 2) => {
                    let mut e = workd::Reader::new(r.bytes()?);
                    let mut k = ${R_TYPE[key.scalar]}::default();
                    let mut v = ${typeOf(f.type)}::default();
                    while !e.done() {
                        match e.tag()? {
                            (1, ${WIRE[key.scalar]}) => k = ${get(key, '&mut e')},
                            (2, ${w}) => v = ${get(f.type, '&mut e')},
                            (_, t) => e.skip(t)?,
                        }
                    }
                    ${n}.insert(k, v);
                }`);
          writes.push(`        for (k, v) in &${n} {
            let mut p = Vec::new();
            {
                let w = &mut p;
                workd::put_tag(w, 1, ${WIRE[key.scalar]}); ${put(key, byRef(key) ? 'k' : '*k')}
                workd::put_tag(w, 2, ${w}); ${put(f.type, byRef(f.type) ? 'v' : '*v')}
            }
            workd::put_tag(w, ${f.number}, 2);
            workd::put_bytes(w, &p);
        }`);
          break;
        }
      }
    }
    out.push(`/// message ${m.typeName}
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ${typeName(m.local)} {
${decl.join('\n')}
}
impl ${typeName(m.local)} {
    /// The message in bytes, or None when they are not a ${m.typeName}.
    pub fn decode(bytes: &[u8]) -> Option<${typeName(m.local)}> {
        let mut m = ${typeName(m.local)}::default();
        m.merge(&mut workd::Reader::new(bytes))?;
        Some(m)
    }
    /// Reads fields into self (a field given again replaces the value; repeated fields and maps grow).
    pub fn merge(&mut self, r: &mut workd::Reader) -> Option<()> {
        while !r.done() {
            match r.tag()? {
${arms.join('\n')}
                (_, t) => r.skip(t)?,
            }
        }
        Some(())
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        self.encode_to(&mut w);
        w
    }
    pub fn encode_to(&self, w: &mut Vec<u8>) {
${writes.join('\n')}
    }
}`);
  }
  for (const s of model.services) {
    const methods = s.methods.map((m) => `    /// rpc ${m.name}: the answer, or Err(workd::Status::new(workd::Code::..., "why")).
    fn ${snake(m.name)}(req: ${typeName(m.input.local)}) -> Result<${typeName(m.output.local)}, workd::Status>;`);
    const exports = s.methods.map((m) => `/// The export the node calls for rpc ${s.typeName}/${m.name}.
#[export_name = "${m.name}"]
pub extern "C" fn workd_export_${s.name}_${m.name}(ptr: *const u8, len: i32) -> i32 {
    workd::serve(ptr, len, "${m.input.typeName}", ${typeName(m.input.local)}::decode, |req| <${s.name}Server as ${s.name}Service>::${snake(m.name)}(req).map(|res| res.encode()))
}`);
    out.push(`/// service ${s.typeName}: \`impl ${s.name}Service for ${s.name}Server { ... }\` in your crate.
pub trait ${s.name}Service {
${methods.join('\n')}
}
/// The type the method exports call: implement ${s.name}Service for it.
pub struct ${s.name}Server;

${exports.join('\n\n')}`);
  }
  return out.join('\n\n') + '\n';
}
