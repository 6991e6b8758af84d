//! The pages: served with a strict content security policy, every word in four languages.

use std::collections::BTreeSet;

use crate::{Client, serve};

/// The keys of one language block (`const NAME = { … };`) of i18n.js.
fn keys(js: &str, block: &str) -> BTreeSet<String> {
    let start = js.find(&format!("const {block} = {{")).unwrap();
    let end = start + js[start..].find("\n};").unwrap();
    js[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\":"))
        .map(|(k, _)| k.to_owned())
        .collect()
}

#[test]
fn every_word_of_the_desk_is_in_four_languages() {
    let js = include_str!("../../web/i18n.js");
    let en = keys(js, "en");
    assert!(en.len() > 40);
    for block in ["sq", "mk", "srLatn"] {
        assert_eq!(keys(js, block), en, "{block}");
    }
    // Every key the page and its script use is translated.
    let html = include_str!("../../web/index.html");
    for part in html.split("data-t=\"").skip(1) {
        let key = part.split('"').next().unwrap();
        assert!(en.contains(key), "index.html uses {key}");
    }
}

#[test]
fn pages_are_served_with_a_strict_policy() {
    let s = serve();
    let mut c = Client::new(s.addr);
    for path in ["/", "/desk.js", "/i18n.js", "/desk.css"] {
        let a = c.get(path);
        assert_eq!(a.status, 200, "{path}");
        let csp = a
            .headers
            .iter()
            .find(|(k, _)| k == "content-security-policy")
            .map(|(_, v)| v.as_str())
            .unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
    assert_eq!(c.get("/nothing").status, 404);
    // A stray request (the browser asking for an icon while the page loads) must not start a
    // session: its cookie would replace the page's and every POST would fail the CSRF check.
    for path in ["/favicon.ico", "/api/progress"] {
        let mut fresh = Client {
            addr: s.addr,
            cookie: None,
            csrf: String::new(),
            from: None,
        };
        let a = fresh.get(path);
        assert!(
            !a.headers.iter().any(|(k, _)| k == "set-cookie"),
            "{path} set a cookie"
        );
    }
}
