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
