// Unit tests of the page's verification code, on fixed vectors: RFC 6962's reference tree and
// the transparency-dev inclusion-proof vectors (../shared/data), and every language's key set.
// Run: node --test web/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as V from "../verify.js";
import { _strings, setLanguage, num, pct, t, dateTime, day } from "../i18n.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const data = path.join(here, "../../../shared/data/rfc6962_transparency_dev");
const b64 = (s) => V.b64decode(s);
const unhex = (s) => new Uint8Array((s.match(/../g) || []).map((h) => parseInt(h, 16)));

test("tile paths are C2SP tlog-tiles paths", () => {
  assert.equal(V.tilePath(0, 1234067, 256), "tile/0/x001/x234/067");
  assert.equal(V.tilePath("entries", 5, 17), "tile/entries/005.p/17");
  assert.equal(V.tilePath(1, 0, 1), "tile/1/000.p/1");
});

test("the reference tree: roots, entries and every inclusion proof from tiles", async () => {
  const ref = JSON.parse(fs.readFileSync(path.join(data, "reference_tree.json"), "utf8"));
  const leaves = ref.leaf_inputs_hex.map(unhex);
  const hashes = await Promise.all(leaves.map((l) => V.leafHash(l)));
  for (let size = 1; size <= leaves.length; size++) {
    const files = new Map();
    const tile0 = new Uint8Array(32 * size);
    hashes.slice(0, size).forEach((h, i) => tile0.set(h, 32 * i));
    files.set(V.tilePath(0, 0, size), tile0);
    const entries = [];
    for (const l of leaves.slice(0, size)) entries.push(l.length >> 8, l.length & 255, ...l);
    files.set(V.tilePath("entries", 0, size), new Uint8Array(entries));
    const tiles = new V.Tiles(size, async (p) => {
      if (!files.has(p)) throw new Error(`no ${p}`);
      return files.get(p);
    });
    const root = unhex(ref.root_by_tree_size_hex[size]);
    assert.deepEqual(await tiles.range(0, size), root, `root of size ${size}`);
    for (let i = 0; i < size; i++) {
      assert.deepEqual(await tiles.entry(i), leaves[i], `entry ${i}`);
      const proof = await tiles.path(i, 0, size);
      assert.deepEqual(await V.rootFromInclusion(i, size, hashes[i], proof), root, `proof ${i}/${size}`);
    }
  }
});

test("the transparency-dev inclusion vectors: happy paths verify, every altered one fails", async () => {
  const dir = path.join(data, "testdata/inclusion");
  let checked = 0;
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    if (!f.endsWith(".json")) continue;
    {
      const v = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
      let ok;
      try {
        const root = await V.rootFromInclusion(
          v.leafIdx,
          v.treeSize,
          b64(v.leafHash || ""),
          (v.proof || []).map(b64),
        );
        ok = v.root != null && V.bytesEqual(root, b64(v.root));
      } catch {
        ok = false;
      }
      assert.equal(ok, !v.wantErr, `${f}: ${v.desc}`);
      checked++;
    }
  }
  assert.ok(checked > 50, `only ${checked} vectors`);
});

test("signed notes: a key's id, a signature, and a tampered text", async () => {
  // RFC 8032 test 1 key, used as a C2SP Ed25519 (0x01) note key named "example".
  const pub = unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const id = V.hex((await V.sha256(new Uint8Array([...new TextEncoder().encode("example\n"), 1, ...pub]))).subarray(0, 4));
  const key = V.parseVerifierKey(`example+${id}+${V.b64encode(new Uint8Array([1, ...pub]))}`);
  assert.ok(await V.keyIdMatches(key));
  const wrong = V.parseVerifierKey(`example+00000000+${V.b64encode(new Uint8Array([1, ...pub]))}`);
  assert.equal(await V.keyIdMatches(wrong), false);
  assert.throws(() => V.parseVerifierKey("example+zz+AA=="), /not a verifier key/);
  // The empty message's RFC 8032 signature stands in for a signature of the empty note text.
  const sig = unhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
  assert.ok(await V.verifyEd25519(pub, new Uint8Array(0), sig));
  assert.equal(await V.verifyEd25519(pub, new Uint8Array([0]), sig), false);
  const note = V.parseNote(`\n\n\u2014 example ${V.b64encode(new Uint8Array([...unhex(id), ...sig]))}\n`);
  assert.equal(note.body, "\n");
  assert.throws(() => V.parseNote("no blank line"), /blank line/);
  assert.throws(() => V.parseCheckpoint("o\n01\nAA==\n\n"), /origin, size and root/);
});

