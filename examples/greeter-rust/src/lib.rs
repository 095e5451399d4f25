// example.com:greet.Greeter@1.0.0 in Rust, std only (guest ABI v1, docs/guest-abi.md).
// Build (Debian: apt-get install rustc libstd-rust-dev-wasm32):
//   rustc --edition 2021 --target wasm32-wasi --crate-type cdylib -O -o greeter.wasm src/lib.rs
// A cdylib for wasm32-wasi is a reactor: it exports _initialize, never _start.

// The functions the node provides (module "workd").
#[link(wasm_import_module = "workd")]
extern "C" {
    fn respond(ptr: *const u8, len: i32);
    fn status_message(ptr: *const u8, len: i32);
    fn metadata_get(key_ptr: *const u8, key_len: i32, out_ptr: *mut u8, out_cap: i32) -> i32;
    fn metadata_set(key_ptr: *const u8, key_len: i32, val_ptr: *const u8, val_len: i32);
}

const OK: i32 = 0;
const INVALID_ARGUMENT: i32 = 3;

/// The node places each request here. Each call runs on a pristine instance, so nothing is freed.
#[no_mangle]
pub extern "C" fn workd_alloc(size: i32) -> *mut u8 {
    let mut v: Vec<u8> = Vec::with_capacity(size.max(1) as usize);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

fn fail(code: i32, message: &str) -> i32 {
    unsafe { status_message(message.as_ptr(), message.len() as i32) };
    code
}

fn metadata(key: &str) -> Option<String> {
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
    String::from_utf8(buf).ok()
}

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// HelloRequest { string name = 1; }: the name, or None when the bytes are not a HelloRequest.
fn parse_name(b: &[u8]) -> Option<String> {
    let (mut i, mut name) = (0usize, String::new());
    while i < b.len() {
        let tag = varint(b, &mut i)?;
        match (tag >> 3, tag & 7) {
            (1, 2) => {
                let n = varint(b, &mut i)? as usize;
                name = String::from_utf8(b.get(i..i + n)?.to_vec()).ok()?;
                i += n;
            }
            (_, 0) => { varint(b, &mut i)?; }
            (_, 1) => i += 8,
            (_, 2) => { let n = varint(b, &mut i)? as usize; i += n; }
            (_, 5) => i += 4,
            _ => return None,
        }
    }
    if i > b.len() { None } else { Some(name) }
}

#[no_mangle]
#[allow(non_snake_case)]
pub extern "C" fn Hello(ptr: *const u8, len: i32) -> i32 {
    let req = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
    let name = match parse_name(req) {
        Some(n) => n,
        None => return fail(INVALID_ARGUMENT, "malformed HelloRequest"),
    };
    if name.is_empty() {
        return fail(INVALID_ARGUMENT, "name is empty: say who to greet");
    }
    let greeting = match metadata("x-lang").as_deref() {
        Some("fr") => format!("Bonjour, {}!", name),
        _ => format!("Hello, {}!", name),
    };
    println!("greeted {}", name); // stdout goes to the container's log
    // HelloReply { string message = 1; }: tag 0x0a, length, bytes (short strings: one length byte).
    let mut out = vec![0x0a];
    let mut n = greeting.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(greeting.as_bytes());
    // Trailer values must be printable ASCII (a `-bin` key carries any bytes), or the call fails with INTERNAL.
    let key = if name.bytes().all(|c| (0x20..0x7f).contains(&c)) { "x-greeted" } else { "x-greeted-bin" };
    unsafe {
        metadata_set(key.as_ptr(), key.len() as i32, name.as_ptr(), name.len() as i32);
        respond(out.as_ptr(), out.len() as i32);
    }
    OK
}
