// Sorting the page's tables: numbers (from data-sort) by value, text in natural order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareKeys } from "../app.js";

test("numbers sort by value, before text", () => {
  const keys = ["Tiranë", 10, "PS-0000010", 9.5, "PS-0000009", -1, "berat"];
  keys.sort(compareKeys);
  assert.deepEqual(keys, [-1, 9.5, 10, "berat", "PS-0000009", "PS-0000010", "Tiranë"]);
});

test("text compares without case or accents, numbers inside it by value", () => {
  assert.equal(compareKeys("Durrës", "durres"), 0);
  assert.ok(compareKeys("S-9", "S-10") < 0);
  assert.ok(compareKeys("Vlorë", "Berat") > 0);
});
