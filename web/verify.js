// Checks done in the browser, with Web Crypto only: C2SP signed notes and cosignatures
// (Ed25519), C2SP tlog-tiles, and RFC 6962 / RFC 9162 inclusion proofs (SHA-256).
//
// Nothing here trusts the server: hashes are recomputed from the bytes fetched, and a proof is
// built from the hash tiles and then checked against the root of a checkpoint whose
// signatures were checked against keys the reader can compare with the announced ones.

const enc = new TextEncoder();

export function hasSubtle() {
  return Boolean(globalThis.crypto && globalThis.crypto.subtle);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// The text of a file the bundle publishes only gzip-compressed (v1/units/*.json.gz,
// csv/stations.csv.gz), inflated here (Compression Streams API): a static server or CDN sends
// such a file as it is. One that adds `Content-Encoding: gzip` of its own has the browser
// inflate it already: bytes that do not start with gzip's magic (1f 8b) are taken as the text.
export async function gunzipText(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (!(b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b)) return new TextDecoder("utf-8", { fatal: true }).decode(b);
  if (typeof DecompressionStream !== "function") throw new Error("this browser cannot inflate gzip (no DecompressionStream)");
  const stream = new Blob([b]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new TextDecoder("utf-8", { fatal: true }).decode(await new Response(stream).arrayBuffer());
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---------------------------------------------------------------------------------------------
// Ed25519 through Web Crypto.

// RFC 8032 §7.1, test 1: a valid public key, a message and its signature.
const PROBE_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const PROBE_SIG =
  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

function unhex(s) {
  return new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
}

let ed25519 = null;

// Whether this browser's Web Crypto verifies Ed25519 (checked once, on RFC 8032's vector).
export async function ed25519Supported() {
  if (ed25519 === null) {
    ed25519 = (async () => {
      if (!hasSubtle()) return false;
      try {
        return await verifyEd25519(unhex(PROBE_KEY), new Uint8Array(0), unhex(PROBE_SIG));
      } catch {
        return false;
      }
    })();
  }
  return ed25519;
}

export async function verifyEd25519(publicKey, message, signature) {
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
    "verify",
  ]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

// ---------------------------------------------------------------------------------------------
// C2SP signed notes (https://c2sp.org/signed-note) and verifier keys.

// A verifier key `name+hex8+base64(type ‖ key)`: type 0x01 for signed-note Ed25519 keys,
// 0x04 for cosignature/v1 keys.
export function parseVerifierKey(s) {
  // The name holds no "+"; the base64 key may.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(String(s));
  const parts = m ? m.slice(1) : [];
  if (!m) {
    throw new Error(`not a verifier key (name+hex8+base64): ${s}`);
  }
  const raw = b64decode(parts[2]);
  if (raw.length !== 33 || (raw[0] !== 0x01 && raw[0] !== 0x04)) {
    throw new Error(`verifier key ${parts[0]}: not an Ed25519 key`);
  }
  return { name: parts[0], id: parts[1], type: raw[0], key: raw.subarray(1) };
}

// Checks that a key's id is SHA-256(name ‖ "\n" ‖ type ‖ key)[:4], as signed-note defines it.
export async function keyIdMatches(k) {
  const h = await sha256(concat(enc.encode(`${k.name}\n`), new Uint8Array([k.type]), k.key));
  return hex(h.subarray(0, 4)) === k.id;
}

// Splits a note into its text (up to and including the newline before the blank line) and
// its signature lines `— name base64`.
export function parseNote(text) {
  const cut = text.lastIndexOf("\n\n");
  if (cut < 0) throw new Error("a signed note has a blank line before its signatures");
  const body = text.slice(0, cut + 1);
  const sigs = [];
  for (const line of text.slice(cut + 2).split("\n")) {
    if (line === "") continue;
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new Error(`not a signature line: ${line}`);
    sigs.push({ name: m[1], raw: b64decode(m[2]) });
  }
  return { body, sigs };
}

// Verifies the signature of `key` (a parsed verifier key of type 0x01) on a note.
// Returns true, false, or null when the note carries no signature by that key.
export async function checkNoteSignature(note, key) {
  for (const s of note.sigs) {
    if (s.name !== key.name || s.raw.length !== 68 || hex(s.raw.subarray(0, 4)) !== key.id) {
      continue;
    }
    return verifyEd25519(key.key, enc.encode(note.body), s.raw.subarray(4));
  }
  return null;
}

// Verifies a witness's cosignature/v1 on a checkpoint note. Returns {ok, time} or null when
// the note carries none by that key.
export async function checkCosignature(note, key) {
  for (const s of note.sigs) {
    if (s.name !== key.name || s.raw.length !== 76 || hex(s.raw.subarray(0, 4)) !== key.id) {
      continue;
    }
    const view = new DataView(s.raw.buffer, s.raw.byteOffset + 4, 8);
    const time = Number(view.getBigUint64(0));
    const msg = enc.encode(`cosignature/v1\ntime ${time}\n${note.body}`);
    const ok = await verifyEd25519(key.key, msg, s.raw.subarray(12));
    return { ok, time };
  }
  return null;
}

// The three lines of a checkpoint: origin, size, base64 root hash.
export function parseCheckpoint(text) {
  const note = parseNote(text);
  const lines = note.body.split("\n");
  if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) {
    throw new Error("a checkpoint names its origin, size and root hash");
  }
  const root = b64decode(lines[2]);
  if (root.length !== 32) throw new Error("the checkpoint's root hash is not 32 bytes");
  return { note, origin: lines[0], size: Number(lines[1]), root, rootB64: lines[2] };
}

// Checks a checkpoint against the published keys: the log's signature and every witness's
// cosignature. `keys` is v1/keys.json. Returns a summary; it never throws for a bad
// signature, only for a malformed note.
export async function checkCheckpoint(cp, keys) {
  const out = { logOk: false, cosigners: [], valid: 0, quorum: keys.quorum || 0, unknown: [] };
  const log = parseVerifierKey(keys.log.key);
  out.logOk = (await keyIdMatches(log)) && (await checkNoteSignature(cp.note, log)) === true;
  const known = new Set([log.name]);
  for (const w of keys.witnesses || []) {
    const k = parseVerifierKey(w.key);
    known.add(k.name);
    const r = (await keyIdMatches(k)) ? await checkCosignature(cp.note, k) : { ok: false };
    if (r === null) continue;
    out.cosigners.push({ name: w.name, ok: r.ok, time: r.time });
    if (r.ok) out.valid += 1;
  }
  for (const s of cp.note.sigs) if (!known.has(s.name)) out.unknown.push(s.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// C2SP tlog-tiles (https://c2sp.org/tlog-tiles) and RFC 6962 hashes.

const TILE_HEIGHT = 8;
const TILE_WIDTH = 256;

// tile/<L>/<N>[.p/<W>] with N in groups of three digits, all but the last prefixed by x.
export function tilePath(level, index, width) {
  const digits = String(index);
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, "0");
  const groups = padded.match(/.../g);
  const n = groups.map((g, i) => (i + 1 < groups.length ? `x${g}` : g)).join("/");
  const partial = width < TILE_WIDTH ? `.p/${width}` : "";
  return `tile/${level}/${n}${partial}`;
}

export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), entry));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

