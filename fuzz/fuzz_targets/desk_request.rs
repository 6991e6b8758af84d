//! Fuzzes the desk's request paths and JSON bodies (the first line is the path, the rest the
//! body), read by the desk's own module. Never panics; a path without `%` is its own
//! segments; every body either reads as each request or is refused with serde's message.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/urna-desk/src/request.rs"]
mod request;

use request::{
    Claim, Csrf, DecisionRequest, Login, ManageUser, NewUser, Password, Resolve, SaveLine,
};

fn body<'a, T: serde::Deserialize<'a>>(b: &'a [u8]) {
    if let Err(e) = request::parse::<T>(b) {
        assert!(e.starts_with("request body: "), "{e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (path, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(path) = std::str::from_utf8(path) {
        match request::segments(path) {
            Ok(parts) if !path.contains('%') => {
                assert_eq!(parts.join("/"), path.trim_start_matches('/'));
            }
            Ok(_) => {}
            Err(bad) => assert!(path.contains(&bad), "{bad:?} not in {path:?}"),
        }
    }
    body::<Csrf>(rest);
    body::<Login>(rest);
    body::<Password>(rest);
    body::<NewUser>(rest);
    body::<ManageUser>(rest);
    body::<Claim>(rest);
    body::<SaveLine>(rest);
    body::<DecisionRequest>(rest);
    body::<Resolve>(rest);
});
