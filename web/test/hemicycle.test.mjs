// The parliament chart's geometry: every seat drawn once, no two seats overlapping, seats
// ordered left to right so that each list is one wedge.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hemicycleSeats } from "../app.js";

for (const n of [1, 2, 3, 7, 30, 81, 100, 120, 140, 151, 240, 450, 600]) {
  test(`hemicycle of ${n} seats`, () => {
    const { rows, radius, seats } = hemicycleSeats(n);
    assert.equal(seats.length, n);
    assert.ok(rows >= 1 && radius > 0);
    for (const p of seats) {
      // Inside the upper half of the unit disc (drawn with viewBox -1.05 -1.05 2.1 1.12).
      assert.ok(Math.hypot(p.x, p.y) <= 1 + 1e-9 && p.y <= 1e-9, JSON.stringify(p));
    }
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const d = Math.hypot(seats[i].x - seats[j].x, seats[i].y - seats[j].y);
        assert.ok(d >= 2 * radius - 1e-9, `seats ${i} and ${j} overlap (${d} < ${2 * radius})`);
      }
    }
    for (let i = 1; i < n; i++) assert.ok(seats[i - 1].a >= seats[i].a, "left to right");
    // Big enough to see: a seat's diameter is at least a fifth of the row spacing.
    if (rows > 1) assert.ok(2 * radius >= (0.6 / (rows - 1)) / 5);
  });
}

test("no seats, no circles", () => {
  assert.deepEqual(hemicycleSeats(0).seats, []);
});
