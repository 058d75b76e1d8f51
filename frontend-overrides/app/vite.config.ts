/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Two entries, built into dist/ and served by invokeai_saas/wiring/branding.py at /pingvas/app/:
// the account app (index.html) and the script added to InvokeAI's page (studio). The manifest
// tells the server the hashed file names.
export default defineConfig({
  base: "/pingvas/app/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    rollupOptions: { input: { account: "index.html", studio: "src/studio/main.ts" } },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
