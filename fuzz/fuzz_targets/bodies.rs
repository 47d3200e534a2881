//! The request and stream bodies the relay takes apart: gzip (bounded decompression) and
//! multipart/mixed (the boundary from a `Content-Type`, the parts), never a panic; and a batch
//! the relay builds splits back into the same parts. The first byte picks the case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_core::wire::{self, Part};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    match head % 3 {
        0 => {
            if let Ok(plain) = wire::gunzip(rest, 64 * 1024) {
                assert!(plain.len() <= 64 * 1024, "the bound holds");
            }
        }
        1 => {
            // A Content-Type line, then the body.
            let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let content_type = String::from_utf8_lossy(&rest[..split]);
            let body = rest.get(split + 1..).unwrap_or_default();
            let _ = wire::is_xml(&content_type);
            if let Some(boundary) = wire::boundary(&content_type) {
                let _ = wire::parse_multipart(body, &boundary);
            }
            let _ = wire::parse_multipart(body, "b1");
        }
        _ => {
            // Parts from the input (bodies split at NUL), built and split again.
            let parts: Vec<Part> = rest
                .split(|&b| b == 0)
                .take(10)
                .map(|body| Part {
                    headers: vec![("Content-Type".into(), "application/xml; charset=utf-8".into())],
                    body: body.to_vec(),
                })
                .collect();
            let boundary = format!("b{}", wire::new_id());
            let built = wire::build_multipart(&boundary, &parts);
            let back = wire::parse_multipart(&built, &boundary).expect("a built batch splits");
            let bodies: Vec<&[u8]> = back.iter().map(|p| p.body.as_slice()).collect();
            let sent: Vec<&[u8]> = parts.iter().map(|p| p.body.as_slice()).collect();
            assert_eq!(bodies, sent, "parts survive the round trip");
        }
    }
});
