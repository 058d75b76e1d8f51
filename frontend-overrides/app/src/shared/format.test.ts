import { describe, expect, it } from "vitest";

import { fillDays, formatBytes } from "./format";

describe("fillDays", () => {
  it("gives every day of the span, oldest first, with the known totals in place", () => {
    const filled = fillDays([{ day: "2026-11-27", spent: 5, added: 0, by_kind: { usage: 5 } }], 3, new Date("2026-11-28T23:59:00Z"));
    expect(filled.map((d) => [d.day, d.spent])).toEqual([
      ["2026-11-26", 0],
      ["2026-11-27", 5],
      ["2026-11-28", 0],
    ]);
  });

  it("crosses month ends", () => {
    expect(fillDays([], 2, new Date("2026-12-01T00:30:00Z")).map((d) => d.day)).toEqual(["2026-11-30", "2026-12-01"]);
  });
});

describe("formatBytes", () => {
  it("uses binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(20 * 1024 ** 3)).toBe("20 GB");
  });
});
