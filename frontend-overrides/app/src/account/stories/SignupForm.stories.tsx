import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, userEvent, within } from "storybook/test";

import { SignupForm } from "../forms";

const meta = {
  title: "Auth/SignupForm",
  component: SignupForm,
  args: { productName: "Pingvas Studio" },
  parameters: { layout: "centered" },
} satisfies Meta<typeof SignupForm>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Empty: Story = {};

/** The service refuses the email (409 email_taken); fetch is stubbed for this story only. */
export const EmailTaken: Story = {
  beforeEach: () => {
    const native = window.fetch;
    window.fetch = async () =>
      new Response(JSON.stringify({ detail: "An account with this email already exists", code: "email_taken" }), {
        status: 409,
        headers: { "Content-Type": "application/json" },
      });
    return () => {
      window.fetch = native;
    };
  },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await userEvent.type(canvas.getByLabelText("Workspace name"), "Northwind Studio");
    await userEvent.type(canvas.getByLabelText("Email"), "ada@northwind.example");
    await userEvent.type(canvas.getByLabelText(/Password/), "correct horse battery");
    await userEvent.click(canvas.getByRole("button", { name: "Create workspace" }));
    await expect(await canvas.findByRole("alert")).toHaveTextContent("An account with this email already exists");
  },
};

/** The address must be verified first (202) and signing in with it fails (it had an account): check your e-mail. */
export const CheckYourEmail: Story = {
  beforeEach: () => {
    const native = window.fetch;
    window.fetch = async (input) =>
      String(input).endsWith("/api/v1/signup")
        ? new Response(JSON.stringify({ detail: "We sent a link to ada@northwind.example. Open it to verify your address and start your trial.", email: "ada@northwind.example" }), {
            status: 202,
            headers: { "Content-Type": "application/json" },
          })
        : new Response(JSON.stringify({ detail: "Incorrect email or password" }), { status: 401, headers: { "Content-Type": "application/json" } });
    return () => {
      window.fetch = native;
    };
  },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await userEvent.type(canvas.getByLabelText("Workspace name"), "Northwind Studio");
    await userEvent.type(canvas.getByLabelText("Email"), "ada@northwind.example");
    await userEvent.type(canvas.getByLabelText(/Password/), "correct horse battery");
    await userEvent.click(canvas.getByRole("button", { name: "Create workspace" }));
    await expect(await canvas.findByRole("heading", { name: "Check your e-mail" })).toBeInTheDocument();
    await expect(canvas.getByRole("status")).toHaveTextContent("We sent a link to ada@northwind.example.");
  },
};
