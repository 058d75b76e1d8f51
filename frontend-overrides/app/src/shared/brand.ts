// The product's brand, which the server writes into every page it serves (invokeai_saas/wiring/branding.py
// from frontend-overrides/brands/<PINGVAS_BRAND>/brand.json): one place to change it.

export type Brand = { name: string; logo: string; support_email: string };

const FALLBACK: Brand = { name: "Pingvas Studio", logo: "/pingvas/brand/logo.svg", support_email: "support@pingvas.studio" };

export function brand(): Brand {
  const node = document.getElementById("pingvas-brand");
  if (!node?.textContent) return FALLBACK;
  try {
    return { ...FALLBACK, ...JSON.parse(node.textContent) };
  } catch {
    return FALLBACK;
  }
}
