// Stories render with the account app's own stylesheet: dark, like the app.
import type { Preview } from "@storybook/react-vite";

import "../src/account/account.css";

const preview: Preview = {
  parameters: {
    layout: "padded",
    controls: { matchers: { date: /_(at|day)$/i } },
  },
};

export default preview;
