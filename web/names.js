// Names in the reader's language: units and lists may carry names by language tag
// (v1/election.json `names`: sq, mk, sr-Cyrl, sr-Latn, bs, hr, cnr, en). The page picks the
// first tag its language lists below that has a name, and otherwise the definition's `name`:
//   en: en                         sq: sq
//   mk: mk, then sr-Cyrl (the other Cyrillic script of the region)
//   sr-Latn (the page's Bosnian/Croatian/Montenegrin/Serbian text): sr-Latn, bs, hr, cnr
// The definition's `name` is the last fallback for every language.

export const NAME_FALLBACK = {
  en: ["en"],
  sq: ["sq"],
  mk: ["mk", "sr-Cyrl"],
  "sr-Latn": ["sr-Latn", "bs", "hr", "cnr"],
};

// The name of `thing` ({ name, names }) for the page language `code`.
export function localName(thing, code) {
  if (!thing) return "";
  for (const tag of NAME_FALLBACK[code] || [code]) {
    const n = thing.names?.[tag];
    if (typeof n === "string" && n !== "") return n;
  }
  return thing.name ?? "";
}

// The BCP 47 tag of the name `localName` picks (for a `lang` attribute), or null for `name`.
export function nameLang(thing, code) {
  for (const tag of NAME_FALLBACK[code] || [code]) {
    if (typeof thing?.names?.[tag] === "string" && thing.names[tag] !== "") return tag;
  }
  return null;
}

// A station's name and address for the page language `code`. A unit file's station has
// `name` and `address`, and by language tag `names` and `addresses` (the stations file's
// `name:<lang>` and `address:<lang>` columns); both are picked with the fallback above,
// ending at `name` and `address` (which may be absent: then ""). `nameLang`/`addressLang`
// are the tags picked, or null.
export function stationPlace(station, code) {
  const address = { name: station?.address, names: station?.addresses };
  return {
    name: localName(station, code),
    nameLang: nameLang(station, code),
    address: localName(address, code),
    addressLang: nameLang(address, code),
  };
}
