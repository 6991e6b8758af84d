// Names by the page's language (web/names.js): units' and lists' names, and a station's name
// and address from the stations file's `name:<lang>` and `address:<lang>` columns, with the
// stated fallback ending at the plain `name` and `address`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { localName, nameLang, stationPlace } from "../names.js";

const unit = { name: "Dibër", names: { "sr-Cyrl": "Дибра", bs: "Dibra (bs)" } };

test("units: each page language falls back in its stated order, then to name", () => {
  assert.equal(localName(unit, "en"), "Dibër");
  assert.equal(localName(unit, "sq"), "Dibër");
  assert.equal(localName(unit, "mk"), "Дибра");
  assert.equal(nameLang(unit, "mk"), "sr-Cyrl");
  assert.equal(localName(unit, "sr-Latn"), "Dibra (bs)");
  assert.equal(nameLang(unit, "en"), null);
  assert.equal(localName({ name: "X", names: { mk: "" } }, "mk"), "X", "an empty name is none");
});

test("stations: name and address picked separately with the same fallback", () => {
  const station = {
    id: "PS-1",
    name: "Shkolla 1",
    address: "Rruga 1, Strugë",
    names: { mk: "Училиште 1", "sr-Latn": "Škola 1", cnr: "Škola 1 (cnr)" },
    addresses: { hr: "Ulica 1, Struga", "sr-Cyrl": "Улица 1, Струга" },
  };
  assert.deepEqual(stationPlace(station, "mk"), {
    name: "Училиште 1",
    nameLang: "mk",
    address: "Улица 1, Струга",
    addressLang: "sr-Cyrl",
  });
  assert.deepEqual(stationPlace(station, "sr-Latn"), {
    name: "Škola 1",
    nameLang: "sr-Latn",
    address: "Ulica 1, Struga",
    addressLang: "hr",
  });
  assert.deepEqual(stationPlace(station, "sq"), {
    name: "Shkolla 1",
    nameLang: null,
    address: "Rruga 1, Strugë",
    addressLang: null,
  });
});

test("stations: no columns, or no station, give the plain fields or nothing", () => {
  assert.deepEqual(stationPlace({ id: "PS-2", address: "Rruga 2" }, "mk"), {
    name: "",
    nameLang: null,
    address: "Rruga 2",
    addressLang: null,
  });
  assert.deepEqual(stationPlace(undefined, "en"), { name: "", nameLang: null, address: "", addressLang: null });
  // Only a Macedonian name: other languages show no name rather than another language's.
  assert.equal(stationPlace({ names: { mk: "Училиште" } }, "en").name, "");
  assert.equal(stationPlace({ names: { mk: "Училиште" } }, "mk").name, "Училиште");
});