// Reads hashes and entries of a tree of `size` leaves from tiles under `base`, through
// `fetchBytes(path)` (which resolves to a Uint8Array or throws naming the path).
export class Tiles {
  constructor(size, fetchBytes) {
    this.size = size;
    this.fetchBytes = fetchBytes;
    this.cache = new Map();
  }

  // The tile (level L, index N) as it is for this tree size, full or partial.
  tile(level, n, perItem) {
    const at = level === "entries" ? 0 : level * TILE_HEIGHT;
    const count = Math.floor(this.size / 2 ** at);
    const full = Math.floor(count / TILE_WIDTH);
    const width = n < full ? TILE_WIDTH : count - full * TILE_WIDTH;
    if (n > full || width === 0) throw new Error(`tile ${level}/${n} is beyond the tree`);
    const path = tilePath(level, n, width);
    if (!this.cache.has(path)) {
      this.cache.set(
        path,
        this.fetchBytes(path).then((bytes) => {
          if (perItem && bytes.length !== width * perItem) {
            throw new Error(`${path} holds ${bytes.length} bytes, not ${width * perItem}`);
          }
          return bytes;
        }),
      );
    }
    return this.cache.get(path);
  }

  // The hash of the complete subtree of 2^h leaves starting at leaf k·2^h.
  async node(h, k) {
    if ((k + 1) * 2 ** h > this.size) throw new Error(`node ${h}/${k} is beyond the tree`);
    const level = Math.floor(h / TILE_HEIGHT);
    const r = h % TILE_HEIGHT;
    const first = k * 2 ** r; // index of the first hash at level 8·L
    const tile = await this.tile(level, Math.floor(first / TILE_WIDTH), 32);
    const at = first % TILE_WIDTH;
    let row = [];
    for (let i = 0; i < 2 ** r; i++) row.push(tile.subarray((at + i) * 32, (at + i + 1) * 32));
    while (row.length > 1) {
      const next = [];
      for (let i = 0; i < row.length; i += 2) next.push(await nodeHash(row[i], row[i + 1]));
      row = next;
    }
    return row[0];
  }

