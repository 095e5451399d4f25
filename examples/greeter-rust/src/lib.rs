// example.com:greet.Greeter@1.0.0 in Rust, std only, on the code `workd gen` makes from greeter.proto:
//   workd gen --lang rust --proto greeter.proto -o src/greeter_gen.rs
//   rustc --edition 2021 --target wasm32-wasi --crate-type cdylib -O -C strip=symbols -o greeter.wasm src/lib.rs
// (Debian: apt-get install rustc libstd-rust-dev-wasm32.) A cdylib for wasm32-wasi is a reactor.
mod greeter_gen;

use greeter_gen::workd::{self, Code, Status};
use greeter_gen::{GreeterServer, GreeterService, Greeting, HelloReply, HelloRequest, Lang};

impl GreeterService for GreeterServer {
    fn hello(req: HelloRequest) -> Result<HelloReply, Status> {
        if req.name.is_empty() {
            return Err(Status::new(Code::INVALID_ARGUMENT, "name is empty: say who to greet"));
        }
        if let Some(i) = req.friends.iter().position(|f| f.is_empty()) {
            return Err(Status::new(Code::INVALID_ARGUMENT, format!("friend {} has no name", i + 1)));
        }
        let lang = match workd::metadata("x-lang").as_deref() {
            Some("fr") => Lang::LANG_FR,
            _ => Lang::LANG_EN,
        };
        let greet = |who: &str| if lang == Lang::LANG_FR { format!("Bonjour, {}!", who) } else { format!("Hello, {}!", who) };
        let greetings = req.friends.iter().map(|f| Greeting { to: f.clone(), text: greet(f) }).collect();
        println!("greeted {}", req.name); // stdout goes to the container's log
        // Trailer values must be printable ASCII (a `-bin` key carries any bytes), or the call fails with INTERNAL.
        let key = if req.name.bytes().all(|c| (0x20..0x7f).contains(&c)) { "x-greeted" } else { "x-greeted-bin" };
        workd::set_trailer(key, &req.name);
        Ok(HelloReply { message: greet(&req.name), greetings, lang })
    }
}
