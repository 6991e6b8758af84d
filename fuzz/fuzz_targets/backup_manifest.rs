//! Fuzzes a backup's `MANIFEST.sha256` and `backup.toml` (before and after the first NUL
//! byte), read by the backup's own module. Never panics; every listed path is relative without
//! `..`, and the manifest written again from what was read reads the same; every file
//! `backup.toml` names is listed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/urna-store/src/backup/manifest.rs"]
mod manifest;

fuzz_target!(|data: &[u8]| {
    let (m, t) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(m), Ok(t)) = (std::str::from_utf8(m), std::str::from_utf8(t)) else {
        return;
    };
    let Ok(listed) = manifest::parse_manifest(m) else {
        return;
    };
    let mut again = String::new();
    for (path, digest) in &listed {
        assert!(manifest::safe_relative(path), "{path:?}");
        assert!(
            path.split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."),
            "{path:?}"
        );
        again.push_str(&format!("{digest}  {path}\n"));
    }
    assert_eq!(manifest::parse_manifest(&again).unwrap(), listed);
    if let Ok(info) = manifest::parse_info(t, &listed) {
        assert_eq!(info.format, manifest::FORMAT);
        assert!(info.files.iter().all(|f| listed.contains_key(f)));
    }
});
