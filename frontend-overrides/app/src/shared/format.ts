export function formatCredits(credits: number): string {
  return credits.toLocaleString("en-US");
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function planLabel(plan: string): string {
  return plan.charAt(0).toUpperCase() + plan.slice(1);
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleString("en-US", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
}

export const KIND_LABELS: Record<string, string> = {
  usage: "Generation",
  external_api: "nano-banana",
  grant: "Grant",
  period_reset: "New period",
  trial_lapse: "Trial ended",
  refund: "Refund",
  adjustment: "Adjustment",
};

/** The `span` days up to `end` (UTC), each with its totals or zeros: the chart's x axis has no gaps. */
export function fillDays<T extends { day: string; spent: number; added: number; by_kind: Record<string, number> }>(
  days: T[],
  span: number,
  end: Date,
): { day: string; spent: number; added: number; by_kind: Record<string, number> }[] {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out = [];
  for (let back = span - 1; back >= 0; back -= 1) {
    const day = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), end.getUTCDate() - back)).toISOString().slice(0, 10);
    const found = byDay.get(day);
    out.push(found ? { day, spent: found.spent, added: found.added, by_kind: found.by_kind } : { day, spent: 0, added: 0, by_kind: {} });
  }
  return out;
}
