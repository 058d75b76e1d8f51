// Storybook for the account app's components (npm run storybook / npm run build-storybook).
// Offline-safe: no telemetry, no what's-new fetch, no addons.
//
// No viteFinal is needed: @storybook/builder-vite reads vite.config.ts but keeps only its
// non-`build` settings (plugins, test, …) and sets its own `base: "./"`, so the app's
// `base: "/pingvas/app/"` and its two rollup inputs (index.html, src/studio/main.ts) never
// reach the Storybook build. (Deleting build.outDir/emptyOutDir in a viteFinal would make
// Vite empty storybook-static/ after the manager was written there.)
import type { StorybookConfig } from "@storybook/react-vite";

const config: StorybookConfig = {
  framework: "@storybook/react-vite",
  stories: ["../src/**/*.stories.tsx"],
  addons: [],
  core: { disableTelemetry: true, disableWhatsNewNotifications: true },
};

export default config;
