// Every story renders in jsdom, and play functions pass: the stories stay in step with the
// components (a broken fixture or a renamed prop fails here, not only in the Storybook UI).

import { composeStories, type composeStory, setProjectAnnotations } from "@storybook/react-vite";
import { cleanup } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import preview from "../../.storybook/preview";

setProjectAnnotations(preview);

type StoryModule = Parameters<typeof composeStories>[0];
const modules = import.meta.glob<StoryModule>("./stories/*.stories.tsx", { eager: true });

afterEach(() => {
  cleanup();
  document.body.innerHTML = "";
});

describe.each(Object.entries(modules))("%s", (_file, module) => {
  const stories = Object.entries(composeStories(module)) as [string, ReturnType<typeof composeStory>][];

  it("has stories", () => {
    expect(stories.length).toBeGreaterThan(0);
  });

  it.each(stories)("%s renders and its play passes", async (_name, Story) => {
    const canvasElement = document.createElement("div");
    document.body.appendChild(canvasElement);
    await Story.run({ canvasElement });
    expect(canvasElement.textContent).not.toBe("");
  });
});