test("protocol bodies parse into fields and votes", () => {
  const p = V.parseProtocol("urna/protocol/v1\nstation: PS-1\nvalid: 10\nvotes: AP 6\nvotes: Green List 4\n");
  assert.equal(p.fields.station, "PS-1");
  assert.deepEqual(p.votes, { AP: 6, "Green List": 4 });
  assert.throws(() => V.parseProtocol("urna/protocol/v1\nnonsense\n"), /key: value/);
});

test("every language has exactly the English keys and placeholders", () => {
  const en = _strings.en;
  for (const [code, table] of Object.entries(_strings)) {
    assert.deepEqual(Object.keys(table), Object.keys(en), code);
    for (const [k, v] of Object.entries(table)) {
      const names = (s) => (s.match(/\{\w+\}/g) || []).sort().join();
      assert.equal(names(v), names(en[k]), `${code} ${k}`);
    }
  }
});

test("numbers follow each locale, with CLDR's separators where the runtime has none", () => {
  setLanguage("mk");
  assert.equal(num(1234567), "1.234.567");
  assert.equal(pct("47.23"), "47,23");
  setLanguage("sq");
  assert.equal(num(1234567), "1\u00a0234\u00a0567");
  assert.equal(pct("7.5"), "7,50");
  setLanguage("en");
  assert.equal(num(1234567), "1,234,567");
  assert.ok(t("chart.of", { value: 1, percent: 2 }).endsWith("2\u00a0%)"));
});

test("pct rounds half up on the digits, like urna_tally::totals::percent", () => {
  setLanguage("en");
  // The bundle's own strings pass through unchanged.
  assert.equal(pct("47.23"), "47.23");
  assert.equal(pct("100.00"), "100.00");
  assert.equal(pct("0.00"), "0.00");
  // Longer strings: exactly half a hundredth rounds up, as in Rust (where toFixed does not).
  assert.equal(pct("1.005"), "1.01");
  assert.equal(pct("2.675"), "2.68");
  assert.equal(pct("0.004999"), "0.00");
  assert.equal(pct("99.995"), "100.00");
  assert.equal(pct("7.5"), "7.50");
  // Rust's percent(1, 20000) = "0.01": 0.005 exactly, half up.
  assert.equal(pct("0.005"), "0.01");
  assert.equal(pct("-"), "–");
  assert.equal(pct(undefined), "–");
  setLanguage("mk");
  assert.equal(pct("2.675"), "2,68");
  // A browser without the locale's data takes the page's own separators: same rounding.
  const supported = Intl.NumberFormat.supportedLocalesOf;
  Intl.NumberFormat.supportedLocalesOf = () => [];
  try {
    setLanguage("sq");
    assert.equal(pct("1.005"), "1,01");
    assert.equal(pct("47.23"), "47,23");
  } finally {
    Intl.NumberFormat.supportedLocalesOf = supported;
    setLanguage("en");
  }
});

test("dates and times in the page's own CLDR conventions, where the runtime has none", () => {
  const supported = Intl.NumberFormat.supportedLocalesOf;
  Intl.NumberFormat.supportedLocalesOf = () => [];
  try {
    setLanguage("sq");
    assert.equal(dateTime(Date.UTC(2026, 11, 4, 8, 5, 9) / 1000), "4 dhjetor 2026, 08:05:09 UTC");
    assert.equal(day("2025-05-11"), "11 maj 2025");
    setLanguage("mk");
    assert.equal(dateTime(Date.UTC(2025, 4, 11, 19, 0, 0) / 1000), "11 мај 2025, 19:00:00 UTC");
  } finally {
    Intl.NumberFormat.supportedLocalesOf = supported;
    setLanguage("en");
  }
});

test("a file published gzip-compressed is inflated; one a server inflated already is taken as it is", async () => {
  const { gzipSync } = await import("node:zlib");
  const text = '{"format":"urna/unit/v2","stations":["PS-1","PS-2"]}\n';
  assert.equal(await V.gunzipText(gzipSync(Buffer.from(text))), text);
  assert.equal(await V.gunzipText(new TextEncoder().encode(text)), text);
  // A truncated gzip stream is refused, never read as a shorter file.
  const gz = gzipSync(Buffer.from(text.repeat(50)));
  await assert.rejects(V.gunzipText(gz.subarray(0, gz.length - 12)));
});