  // MTH(D[lo:hi]) of RFC 6962 §2.1.
  async range(lo, hi) {
    const n = hi - lo;
    if (n === 0) return sha256(new Uint8Array(0));
    if ((n & (n - 1)) === 0 && lo % n === 0) return this.node(Math.log2(n), lo / n);
    const k = largestPowerOfTwoBelow(n);
    return nodeHash(await this.range(lo, lo + k), await this.range(lo + k, hi));
  }

  // The audit path PATH(m, D[lo:hi]) of RFC 6962 §2.1.1, leaf to root.
  async path(m, lo, hi) {
    const n = hi - lo;
    if (n <= 1) return [];
    const k = largestPowerOfTwoBelow(n);
    if (m < k) return [...(await this.path(m, lo, lo + k)), await this.range(lo + k, hi)];
    return [...(await this.path(m - k, lo + k, hi)), await this.range(lo, lo + k)];
  }

  // The exact bytes of entry i (entry tiles: each entry prefixed by its 2-byte length).
  async entry(i) {
    if (i >= this.size) throw new Error(`entry ${i} is beyond the tree of ${this.size}`);
    const n = Math.floor(i / TILE_WIDTH);
    const bytes = await this.tile("entries", n, 0);
    let at = 0;
    for (let j = 0; j <= i % TILE_WIDTH; j++) {
      if (at + 2 > bytes.length) throw new Error(`entry tile ${n} ends before entry ${i}`);
      const len = (bytes[at] << 8) | bytes[at + 1];
      if (at + 2 + len > bytes.length) throw new Error(`entry tile ${n} ends inside entry ${i}`);
      if (j === i % TILE_WIDTH) return bytes.subarray(at + 2, at + 2 + len);
      at += 2 + len;
    }
    throw new Error(`entry ${i} not found`);
  }
}

function largestPowerOfTwoBelow(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// RFC 9162 §2.1.3.2: the root a leaf hash and its inclusion proof lead to.
export async function rootFromInclusion(index, size, leaf, proof) {
  if (index >= size) throw new Error(`index ${index} is not below the tree size ${size}`);
  if (leaf.length !== 32 || proof.some((p) => p.length !== 32)) {
    throw new Error("a leaf hash and every proof hash is 32 bytes");
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error("the inclusion proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the inclusion proof is too short");
  return r;
}

export { equal as bytesEqual };

// ---------------------------------------------------------------------------------------------
// urna notes: the key-value body of urna/protocol/v1 and urna/amendment/v1.

export function parseProtocol(body) {
  const lines = body.split("\n");
  const out = { type: lines[0], fields: {}, votes: {}, preferences: {} };
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const at = line.indexOf(": ");
    if (at < 0) throw new Error(`not a "key: value" line: ${line}`);
    const k = line.slice(0, at);
    const v = line.slice(at + 2);
    if (k === "votes") {
      const sp = v.lastIndexOf(" ");
      out.votes[v.slice(0, sp)] = Number(v.slice(sp + 1));
    } else if (k === "preferences") {
      // `preferences: <list> <number>:<votes> …`, one line per list: list → number → votes.
      const m = /^(\S+)((?: [1-9]\d*:[1-9]\d*)+)$/.exec(v);
      if (!m) throw new Error(`not a "preferences: <list> <number>:<votes> …" line: ${line}`);
      if (m[1] in out.preferences) throw new Error(`preferences ${m[1]} written twice`);
      const list = (out.preferences[m[1]] = {});
      for (const pair of m[2].slice(1).split(" ")) {
        const [n, votes] = pair.split(":");
        if (n in list) throw new Error(`preferences ${m[1]} ${n} written twice`);
        list[n] = Number(votes);
      }
    } else {
      out.fields[k] = v;
    }
  }
  return out;
}
